package apicast

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/gateway/backend"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// The rows below are Test::Nginx blocks of APIcast's own suite (3scale/
// APIcast t/*.t), each naming its file and block title: the block's
// configuration, its request and what it expects. Where a block mocks the
// backend, the row uses the real thing instead — the embedded backend
// over a real Redis holding the block's application — and checks the
// usage APIcast would have sent in the counters that backend wrote.

var casesNow = time.Date(2024, 6, 5, 12, 0, 0, 0, time.UTC)

// caseFixture is service 42 of the blocks: service token "token-value",
// metrics hits, weeee, bar; one application for every user_key the blocks
// send, another at its limit, and a backend_version 2 application.
func caseFixture(t *testing.T, rdb *redis.Client) {
	t.Helper()
	ctx := context.Background()
	cmds := [][]any{
		{"SET", "service/id:42/provider_key", "pk42"}, {"SET", "service/id:42/state", "active"},
		{"SET", "service/id:42/referrer_filters_required", "0"},
		{"SET", "service/provider_key:pk42/id", "42"},
		{"HSET", "service_token/token:token-value/service_id:42", "permissions", ""},
		{"HSET", "service_token/token:my-token/service_id:42", "permissions", ""},
		{"HSET", "service_token/token:service-token/service_id:42", "permissions", ""},
		{"SADD", "metrics/service_id:42/ids", "1", "2", "3"},
		{"SET", "metric/service_id:42/id:1/name", "hits"}, {"SET", "metric/service_id:42/name:hits/id", "1"},
		{"SET", "metric/service_id:42/id:2/name", "weeee"}, {"SET", "metric/service_id:42/name:weeee/id", "2"},
		{"SET", "metric/service_id:42/id:3/name", "bar"}, {"SET", "metric/service_id:42/name:bar/id", "3"},
		{"SET", "application/service_id:42/id:app/state", "active"},
		{"SET", "application/service_id:42/id:app/plan_id", "p1"},
		{"SET", "application/service_id:42/id:app/plan_name", "Basic"},
		{"SET", "application/service_id:42/id:full/state", "active"},
		{"SET", "application/service_id:42/id:full/plan_id", "p2"},
		{"SET", "usage_limit/service_id:42/plan_id:p2/metric_id:1/day", "1"},
		{"SET", backend.AppStatsKey("42", "full", "1", backend.Day, casesNow), "1"},
		{"SET", "application/service_id:42/id:app2/state", "active"},
		{"SET", "application/service_id:42/id:app2/plan_id", "p1"},
		{"SADD", "application/service_id:42/id:app2/keys", "key2"},
	}
	for _, uk := range []string{"value", "foo", "somekey", "uk", "val", "secret-key"} {
		cmds = append(cmds, []any{"SET", "application/service_id:42/key:" + uk + "/id", "app"})
	}
	cmds = append(cmds, []any{"SET", "application/service_id:42/key:limited/id", "full"})
	// path routing: service 42 ("service-one", metric one, user key
	// one-key) and service 21 (version 2, "service-two", metric two,
	// application two-id with key two-key)
	cmds = append(cmds, [][]any{
		{"HSET", "service_token/token:service-one/service_id:42", "permissions", ""},
		{"SADD", "metrics/service_id:42/ids", "4"},
		{"SET", "metric/service_id:42/id:4/name", "one"}, {"SET", "metric/service_id:42/name:one/id", "4"},
		{"SET", "application/service_id:42/key:one-key/id", "app"},
		{"SET", "service/id:21/provider_key", "pk42"}, {"SET", "service/id:21/state", "active"},
		{"SET", "service/id:21/backend_version", "2"},
		{"HSET", "service_token/token:service-two/service_id:21", "permissions", ""},
		{"SADD", "metrics/service_id:21/ids", "5"},
		{"SET", "metric/service_id:21/id:5/name", "two"}, {"SET", "metric/service_id:21/name:two/id", "5"},
		{"SET", "application/service_id:21/id:two-id/state", "active"},
		{"SET", "application/service_id:21/id:two-id/plan_id", "p1"},
		{"SADD", "application/service_id:21/id:two-id/keys", "two-key"},
	}...)
	for _, c := range cmds {
		if err := rdb.Do(ctx, c...).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// seen is what the upstream received.
type seen struct {
	host, uri, secret, body string
}

type gwCase struct {
	origin       string           // "t/<file>.t: <block title>"
	name         string           // disambiguates rows of one block
	services     []map[string]any // the whole configuration instead of service/proxy
	opts         Options
	dialUpstream bool           // connect to the upstream whatever host api_backend names
	host         string         // request Host (default localhost)
	service      map[string]any // top-level service fields (id 42, backend_version 1, service token by default)
	proxy        map[string]any // proxy fields (hosts ["localhost"] by default; api_backend UPSTREAM)
	noConfig     bool           // the gateway has no service at all
	method       string
	target       string
	body         string
	header       map[string]string
	status       int
	respBody     string            // exact body ("" not checked)
	headers      map[string]string // response headers ("-": absent)
	upstream     func(t *testing.T, s seen)
	stats        map[string]string // metric id → app "app" day counter after the request
}

func rules(rs ...map[string]any) []map[string]any { return rs }

func rl(method, pattern, metric string, delta int, extra ...any) map[string]any {
	r := map[string]any{"http_method": method, "pattern": pattern, "metric_system_name": metric, "delta": delta}
	for i := 0; i+1 < len(extra); i += 2 {
		r[extra[i].(string)] = extra[i+1]
	}
	return r
}

func runGatewayCases(t *testing.T, cases []gwCase) {
	srv := testenv.StartRedis(t, testenv.RedisOptions{})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	be := httptest.NewServer(backend.New(rdb, backend.Options{Now: func() time.Time { return casesNow }}))
	defer be.Close()
	var mu sync.Mutex
	var got []seen
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.Host, r.URL.RequestURI(), r.Header.Get("X-3scale-proxy-secret-token"), string(b)})
		mu.Unlock()
		io.WriteString(w, "yay, api backend: "+r.Host+"\n")
	}))
	defer up.Close()

	names := map[string]bool{}
	for _, c := range cases {
		id := c.origin
		if c.name != "" {
			id += " (" + c.name + ")"
		}
		if names[id] {
			t.Fatalf("duplicate case %q", id)
		}
		names[id] = true
		if !strings.Contains(c.origin, ": ") {
			t.Fatalf("case %q does not name its origin", id)
		}
		t.Run(id, func(t *testing.T) {
			ctx := context.Background()
			if err := rdb.FlushAll(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			caseFixture(t, rdb)
			cfg := &Config{}
			switch {
			case c.services != nil:
				b, _ := json.Marshal(map[string]any{"services": c.services})
				b = []byte(strings.ReplaceAll(string(b), "UPSTREAM", up.URL))
				var err error
				if cfg, err = ParseConfig(b); err != nil {
					t.Fatal(err)
				}
			case !c.noConfig:
				s := map[string]any{"id": 42, "backend_version": 1, "backend_authentication_type": "service_token", "backend_authentication_value": "token-value"}
				for k, v := range c.service {
					s[k] = v
				}
				p := map[string]any{"hosts": []string{"localhost"}, "api_backend": up.URL + "/api-backend/"}
				for k, v := range c.proxy {
					p[k] = v
				}
				s["proxy"] = p
				b, _ := json.Marshal(map[string]any{"services": []any{s}})
				b = []byte(strings.ReplaceAll(string(b), "UPSTREAM", up.URL))
				var err error
				if cfg, err = ParseConfig(b); err != nil {
					t.Fatal(err)
				}
			}
			opts := c.opts
			opts.FlushInterval = time.Hour
			if c.dialUpstream {
				// every upstream name resolves to the upstream server (the
				// blocks' "test" host)
				addr := up.Listener.Addr().String()
				opts.Transport = &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, network, addr)
				}}
			}
			g, err := New(cfg, be.URL, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			gw := httptest.NewServer(g)
			defer gw.Close()
			mu.Lock()
			got = nil
			mu.Unlock()

			method := c.method
			if method == "" {
				method = http.MethodGet
			}
			req, _ := http.NewRequest(method, gw.URL+c.target, strings.NewReader(c.body))
			req.Host = "localhost"
			if c.host != "" {
				req.Host = c.host
			}
			if c.body != "" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			for k, v := range c.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Errorf("status %d, want %d (body %q)", resp.StatusCode, c.status, body)
			}
			if c.respBody != "" && string(body) != c.respBody {
				t.Errorf("body %q, want %q", body, c.respBody)
			}
			for k, v := range c.headers {
				gv, ok := resp.Header[http.CanonicalHeaderKey(k)]
				if v == "-" && ok || v != "-" && (len(gv) != 1 || gv[0] != v) {
					t.Errorf("header %s = %q, want %q", k, gv, v)
				}
			}
			mu.Lock()
			reached := append([]seen(nil), got...)
			mu.Unlock()
			switch {
			case c.upstream != nil && len(reached) != 1:
				t.Errorf("the upstream got %d requests, want 1", len(reached))
			case c.upstream != nil:
				c.upstream(t, reached[0])
			case c.status == 200 && len(reached) != 1:
				t.Errorf("the upstream got %d requests, want 1", len(reached))
			case c.status != 200 && len(reached) != 0:
				t.Errorf("a denied request reached the upstream: %+v", reached)
			}
			for mid, want := range c.stats {
				v, _ := rdb.Get(ctx, backend.AppStatsKey("42", "app", mid, backend.Day, casesNow)).Result()
				if v != want {
					t.Errorf("day counter of metric %s = %q, want %q", mid, v, want)
				}
			}
		})
	}
	t.Logf("%d APIcast cases", len(cases))
}
