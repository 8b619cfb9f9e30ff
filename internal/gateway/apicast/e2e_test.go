package apicast

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/gateway/backend"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/redis/go-redis/v9"
)

var e2eNow = time.Date(2025, 4, 23, 17, 42, 30, 0, time.UTC)

// seed writes the backend-redis keys of three services (section 1.1).
func seed(t *testing.T, rdb *redis.Client) {
	t.Helper()
	ctx := context.Background()
	cmds := [][]any{
		// service 7: app_id/app_key in the query, caching none
		{"SET", "service/id:7/provider_key", "pk"}, {"SET", "service/id:7/backend_version", "2"},
		{"HSET", "service_token/token:tok7/service_id:7", "permissions", ""},
		{"SADD", "metrics/service_id:7/ids", "1", "2", "3", "4"},
		{"SET", "metric/service_id:7/id:1/name", "hits"}, {"SET", "metric/service_id:7/name:hits/id", "1"},
		{"SET", "metric/service_id:7/id:2/name", "word"}, {"SET", "metric/service_id:7/name:word/id", "2"},
		{"SET", "metric/service_id:7/id:2/parent_id", "1"},
		{"SET", "metric/service_id:7/id:3/name", "orders"}, {"SET", "metric/service_id:7/name:orders/id", "3"},
		{"SET", "metric/service_id:7/id:4/name", "search"}, {"SET", "metric/service_id:7/name:search/id", "4"},
		{"SET", "usage_limit/service_id:7/plan_id:70/metric_id:1/minute", "3"},
		{"SET", "application/service_id:7/id:app7/state", "active"},
		{"SET", "application/service_id:7/id:app7/plan_id", "70"},
		{"SET", "application/service_id:7/id:app7/plan_name", "Tiny"},
		{"SADD", "application/service_id:7/id:app7/keys", "key7"},
		{"SET", "application/service_id:7/id:free7/state", "active"},
		{"SET", "application/service_id:7/id:free7/plan_id", "71"},
		{"SET", "application/service_id:7/id:free7/plan_name", "Free"},
		{"SET", "application/service_id:7/id:gone7/state", "suspended"},
		{"SET", "application/service_id:7/id:gone7/plan_id", "71"},
		// service 8: user_key in headers, caching strict
		{"SET", "service/id:8/provider_key", "pk"}, {"SET", "service/id:8/backend_version", "1"},
		{"SADD", "metrics/service_id:8/ids", "11"},
		{"SET", "metric/service_id:8/id:11/name", "hits"}, {"SET", "metric/service_id:8/name:hits/id", "11"},
		{"SET", "application/service_id:8/key:uk8/id", "app8"},
		{"SET", "application/service_id:8/id:app8/state", "active"},
		{"SET", "application/service_id:8/id:app8/plan_id", "80"},
		{"SET", "application/service_id:8/id:app8/plan_name", "Plain"},
		// metric disabled for app8: limit 0 on "blocked"
		{"SADD", "metrics/service_id:8/ids", "12"},
		{"SET", "metric/service_id:8/id:12/name", "blocked"}, {"SET", "metric/service_id:8/name:blocked/id", "12"},
		{"SET", "usage_limit/service_id:8/plan_id:80/metric_id:12/eternity", "0"},
	}
	for _, c := range cmds {
		if err := rdb.Do(ctx, c...).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

const e2eConfig = `{"services":[
 {"id":7,"system_name":"words","backend_version":"2","backend_authentication_type":"service_token","backend_authentication_value":"tok7",
  "proxy":{"hosts":["api.test"],"api_backend":"UPSTREAM/base","credentials_location":"query","auth_app_id":"app_id","auth_app_key":"app_key",
   "secret_token":"s3cret","hostname_rewrite":"internal.test",
   "error_auth_missing":"creds please","error_status_auth_missing":403,"error_headers_auth_missing":"text/plain",
   "error_limits_exceeded":"slow down","error_status_limits_exceeded":429,
   "policy_chain":[{"name":"caching","configuration":{"caching_type":"none"}},{"name":"apicast","version":"builtin"}],
   "proxy_rules":[
    {"http_method":"GET","pattern":"/v1/word/{word}.json","metric_system_name":"word","delta":1},
    {"http_method":"GET","pattern":"/v1","metric_system_name":"hits","delta":1},
    {"http_method":"POST","pattern":"/orders$","metric_system_name":"orders","delta":2,"last":true},
    {"http_method":"POST","pattern":"/orders","metric_system_name":"hits","delta":1},
    {"http_method":"GET","pattern":"/search?q={q}&lang=en","metric_system_name":"search","delta":1}]}},
 {"id":8,"system_name":"keys","backend_version":1,"backend_authentication_type":"provider_key","backend_authentication_value":"pk",
  "proxy":{"hosts":["keys.test"],"api_backend":"UPSTREAM","credentials_location":"headers","auth_user_key":"X_Api_Key",
   "policy_chain":[{"name":"caching","configuration":{"caching_type":"strict"}}],
   "proxy_rules":[{"http_method":"ANY","pattern":"/","metric_system_name":"hits","delta":1},
                  {"http_method":"GET","pattern":"/blocked","metric_system_name":"blocked","delta":1}]}}
]}`

type echoed struct {
	host, path, secret, xff, body string
}

func TestEndToEnd(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartRedis(t, testenv.RedisOptions{})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	seed(t, rdb)

	be := httptest.NewServer(backend.New(rdb, backend.Options{Now: func() time.Time { return e2eNow }}))
	defer be.Close()
	got := make(chan echoed, 100)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- echoed{r.Host, r.URL.RequestURI(), r.Header.Get("X-3scale-proxy-secret-token"), r.Header.Get("X-Forwarded-For"), string(b)}
		w.Header().Set("X-Upstream", "yes")
		fmt.Fprintf(w, "echo %s", r.URL.Path)
	}))
	defer up.Close()

	cfg, err := ParseConfig([]byte(strings.ReplaceAll(e2eConfig, "UPSTREAM", up.URL)))
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg, be.URL, Options{FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	gw := httptest.NewServer(g)
	defer gw.Close()

	do := func(method, host, target string, hdr map[string]string, body string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, gw.URL+target, strings.NewReader(body))
		req.Host = host
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	recv := func() echoed {
		t.Helper()
		select {
		case e := <-got:
			return e
		case <-time.After(5 * time.Second):
			t.Fatal("the request did not reach the upstream")
		}
		return echoed{}
	}
	expect := func(name string, resp *http.Response, body string, status int, wantBody string) {
		t.Helper()
		if resp.StatusCode != status || (wantBody != "" && body != wantBody) {
			t.Errorf("%s: got %d %q, want %d %q", name, resp.StatusCode, body, status, wantBody)
		}
	}

	// routing and error paths (nothing reaches the upstream)
	r, b := do("GET", "unknown.test", "/v1", nil, "")
	expect("unknown host → 404", r, b, 404, "")
	r, b = do("GET", "api.test", "/nothing?app_id=app7&app_key=key7", nil, "")
	expect("no mapping rule → error_no_match default", r, b, 404, "No Mapping Rule matched")
	r, b = do("GET", "api.test", "/v1/word/x.json", nil, "")
	expect("missing credentials → configured error_auth_missing", r, b, 403, "creds please")
	r, b = do("GET", "api.test", "/v1/word/x.json?app_id=app7&app_key=nope", nil, "")
	expect("wrong app_key → error_auth_failed", r, b, 403, "Authentication failed")
	r, b = do("GET", "api.test", "/v1/word/x.json?app_id=nobody", nil, "")
	expect("unknown application → error_auth_failed", r, b, 403, "Authentication failed")
	r, b = do("GET", "api.test", "/v1/word/x.json?app_id=gone7", nil, "")
	expect("suspended application → error_auth_failed", r, b, 403, "Authentication failed")
	r, b = do("GET", "api.test", "/search?q=go&lang=fr&app_id=free7", nil, "")
	expect("querystring literal mismatch → no match", r, b, 404, "No Mapping Rule matched")
	r, b = do("GET", "keys.test", "/blocked", map[string]string{"x-api-key": "uk8"}, "")
	expect("disabled metric (max-value 0) → auth failed, not 429", r, b, 403, "Authentication failed")
	if len(got) != 0 {
		t.Fatalf("%d requests reached the upstream on error paths", len(got))
	}

	// authorized, with debug headers; both rules match (word + its parent hits)
	r, b = do("GET", "api.test", "/v1/word/go.json?app_id=app7&app_key=key7", map[string]string{"X-3scale-debug": "tok7"}, "")
	expect("authorized", r, b, 200, "echo /base/v1/word/go.json")
	for k, v := range map[string]string{
		"X-3scale-matched-rules": "/v1/word/{word}.json, /v1",
		"X-3scale-usage":         "usage%5Bword%5D=1&usage%5Bhits%5D=1",
		"X-3scale-credentials":   "app_id=app7&app_key=key7",
		"X-3scale-service-id":    "7",
		"X-3scale-service-name":  "words",
		"X-Upstream":             "yes",
	} {
		if r.Header.Get(k) != v {
			t.Errorf("header %s = %q, want %q", k, r.Header.Get(k), v)
		}
	}
	e := recv()
	if e.host != "internal.test" || e.secret != "s3cret" || e.xff != "127.0.0.1" || e.path != "/base/v1/word/go.json?app_id=app7&app_key=key7" {
		t.Errorf("upstream saw %+v", e)
	}
	// the wrong debug value gives no debug headers
	r, _ = do("GET", "api.test", "/search?q=go&lang=en&app_id=free7", map[string]string{"X-3scale-debug": "wrong"}, "")
	if r.StatusCode != 200 || r.Header.Get("X-3scale-usage") != "" {
		t.Errorf("search: %d, debug header leaked: %q", r.StatusCode, r.Header.Get("X-3scale-usage"))
	}
	recv()
	// POST /orders$ with last: only orders +2; the body reaches the upstream
	r, b = do("POST", "api.test", "/orders", nil, "app_id=free7&item=42")
	expect("post orders", r, b, 200, "echo /base/orders")
	if e := recv(); e.body != "app_id=free7&item=42" {
		t.Errorf("upstream body %q", e.body)
	}

	// limits: hits/minute 3 for app7; two used above (the /v1 rule + word's
	// parent hits), one more passes, then 429
	for i := 0; i < 1; i++ {
		r, b = do("GET", "api.test", "/v1?app_id=app7&app_key=key7", nil, "")
		expect(fmt.Sprintf("within limits #%d", i+3), r, b, 200, "")
		recv()
	}
	r, b = do("GET", "api.test", "/v1?app_id=app7&app_key=key7", nil, "")
	expect("limits exceeded", r, b, 429, "slow down")
	if r.Header.Get("Retry-After") != "30" {
		t.Errorf("Retry-After = %q, want 30 (seconds to the end of the minute)", r.Header.Get("Retry-After"))
	}

	// strict caching on service 8: first call authreps, the next four come
	// from the cache and are reported in one batch on Flush
	for i := 0; i < 5; i++ {
		r, b = do("GET", "keys.test", "/x", map[string]string{"X-Api-Key": "uk8"}, "")
		expect("cached", r, b, 200, "echo /x")
		recv()
	}
	g.Flush(ctx)

	// Redis stats afterwards: exact keys and values
	want := map[string]string{
		"stats/{service:7}/cinstance:app7/metric:1/minute:202504231742": "3",
		"stats/{service:7}/cinstance:app7/metric:1/eternity":            "3",
		"stats/{service:7}/cinstance:app7/metric:2/day:20250423":        "1",
		"stats/{service:7}/metric:1/hour:2025042317":                    "3",
		"stats/{service:7}/cinstance:free7/metric:3/week:20250421":      "2",
		"stats/{service:7}/cinstance:free7/metric:4/month:20250401":     "1",
		"stats/{service:8}/cinstance:app8/metric:11/year:20250101":      "5",
		"stats/{service:8}/metric:11/day:20250423":                      "5",
	}
	for k, v := range want {
		if gotv, err := rdb.Get(ctx, k).Result(); err != nil || gotv != v {
			t.Errorf("%s = %q (%v), want %s", k, gotv, err, v)
		}
	}
	if n, _ := rdb.Exists(ctx, "stats/{service:7}/cinstance:free7/metric:1/eternity").Result(); n != 0 {
		t.Errorf("POST /orders ($ rule with last) must not count hits")
	}
	ttl := rdb.TTL(ctx, "stats/{service:7}/cinstance:app7/metric:1/minute:202504231742").Val()
	if ttl <= 170*time.Second || ttl > 180*time.Second {
		t.Errorf("minute key TTL %v, want ~180s", ttl)
	}
	if ttl := rdb.TTL(ctx, "stats/{service:7}/cinstance:app7/metric:1/eternity").Val(); ttl != -1 {
		t.Errorf("eternity key TTL %v, want none", ttl)
	}
	if m := rdb.SMembers(ctx, "stats/{service:7}/cinstances").Val(); len(m) != 2 {
		t.Errorf("cinstances = %v", m)
	}
}

func TestBasicAuthAndPathRouting(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"services":[
	 {"id":1,"backend_version":"2","proxy":{"hosts":["shared.test"],"credentials_location":"authorization","proxy_rules":[{"http_method":"GET","pattern":"/a","metric_system_name":"hits","delta":1}]}},
	 {"id":2,"backend_version":"2","proxy":{"hosts":["shared.test"],"proxy_rules":[{"http_method":"GET","pattern":"/b","metric_system_name":"hits","delta":1}]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg, "http://127.0.0.1:1", Options{PathRouting: true})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	st := g.state.Load()
	if s := g.selectService(st, "shared.test", "GET", "/b", nil); s == nil || s.ID != "2" {
		t.Fatalf("path routing picked %v", s)
	}
	if s := g.selectService(st, "shared.test", "GET", "/zzz", nil); s == nil || s.ID != "1" {
		t.Fatalf("fallback to host routing picked %v", s)
	}
	req := httptest.NewRequest("GET", "http://shared.test/a", nil)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("id1:key1")))
	c, ok := extractCredentials(st.services[0], req, req.URL.Query())
	if !ok || c.encode() != "app_id=id1&app_key=key1" {
		t.Fatalf("basic credentials: %v %q", ok, c.encode())
	}
}
