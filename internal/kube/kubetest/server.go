// Package kubetest is a stand-in for the kubelet side of `kubectl exec`,
// for tests only: no kubelet runs in the test environment, so a Server
// implements the pod exec subresource (POST/GET
// /api/v1/namespaces/{ns}/pods/{pod}/exec) with the real streaming
// protocols — the channel-multiplexed WebSocket protocol
// (v5.channel.k8s.io, v4.channel.k8s.io) and SPDY/3.1 (v5/v4) — and hands
// each request to a Handler. Every other request is proxied to the real
// API server of the test environment, so one rest.Config serves both
// object reads and exec, as on a real cluster.
//
// With an upstream, an exec request is authorised as the API server does
// it before it reaches the kubelet: the caller (its bearer token, or the
// impersonation headers of a kubeconfig's "as") must be allowed get and
// create on pods/exec for a WebSocket exec, create for SPDY, and the pod
// must exist; otherwise the answer is the API server's 403 or 404 Status.
// Proxied requests keep the caller's identity too: a bearer token is sent
// without the upstream configuration's credentials.
// Calls lists what a client really did (every proxied request and exec,
// as RBAC verbs and resources), to compare with a Role.
//
// The exit status travels back the way the kubelet sends it: a JSON
// metav1.Status on the error channel, with a NonZeroExitCode reason and an
// ExitCode cause. Typical use:
//
//	srv := kubetest.NewServer(t, testenv.KubeConfig(t),
//	    kubetest.LocalCommand(map[string]string{"/opt/system/public/system": dir}))
//	err := kube.Exec(ctx, srv.Config(), ns, pod, "system-master", []string{"tar", "-C", "/opt/system/public/system", "-cf", "-", "."}, nil, w, nil)
//
// It must never be imported by non-test code.
package kubetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// Request is one exec call as the kubelet would receive it.
type Request struct {
	Namespace, Pod, Container string
	Command                   []string
	Stdin, Stdout, Stderr     bool
	TTY                       bool
	Protocol                  string // negotiated: "v5.channel.k8s.io", "v4.channel.k8s.io"
	Transport                 string // "websocket" or "spdy"
}

// Handler runs one exec request. stdin is nil when the client sent none;
// stdout and stderr are never nil (writes are discarded when the client
// did not ask for the stream). It returns the command's exit code.
type Handler func(ctx context.Context, req Request, stdin io.Reader, stdout, stderr io.Writer) int

// Options tune a Server.
type Options struct {
	Plain       bool // plain HTTP instead of TLS
	NoWebSocket bool // refuse WebSocket upgrades (like an old API server), forcing the client's SPDY fallback
	// HideGroups are API groups the proxied API server seems not to
	// serve (left out of discovery, 404 below /apis/GROUP), like a
	// cluster without their CRDs: "apps.3scale.net" is a cluster
	// without the 3scale operator, on the shared test server that has it.
	HideGroups []string
}

// Server is a fake exec endpoint in front of the test API server.
type Server struct {
	*httptest.Server
	handler    Handler
	opts       Options
	upstream   *url.URL
	upstreamRT http.RoundTripper
	proxy      *httputil.ReverseProxy

	mu       sync.Mutex
	requests []Request
	calls    []Call
}

// NewServer starts a TLS server (Options{Plain: true} for HTTP) that runs
// h for exec requests and proxies the rest to upstream (nil: 404). It is
// closed when the test ends.
func NewServer(t testing.TB, upstream *rest.Config, h Handler, opts ...Options) *Server {
	t.Helper()
	s := &Server{handler: h}
	if len(opts) > 0 {
		s.opts = opts[0]
	}
	if upstream != nil {
		admin, err := rest.TransportFor(upstream)
		if err != nil {
			t.Fatalf("kubetest: upstream transport: %v", err)
		}
		// A caller with its own token is sent without the upstream's
		// client certificate, which the API server would authenticate
		// first: the request is the token's user's, as on a real cluster.
		anon, err := rest.TransportFor(rest.AnonymousClientConfig(upstream))
		if err != nil {
			t.Fatalf("kubetest: upstream transport: %v", err)
		}
		rt := callerTransport{admin: admin, anon: anon}
		u, err := url.Parse(upstream.Host)
		if err != nil {
			t.Fatalf("kubetest: upstream host: %v", err)
		}
		if u.Scheme == "" {
			u.Scheme = "https"
		}
		s.upstream, s.upstreamRT = u, rt
		s.proxy = &httputil.ReverseProxy{
			Rewrite: func(r *httputil.ProxyRequest) {
				r.SetURL(u)
				r.Out.Host = u.Host
				if len(s.opts.HideGroups) > 0 && discovery(r.In.URL.Path) {
					prepare(r.Out)
				}
			},
			Transport: rt,
		}
		if len(s.opts.HideGroups) > 0 {
			s.proxy.ModifyResponse = func(resp *http.Response) error {
				if discovery(resp.Request.URL.Path) {
					return s.filterGroups(resp)
				}
				return nil
			}
		}
	}
	if s.opts.Plain {
		s.Server = httptest.NewServer(s)
	} else {
		s.Server = httptest.NewTLSServer(s)
	}
	t.Cleanup(s.Close)
	return s
}

// callerTransport sends a request that carries its own Authorization with
// no credentials of the upstream configuration, every other request with
// them (impersonation headers pass through and are honoured).
type callerTransport struct{ admin, anon http.RoundTripper }

func (c callerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") != "" {
		return c.anon.RoundTrip(r)
	}
	return c.admin.RoundTrip(r)
}

// Config returns a rest.Config that reaches this server (exec) and,
// through it, the upstream API server (everything else).
func (s *Server) Config() *rest.Config {
	cfg := &rest.Config{Host: s.URL, QPS: 200, Burst: 400}
	if !s.opts.Plain {
		cfg.TLSClientConfig = rest.TLSClientConfig{Insecure: true}
	}
	return cfg
}

// Requests returns the exec requests received so far, refused ones
// included (their Protocol is empty).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if req, ok := parseExecPath(r.URL.Path); ok {
		q := r.URL.Query()
		req.Container = q.Get("container")
		req.Command = q["command"]
		req.Stdin = boolParam(q.Get("stdin"))
		req.Stdout = boolParam(q.Get("stdout"))
		req.Stderr = boolParam(q.Get("stderr"))
		req.TTY = boolParam(q.Get("tty"))
		if len(req.Command) == 0 {
			http.Error(w, "you must specify at least 1 command", http.StatusBadRequest)
			return
		}
		switch {
		case isWebSocket(r) && s.opts.NoWebSocket:
			http.Error(w, "websocket exec is not supported by this server", http.StatusBadRequest)
			return
		case isWebSocket(r):
			req.Transport = "websocket"
		case isSPDY(r):
			req.Transport = "spdy"
		default:
			http.Error(w, "Upgrade request required", http.StatusBadRequest)
			return
		}
		// Recorded when received (a client may give up while it is
		// authorised); the protocol is filled in once negotiated.
		i := s.record(req)
		if !s.authorizeExec(w, r, req) {
			return
		}
		if req.Transport == "websocket" {
			s.serveWebSocket(w, r, req, i)
		} else {
			s.serveSPDY(w, r, req, i)
		}
		return
	}
	if s.proxy == nil {
		http.NotFound(w, r)
		return
	}
	if s.hidden(r.URL.Path) {
		notFound(w)
		return
	}
	if c, ok := callOf(r); ok {
		s.recordCall(c)
	}
	s.proxy.ServeHTTP(w, r)
}

// record adds a received exec request and returns its index.
func (s *Server) record(req Request) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
	return len(s.requests) - 1
}

// negotiated sets the protocol of request i.
func (s *Server) negotiated(i int, proto string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[i].Protocol = proto
}

// parseExecPath matches /api/v1/namespaces/{ns}/pods/{pod}/exec.
func parseExecPath(p string) (Request, bool) {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	if len(parts) != 7 || parts[0] != "api" || parts[1] != "v1" || parts[2] != "namespaces" || parts[4] != "pods" || parts[6] != "exec" {
		return Request{}, false
	}
	return Request{Namespace: parts[3], Pod: parts[5]}, true
}

func boolParam(v string) bool { return v == "true" || v == "1" }

func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") &&
		strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade")
}

func isSPDY(r *http.Request) bool {
	return strings.HasPrefix(strings.ToLower(r.Header.Get("Upgrade")), "spdy/")
}

// LocalCommand returns a Handler that runs the command on this machine,
// as a stand-in for the container: every argument equal to or under one
// of the keys of rewrite (a path inside the pod, e.g.
// /opt/system/public/system) is rewritten to the corresponding local
// path. The exit status is the process's; a command that cannot start
// gives 127 (or 126), as a shell would.
func LocalCommand(rewrite map[string]string) Handler {
	return func(ctx context.Context, req Request, stdin io.Reader, stdout, stderr io.Writer) int {
		args := make([]string, len(req.Command))
		for i, a := range req.Command {
			args[i] = a
			for podPath, local := range rewrite {
				if a == podPath || strings.HasPrefix(a, strings.TrimSuffix(podPath, "/")+"/") {
					args[i] = local + strings.TrimPrefix(a, podPath)
				}
			}
		}
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Stdin = stdin
		cmd.Stdout = stdout
		cmd.Stderr = stderr
		cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
		// The client may keep stdin open after the command is done with it.
		cmd.WaitDelay = time.Second
		err := cmd.Run()
		if err == nil || errors.Is(err, exec.ErrWaitDelay) {
			return 0
		}
		if ee, ok := err.(*exec.ExitError); ok {
			if code := ee.ExitCode(); code >= 0 {
				return code
			}
			return 137 // killed by a signal
		}
		fmt.Fprintf(stderr, "%s: %v\n", args[0], err)
		if os.IsPermission(err) {
			return 126
		}
		return 127
	}
}
