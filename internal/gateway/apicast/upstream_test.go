package apicast

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// upstreamServer is a real net/http server on loopback that counts the
// TCP connections it accepted.
func upstreamServer(t *testing.T, h http.HandlerFunc) (addr string, conns *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = &atomic.Int64{}
	s := &http.Server{Handler: h, ConnState: func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String(), conns
}

func newTestRT() *upstreamRT {
	return newUpstreamRT(&http.Transport{DisableCompression: true}, 2*time.Second)
}

func roundTrip(t *testing.T, rt http.RoundTripper, method, url string, body io.Reader) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: body: %v", method, url, err)
	}
	return resp, string(b)
}

// Bodiless requests share one keep-alive connection, whatever the
// response framing: Content-Length, chunked, no body (HEAD, 204).
func TestUpstreamKeepAlive(t *testing.T) {
	addr, conns := upstreamServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			w.Write([]byte("part one, "))
			w.(http.Flusher).Flush()
			w.Write([]byte("part two"))
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Content-Length", "5")
			w.Write([]byte("hello"))
		}
	})
	rt := newTestRT()
	defer rt.CloseIdleConnections()
	for i := 0; i < 20; i++ {
		if _, b := roundTrip(t, rt, "GET", "http://"+addr+"/", nil); b != "hello" {
			t.Fatalf("GET / = %q", b)
		}
		resp, b := roundTrip(t, rt, "GET", "http://"+addr+"/chunked", nil)
		if b != "part one, part two" || len(resp.TransferEncoding) == 0 {
			t.Fatalf("chunked: %q (transfer encoding %v)", b, resp.TransferEncoding)
		}
		if resp, b := roundTrip(t, rt, "HEAD", "http://"+addr+"/", nil); b != "" || resp.ContentLength != 5 {
			t.Fatalf("HEAD: %q, length %d", b, resp.ContentLength)
		}
		if resp, _ := roundTrip(t, rt, "GET", "http://"+addr+"/empty", nil); resp.StatusCode != 204 {
			t.Fatalf("204: %d", resp.StatusCode)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("80 sequential requests opened %d upstream connections, want 1", n)
	}
}

// A response with Connection: close, and a body the caller closes before
// its end, leave no connection in the pool: the next request dials anew
// and gets its own response, not the rest of the previous one.
func TestUpstreamConnectionNotReused(t *testing.T) {
	addr, conns := upstreamServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		if r.URL.Path == "/big" {
			w.Write([]byte(strings.Repeat("x", 1<<20)))
			return
		}
		fmt.Fprint(w, r.URL.Path)
	})
	rt := newTestRT()
	defer rt.CloseIdleConnections()
	roundTrip(t, rt, "GET", "http://"+addr+"/close", nil)
	if _, b := roundTrip(t, rt, "GET", "http://"+addr+"/next", nil); b != "/next" {
		t.Fatalf("after Connection: close: %q", b)
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/big", nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	io.ReadFull(resp.Body, buf)
	resp.Body.Close()
	if _, b := roundTrip(t, rt, "GET", "http://"+addr+"/after-partial", nil); b != "/after-partial" {
		t.Fatalf("after a partly read body: %q", b)
	}
	if n := conns.Load(); n != 3 {
		t.Fatalf("%d upstream connections, want 3 (one per unreusable exchange)", n)
	}
}

// An upstream that closes an idle keep-alive connection without saying so
// (a timeout on its side): the next request on it fails before any
// response byte and is sent again on a new connection.
func TestUpstreamClosedIdleConnectionIsRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				// answer, then close without a word, as an idle timeout would
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(req.URL.Path), req.URL.Path)
			}()
		}
	}()
	rt := newTestRT()
	defer rt.CloseIdleConnections()
	for _, p := range []string{"/one", "/two", "/three"} {
		if _, b := roundTrip(t, rt, "GET", "http://"+ln.Addr().String()+p, nil); b != p {
			t.Fatalf("GET %s = %q", p, b)
		}
		time.Sleep(20 * time.Millisecond) // let the close arrive
	}
	if n := accepted.Load(); n != 3 {
		t.Fatalf("%d connections, want 3", n)
	}
}

// An upstream that never answers fails the request at the header timeout;
// a cancelled request stops at once, also in the middle of a body.
func TestUpstreamTimeoutAndCancel(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	addr, _ := upstreamServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			w.Write([]byte("first"))
			w.(http.Flusher).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	rt := newUpstreamRT(&http.Transport{}, 200*time.Millisecond)
	defer rt.CloseIdleConnections()
	req, _ := http.NewRequest("GET", "http://"+addr+"/silent", nil)
	start := time.Now()
	if _, err := rt.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("silent upstream: err = %v, want a header timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("header timeout took %v", d)
	}

	ctx, cancel := context.WithCancel(context.Background())
	req, _ = http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/stream", nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first" {
		t.Fatalf("first bytes: %q %v", buf, err)
	}
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = io.ReadAll(resp.Body)
	if err == nil {
		t.Fatal("a cancelled request's body read to its end")
	}
	resp.Body.Close()
	rt.mu.Lock()
	pooled := len(rt.idle[addr])
	rt.mu.Unlock()
	if pooled != 0 {
		t.Fatal("the connection of a cancelled request went back to the pool")
	}
}

// Requests with a body, other methods and informational responses: the
// body reaches the upstream through the standard transport, and a 103
// before the answer is not taken for the answer.
func TestUpstreamBodyAndInformational(t *testing.T) {
	addr, _ := upstreamServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hints" {
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.Write([]byte("final"))
			return
		}
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.Method, b)
	})
	rt := newTestRT()
	defer rt.CloseIdleConnections()
	if _, b := roundTrip(t, rt, "POST", "http://"+addr+"/", strings.NewReader("payload")); b != "POST payload" {
		t.Fatalf("POST: %q", b)
	}
	if _, b := roundTrip(t, rt, "DELETE", "http://"+addr+"/", nil); b != "DELETE " {
		t.Fatalf("DELETE: %q", b)
	}
	if resp, b := roundTrip(t, rt, "GET", "http://"+addr+"/hints", nil); resp.StatusCode != 200 || b != "final" {
		t.Fatalf("after 103: %d %q", resp.StatusCode, b)
	}
	// A refused connection is an error, not a hang or a retry loop.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	req, _ := http.NewRequest("GET", "http://"+dead+"/", nil)
	var oe *net.OpError
	if _, err := rt.RoundTrip(req); !errors.As(err, &oe) || oe.Op != "dial" {
		t.Fatalf("refused connection: %v, want a dial error", err)
	}
}

// Idle connections past the idle timeout are closed, not reused.
func TestUpstreamIdleTimeout(t *testing.T) {
	addr, conns := upstreamServer(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	rt := newTestRT()
	rt.idleTimeout = 50 * time.Millisecond
	defer rt.CloseIdleConnections()
	roundTrip(t, rt, "GET", "http://"+addr+"/", nil)
	time.Sleep(80 * time.Millisecond)
	roundTrip(t, rt, "GET", "http://"+addr+"/", nil)
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d upstream connections, want 2 (the first one expired while idle)", n)
	}
}
