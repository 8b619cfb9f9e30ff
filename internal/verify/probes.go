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
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/gateway/backend"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/redis/go-redis/v9"
)

// Component is the snapshot component holding the probes.
const Component = "verify"

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

// Sample chooses applications: every one when there are at most max,
// otherwise up to max spread evenly over services (each service gets its
// share, in application id order).
const sampleSQL = `SELECT c.service_id, c.application_id, COALESCE(c.user_key,''), s.backend_version,
	COALESCE((SELECT k.value FROM application_keys k WHERE k.application_id = c.id ORDER BY k.id LIMIT 1),''),
	COALESCE((SELECT t.value FROM service_tokens t WHERE t.service_id = s.id ORDER BY t.id LIMIT 1),''),
	COALESCE((SELECT pc.user_key FROM cinstances pc WHERE pc.user_account_id = s.account_id AND pc.type = 'Cinstance'
	          AND pc.plan_id IN (SELECT id FROM plans WHERE issuer_type = 'Service' AND issuer_id IN
	              (SELECT id FROM services WHERE account_id = (SELECT id FROM accounts WHERE master = 1)))
	          ORDER BY pc.id LIMIT 1),'')
	FROM cinstances c JOIN services s ON s.id = c.service_id
	WHERE c.type = 'Cinstance' AND c.application_id IS NOT NULL AND (s.state IS NULL OR s.state <> 'deleted')
	ORDER BY c.service_id, c.id`

// Record samples applications from the system database and records what
// authorize answers for each on backend-redis (db 0). It never writes.
func Record(ctx context.Context, db *sql.DB, rdb *redis.Client, max int, task *progress.Task) ([]Probe, error) {
	if max <= 0 {
		max = 200
	}
	rows, err := db.QueryContext(ctx, sampleSQL)
	if err != nil {
		return nil, fmt.Errorf("sample applications from the system database: %w", err)
	}
	perService := map[string][]Probe{}
	var order []string
	for rows.Next() {
		var p Probe
		var version string
		if err := rows.Scan(&p.ServiceID, &p.AppID, &p.UserKey, &version, &p.AppKey, &p.ServiceToken, &p.ProviderKey); err != nil {
			rows.Close()
			return nil, err
		}
		if version == "1" {
			p.AppKey = ""
		} else {
			p.UserKey = ""
		}
		if _, ok := perService[p.ServiceID]; !ok {
			order = append(order, p.ServiceID)
		}
		perService[p.ServiceID] = append(perService[p.ServiceID], p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var picked []Probe
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
	routes, err := serviceRoutes(ctx, db)
	if err != nil {
		return nil, err
	}
	be := backend.New(rdb, backend.Options{})
	for i := range picked {
		p := &picked[i]
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
		task.AddItems(1)
	}
	return picked, nil
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
	rc, err := src.Open(ctx, "probes.json")
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var probes []Probe
	if err := json.NewDecoder(rc).Decode(&probes); err != nil {
		return nil, fmt.Errorf("probes.json: %w", err)
	}
	return probes, nil
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
	be := backend.New(rdb, backend.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: be, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	base := "http://" + ln.Addr().String() + "/transactions/authorize.xml?"
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
			return nil, fmt.Errorf("embedded backend: %w", err)
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
