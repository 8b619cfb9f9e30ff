// Package verify proves a restore. At backup time it records probes: for a
// stratified sample of applications, the credentials, a request matching
// one of the service's mapping rules and the outcome an authorize call
// gives on the live backend-redis. After a restore it replays them as
// real HTTP against the embedded backend running on the restored data and
// requires the same outcomes; it also checks System DB ↔ backend-redis
// consistency. It only reads the stores it checks.
package verify

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/component"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/gateway/backend"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/redact"
	"github.com/redis/go-redis/v9"
)

// Component is the snapshot component holding the probes.
const Component = component.Verify

// Probe is one recorded authorization.
type Probe struct {
	ServiceID    string   `json:"service_id"`
	AppID        string   `json:"app_id"` // cinstances.application_id (not secret)
	ServiceToken string   `json:"service_token,omitempty"`
	ProviderKey  string   `json:"provider_key,omitempty"`
	UserKey      string   `json:"user_key,omitempty"`
	AppKey       string   `json:"app_key,omitempty"`
	Method       string   `json:"method,omitempty"` // a mapping rule's method and a path it matches
	Path         string   `json:"path,omitempty"`
	Metric       string   `json:"metric"`
	Hosts        []string `json:"hosts,omitempty"` // hosts the service answers on
	Outcome      Outcome  `json:"outcome"`
}

// Outcome is what must survive a restore: authorized or the rejection
// code, the plan, and the usage reports' (metric, period, max). Current
// values are not compared: counters of short periods move on with time.
type Outcome struct {
	Authorized bool     `json:"authorized"`
	Code       string   `json:"code,omitempty"` // rejection or error code
	Plan       string   `json:"plan,omitempty"`
	Reports    []string `json:"reports,omitempty"` // "metric/period/max", sorted
}

func (o Outcome) String() string {
	if o.Authorized {
		return fmt.Sprintf("authorized plan=%q limits=%d", o.Plan, len(o.Reports))
	}
	return fmt.Sprintf("denied %s plan=%q", o.Code, o.Plan)
}

func outcomeOf(res *backend.Result, err error) (Outcome, error) {
	if err != nil {
		if be, ok := err.(*backend.Error); ok {
			return Outcome{Code: be.Code}, nil
		}
		return Outcome{}, err
	}
	o := Outcome{Authorized: res.Authorized, Code: res.Code, Plan: res.Plan}
	for _, r := range res.Reports {
		o.Reports = append(o.Reports, fmt.Sprintf("%s/%s/%d", r.Metric, r.Period, r.Max))
	}
	sort.Strings(o.Reports)
	return o, nil
}

// Record samples applications from the system database and records what
// authorize answers for each on backend-redis (db 0). Every application is
// taken when there are at most max; otherwise up to max spread evenly over
// services. Queries are short and indexed, so that they never hold up the
// consistent dump that runs beside them. It never writes.
func Record(ctx context.Context, db *sql.DB, rdb *redis.Client, max int, task *progress.Task) ([]Probe, error) {
	if max <= 0 {
		max = 200
	}
	rows, err := db.QueryContext(ctx, `SELECT c.id, c.service_id, c.application_id, COALESCE(c.user_key,''), s.backend_version, s.account_id
		FROM cinstances c JOIN services s ON s.id = c.service_id
		WHERE c.type = 'Cinstance' AND c.application_id IS NOT NULL AND (s.state IS NULL OR s.state <> 'deleted')
		ORDER BY c.service_id, c.id`)
	if err != nil {
		return nil, fmt.Errorf("sample applications from the system database: %w", err)
	}
	type cand struct {
		p        Probe
		id       int64
		provider string
	}
	perService := map[string][]cand{}
	var order []string
	for rows.Next() {
		var c cand
		var version string
		if err := rows.Scan(&c.id, &c.p.ServiceID, &c.p.AppID, &c.p.UserKey, &version, &c.provider); err != nil {
			rows.Close()
			return nil, err
		}
		if version != "1" {
			c.p.UserKey = ""
		}
		if _, ok := perService[c.p.ServiceID]; !ok {
			order = append(order, c.p.ServiceID)
		}
		if len(perService[c.p.ServiceID]) < max {
			perService[c.p.ServiceID] = append(perService[c.p.ServiceID], c)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var picked []cand
	for len(picked) < max {
		progressed := false
		for _, sid := range order {
			if len(perService[sid]) == 0 || len(picked) >= max {
				continue
			}
			picked = append(picked, perService[sid][0])
			perService[sid] = perService[sid][1:]
			progressed = true
		}
		if !progressed {
			break
		}
	}
	if len(picked) == 0 {
		return nil, nil
	}
	var appIDs, serviceIDs, providerIDs []string
	for _, c := range picked {
		appIDs = append(appIDs, strconv.FormatInt(c.id, 10))
		serviceIDs = append(serviceIDs, c.p.ServiceID)
		providerIDs = append(providerIDs, c.provider)
	}
	appKeys, err := firstValues(ctx, db, "SELECT application_id, value FROM application_keys WHERE application_id IN ("+strings.Join(appIDs, ",")+") ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("read application_keys: %w", err)
	}
	tokens, err := firstValues(ctx, db, "SELECT service_id, value FROM service_tokens WHERE service_id IN ("+strings.Join(serviceIDs, ",")+") ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("read service_tokens: %w", err)
	}
	// A provider's key is the user_key of its contract on a master service.
	providerKeys, err := firstValues(ctx, db, `SELECT pc.user_account_id, pc.user_key FROM cinstances pc
		JOIN plans pl ON pl.id = pc.plan_id AND pl.issuer_type = 'Service'
		JOIN services ms ON ms.id = pl.issuer_id JOIN accounts ma ON ma.id = ms.account_id AND ma.master = TRUE
		WHERE pc.user_key IS NOT NULL AND pc.user_account_id IN (`+strings.Join(providerIDs, ",")+") ORDER BY pc.id")
	if err != nil {
		return nil, fmt.Errorf("read provider keys: %w", err)
	}
	routes, err := serviceRoutes(ctx, db)
	if err != nil {
		return nil, err
	}
	be := backend.New(rdb, backend.Options{})
	out := make([]Probe, len(picked))
	for i, c := range picked {
		p := c.p
		if p.UserKey == "" {
			p.AppKey = appKeys[strconv.FormatInt(c.id, 10)]
		}
		p.ServiceToken, p.ProviderKey = tokens[p.ServiceID], providerKeys[c.provider]
		redact.Add(p.UserKey, p.AppKey, p.ServiceToken, p.ProviderKey)
		if r, ok := routes[p.ServiceID]; ok {
			p.Method, p.Path, p.Metric, p.Hosts = r.method, r.path, r.metric, r.hosts
		}
		if p.Metric == "" {
			p.Metric = "hits"
		}
		res, err := be.Authorize(ctx, p.params())
		o, err := outcomeOf(res, err)
		if err != nil {
			return nil, fmt.Errorf("authorize application %s of service %s on backend-redis: %w", p.AppID, p.ServiceID, err)
		}
		p.Outcome = o
		out[i] = p
		task.AddItems(1)
	}
	return out, nil
}

// firstValues maps the first column to the first value seen of the second.
func firstValues(ctx context.Context, db *sql.DB, query string) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		if _, ok := out[k]; !ok {
			out[k] = v
		}
	}
	return out, rows.Err()
}

func (p *Probe) params() *backend.Params {
	bp := &backend.Params{ServiceID: p.ServiceID, ServiceToken: p.ServiceToken, UserKey: p.UserKey,
		Usage: map[string]string{p.Metric: "1"}}
	if bp.ServiceToken == "" {
		bp.ProviderKey = p.ProviderKey
	}
	if p.UserKey == "" {
		bp.AppID = p.AppID
		if p.AppKey != "" {
			bp.AppKey, bp.HasAppKey = p.AppKey, true
		}
	}
	return bp
}

type route struct {
	method, path, metric string
	hosts                []string
}

// serviceRoutes picks, per service, its first mapping rule and the hosts
// its proxy answers on.
func serviceRoutes(ctx context.Context, db *sql.DB) (map[string]route, error) {
	rows, err := db.QueryContext(ctx, `SELECT p.service_id, COALESCE(r.http_method,'GET'), COALESCE(r.pattern,'/'), COALESCE(m.system_name,'hits'),
		COALESCE(p.endpoint,''), COALESCE(p.sandbox_endpoint,'')
		FROM proxies p LEFT JOIN proxy_rules r ON r.id = (SELECT MIN(id) FROM proxy_rules WHERE proxy_id = p.id)
		LEFT JOIN metrics m ON m.id = r.metric_id`)
	if err != nil {
		return nil, fmt.Errorf("read mapping rules: %w", err)
	}
	defer rows.Close()
	out := map[string]route{}
	for rows.Next() {
		var sid, method, pattern, metric, prod, staging string
		if err := rows.Scan(&sid, &method, &pattern, &metric, &prod, &staging); err != nil {
			return nil, err
		}
		r := route{method: method, path: concretePath(pattern), metric: metric}
		for _, e := range []string{prod, staging} {
			if u, err := url.Parse(e); err == nil && u.Hostname() != "" {
				r.hosts = append(r.hosts, u.Hostname())
			}
		}
		out[sid] = r
	}
	return out, rows.Err()
}

// concretePath turns a mapping-rule pattern into a path it matches.
func concretePath(pattern string) string {
	p, _, _ := strings.Cut(pattern, "?")
	p = strings.TrimSuffix(p, "$")
	var b strings.Builder
	for {
		i := strings.IndexByte(p, '{')
		if i < 0 {
			b.WriteString(p)
			break
		}
		j := strings.IndexByte(p[i:], '}')
		if j < 0 {
			b.WriteString(p)
			break
		}
		b.WriteString(p[:i] + "1")
		p = p[i+j+1:]
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}

// Save writes the probes into the snapshot's verify component.
func Save(ctx context.Context, sink artifact.Sink, probes []Probe) error {
	f, err := sink.Create(ctx, "probes.json", "json")
	if err != nil {
		return err
	}
	if err := json.NewEncoder(f).Encode(probes); err != nil {
		f.Close()
		return err
	}
	f.SetCount(int64(len(probes)))
	return f.Close()
}

// Load reads the probes of a snapshot.
func Load(ctx context.Context, src artifact.Source) ([]Probe, error) {
	if reason := NotRecorded(src); reason != "" {
		return nil, NotRecordedError(reason)
	}
	rc, err := src.Open(ctx, "probes.json")
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var probes []Probe
	if err := json.NewDecoder(rc).Decode(&probes); err != nil {
		if !artifact.Damaged(err) && !errors.Is(err, io.ErrUnexpectedEOF) {
			var se *json.SyntaxError
			var te *json.UnmarshalTypeError
			if !errors.As(err, &se) && !errors.As(err, &te) {
				return nil, fmt.Errorf("probes.json: %w", err)
			}
		}
		// Damaged content: exit 3, as in every engine.
		return nil, errs.Corrupt(fmt.Errorf("%s/probes.json: %w", Component, artifact.AsCorrupt(err)),
			"run `3scale-ops backups verify --read-data`; verify with --consistency-only, or use another snapshot")
	}
	for _, p := range probes {
		redact.Add(p.UserKey, p.AppKey, p.ServiceToken, p.ProviderKey)
	}
	return probes, nil
}

// withoutURL drops the request URL (it carries credentials) from an HTTP
// client error.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Mismatch is a probe whose outcome changed. It names the service and
// application, never credentials.
type Mismatch struct {
	ServiceID string `json:"service_id"`
	AppID     string `json:"app_id"`
	Want      string `json:"want"`
	Got       string `json:"got"`
}

// Replay starts the embedded backend on the restored backend-redis (db 0)
// on a loopback port and replays every probe as a real HTTP authorize
// call, comparing outcomes.
func Replay(ctx context.Context, rdb *redis.Client, probes []Probe, task *progress.Task) ([]Mismatch, error) {
	backendURL, stop, err := serve(backend.New(rdb, backend.Options{}))
	if err != nil {
		return nil, err
	}
	defer stop()
	base := backendURL + "/transactions/authorize.xml?"
	client := &http.Client{Timeout: 30 * time.Second}
	var out []Mismatch
	for _, p := range probes {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+p.params().Encode(), nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("3scale-options", "rejection_reason_header=1")
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("probe of application %s of service %s: embedded backend: %w", p.AppID, p.ServiceID, withoutURL(err))
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		got, err := parseXMLOutcome(resp, body)
		if err != nil {
			return nil, fmt.Errorf("probe of application %s of service %s: %w", p.AppID, p.ServiceID, err)
		}
		if got.String() != p.Outcome.String() || strings.Join(got.Reports, ",") != strings.Join(p.Outcome.Reports, ",") {
			out = append(out, Mismatch{ServiceID: p.ServiceID, AppID: p.AppID, Want: p.Outcome.String(), Got: got.String()})
		}
		task.AddItems(1)
	}
	return out, nil
}
