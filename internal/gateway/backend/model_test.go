package backend

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// model writes backend-redis keys exactly as apisonator's model classes
// store them (lib/3scale/backend/{service,application,metric,usage_limit,
// service_token}.rb), so the cases below read the layout a real backend
// holds, not one this package invented.
type model struct {
	t   testing.TB
	ctx context.Context
	rdb *redis.Client
	now time.Time
}

func (m *model) do(args ...any) {
	m.t.Helper()
	if err := m.rdb.Do(m.ctx, args...).Err(); err != nil && err != redis.Nil {
		m.t.Fatalf("fixture %v: %v", args, err)
	}
}

// service is Service.save!: the first service of a provider key becomes
// its default; referrer_filters_required is always stored (1/0),
// backend_version only when set, state always ("active" unless given).
func (m *model) service(id, pk, backendVersion string, opts ...string) {
	m.t.Helper()
	state, rfr := "active", "0"
	for _, o := range opts {
		switch o {
		case "referrer_filters_required":
			rfr = "1"
		case "suspended":
			state = "suspended"
		}
	}
	def := "service/provider_key:" + encodeKey(pk) + "/id"
	if n, _ := m.rdb.Exists(m.ctx, def).Result(); n == 0 {
		m.do("SET", def, id)
	}
	p := "service/id:" + encodeKey(id) + "/"
	m.do("SET", p+"referrer_filters_required", rfr)
	if backendVersion != "" {
		m.do("SET", p+"backend_version", backendVersion)
	} else {
		m.do("DEL", p+"backend_version")
	}
	m.do("SET", p+"provider_key", pk)
	m.do("SET", p+"state", state)
	m.do("SADD", "service/provider_key:"+encodeKey(pk)+"/ids", id)
	m.do("SADD", "services_set", id)
	m.do("SADD", "provider_keys_set", pk)
}

// serviceToken is ServiceToken.save: a hash with one empty field.
func (m *model) serviceToken(token, sid string) {
	m.do("HSET", "service_token/token:"+encodeKey(token)+"/service_id:"+encodeKey(sid), "permissions", "")
}

// app is Application.save: state, plan_id, plan_name, redirect_url (each
// only when set) and the service's applications set.
func (m *model) app(sid, id, state, planID, planName, redirectURL string) {
	p := "application/service_id:" + encodeKey(sid) + "/id:" + encodeKey(id) + "/"
	m.do("SET", p+"state", state)
	if planID != "" {
		m.do("SET", p+"plan_id", planID)
	}
	if planName != "" {
		m.do("SET", p+"plan_name", planName)
	}
	if redirectURL != "" {
		m.do("SET", p+"redirect_url", redirectURL)
	}
	m.do("SADD", "service_id:"+encodeKey(sid)+"/applications", id)
}

// userKey is Application.save_id_by_key.
func (m *model) userKey(sid, key, appID string) {
	m.do("SET", "application/service_id:"+encodeKey(sid)+"/key:"+encodeKey(key)+"/id", appID)
}

// appKey is Application#create_key.
func (m *model) appKey(sid, appID, key string) {
	m.do("SADD", "application/service_id:"+encodeKey(sid)+"/id:"+encodeKey(appID)+"/keys", key)
}

// referrerFilter is Application#create_referrer_filter.
func (m *model) referrerFilter(sid, appID, f string) {
	m.do("SADD", "application/service_id:"+encodeKey(sid)+"/id:"+encodeKey(appID)+"/referrer_filters", f)
}

// metric is Metric#save (parent "" for a top-level metric; children are
// saved with their parent_id, as save_children does).
func (m *model) metric(sid, id, name, parent string) {
	m.do("SET", "metric/service_id:"+encodeKey(sid)+"/name:"+encodeKey(name)+"/id", id)
	m.do("SET", "metric/service_id:"+encodeKey(sid)+"/id:"+encodeKey(id)+"/name", name)
	if parent != "" {
		m.do("SET", "metric/service_id:"+encodeKey(sid)+"/id:"+encodeKey(id)+"/parent_id", parent)
	}
	m.do("SADD", "metrics/service_id:"+encodeKey(sid)+"/ids", id)
}

// limit is UsageLimit.save for one period.
func (m *model) limit(sid, planID, metricID, period string, max int64) {
	m.do("SET", "usage_limit/service_id:"+encodeKey(sid)+"/plan_id:"+encodeKey(planID)+"/metric_id:"+encodeKey(metricID)+"/"+period, max)
}

// usage stores an application counter as the aggregator leaves it.
func (m *model) usage(sid, appID, metricID string, p Period, v int64) {
	m.do("SET", AppStatsKey(sid, appID, metricID, p, m.now), v)
}

// stat reads an application counter ("" when absent).
func (m *model) stat(sid, appID, metricID string, p Period) string {
	v, err := m.rdb.Get(m.ctx, AppStatsKey(sid, appID, metricID, p, m.now)).Result()
	if err != nil {
		return ""
	}
	return v
}

// smEnv is one private Redis and a Backend over it with a fixed clock.
type smEnv struct {
	m  *model
	hs *httptest.Server
}

func newSMEnvClock(t *testing.T, clock *time.Time) *smEnv {
	t.Helper()
	ctx := context.Background()
	srv := testenv.StartRedis(t, testenv.RedisOptions{})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	b := New(rdb, Options{Now: func() time.Time { return *clock }, Version: "test"})
	hs := httptest.NewServer(b)
	t.Cleanup(hs.Close)
	return &smEnv{m: &model{t: t, ctx: ctx, rdb: rdb, now: *clock}, hs: hs}
}

// reply is what a request got.
type reply struct {
	status int
	header http.Header
	body   string
}

func (e *smEnv) get(t *testing.T, path string, q url.Values, opts string) reply {
	t.Helper()
	target := e.hs.URL + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	return e.send(t, http.MethodGet, target, "", opts)
}

// getRaw sends an already-encoded query (for bytes url.Values would not
// produce, e.g. invalid UTF-8).
func (e *smEnv) getRaw(t *testing.T, path, rawQuery, opts string) reply {
	t.Helper()
	return e.send(t, http.MethodGet, e.hs.URL+path+"?"+rawQuery, "", opts)
}

func (e *smEnv) post(t *testing.T, path string, form url.Values, opts string) reply {
	t.Helper()
	return e.send(t, http.MethodPost, e.hs.URL+path, form.Encode(), opts)
}

func (e *smEnv) send(t *testing.T, method, target, body, opts string) reply {
	t.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if opts != "" {
		req.Header.Set("3scale-options", opts)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// expectations on a reply; zero values are not checked.
type want struct {
	status     int
	errCode    string // error document code
	errMsg     string // error document message
	authorized string // "true"/"false": the status document's flag
	reason     string // rejection reason
	emptyBody  bool
	contains   []string
	absent     []string
	headers    map[string]string // header → value ("-" must be absent)
}

func (w want) check(t *testing.T, what string, r reply) {
	t.Helper()
	fail := func(format string, a ...any) {
		t.Helper()
		t.Errorf("%s: %s\n  got HTTP %d %q", what, fmt.Sprintf(format, a...), r.status, r.body)
	}
	if w.status != 0 && r.status != w.status {
		fail("status %d, want %d", r.status, w.status)
	}
	if w.errCode != "" {
		doc := `<?xml version="1.0" encoding="UTF-8"?><error code="` + w.errCode + `">`
		if !strings.HasPrefix(r.body, doc) {
			fail("want error code %q", w.errCode)
		}
		if w.errMsg != "" && r.body != doc+xmlEscape(w.errMsg, false)+"</error>" {
			fail("want error message %q", w.errMsg)
		}
	}
	if w.authorized != "" && !strings.Contains(r.body, "<authorized>"+w.authorized+"</authorized>") {
		fail("want authorized=%s", w.authorized)
	}
	if w.reason != "" && !strings.Contains(r.body, "<reason>"+xmlEscape(w.reason, false)+"</reason>") {
		fail("want reason %q", w.reason)
	}
	if w.emptyBody && r.body != "" {
		fail("want an empty body")
	}
	for _, s := range w.contains {
		if !strings.Contains(r.body, s) {
			fail("want body to contain %q", s)
		}
	}
	for _, s := range w.absent {
		if strings.Contains(r.body, s) {
			fail("want body without %q", s)
		}
	}
	for k, v := range w.headers {
		got, ok := r.header[http.CanonicalHeaderKey(k)]
		switch {
		case v == "-" && ok:
			fail("want no %s header, got %q", k, got)
		case v != "-" && (!ok || len(got) != 1 || got[0] != v):
			fail("want %s: %s, got %q", k, v, got)
		}
	}
}
