package apicast

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// okTransport answers every upstream request with 200 "ok\n" in memory.
type okTransport struct{}

func (okTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: 200, ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{"Content-Length": {"3"}},
		ContentLength: 3, Body: io.NopCloser(strings.NewReader("ok\n")), Request: r}, nil
}

// discardWriter is a minimal ResponseWriter.
type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(c int)           { d.code = c }

// BenchmarkCachedRequest measures the gateway's own work for a request
// authorized from the cache (routing, mapping rules, credentials, cache,
// batching) with the upstream round trip done in memory.
func BenchmarkCachedRequest(b *testing.B) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer be.Close()
	cfg, err := ParseConfig([]byte(`{"services":[{"id":1,"backend_version":"1","backend_authentication_type":"service_token","backend_authentication_value":"tok",
	 "proxy":{"hosts":["api.test"],"api_backend":"http://up.test","proxy_rules":[{"http_method":"GET","pattern":"/","metric_system_name":"hits","delta":1},
	 {"http_method":"GET","pattern":"/v1/{word}.json","metric_system_name":"hits","delta":1}]}}]}`))
	if err != nil {
		b.Fatal(err)
	}
	g, err := New(cfg, be.URL, Options{FlushInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	st := g.state.Load()
	for _, s := range st.services {
		s.rp.Transport = okTransport{}
	}
	req := httptest.NewRequest("GET", "http://api.test/v1/go.json?user_key=uk", nil)
	w := &discardWriter{h: http.Header{}}
	g.ServeHTTP(w, req)
	if w.code != 200 {
		b.Fatalf("status %d", w.code)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.code = 0
		clear(w.h)
		g.ServeHTTP(w, req)
	}
	if w.code != 200 {
		b.Fatalf("status %d", w.code)
	}
}
