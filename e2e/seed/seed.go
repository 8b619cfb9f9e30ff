// Package seed generates one realistic, deterministic 3scale installation
// across every store 3scale-ops touches: Porta's system-mysql tables (with
// tenant_id triggers and a stored procedure), zync's PostgreSQL database,
// backend-redis (apisonator keys and usage stats, resque queues),
// system-redis (Sidekiq) and a system-storage attachments tree. The same
// seed, scale and clock give the same data, so tests can assert exact
// counts; the Report lists counts and samples (credentials, hosts) for
// tests and for the Kubernetes fixture (e2e/fixture).
//
// It is test tooling: it writes into whatever targets it is given and
// must never be pointed at a real installation. It never deletes or
// overwrites tables: it refuses SQL databases that already hold tables.
package seed

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Targets says where to write. Empty fields are skipped.
type Targets struct {
	MySQLDSN string // go-sql-driver DSN of the (empty) system database
	// SystemPostgresURL is a postgres:// URL of an (empty) system
	// database on PostgreSQL: Porta's PostgreSQL schema, the same rows.
	// At most one of MySQLDSN and SystemPostgresURL is given.
	SystemPostgresURL string
	PostgresURL       string      // postgres:// URL of the (empty) zync database
	BackendRedisURL   string      // backend-redis storage, e.g. redis://127.0.0.1:6379/0
	BackendQueuesURL  string      // backend-redis queues, e.g. redis://127.0.0.1:6379/1
	SystemRedisURL    string      // system-redis, e.g. redis://127.0.0.1:6380/1
	StorageDir        string      // system-storage root (/opt/system/public/system)
	RedisTLS          *tls.Config // with rediss:// URLs: CA and client certificate
}

// Options controls what is generated.
type Options struct {
	Seed     int64
	Scale    int64     // approximate total bytes over all stores; minimum 1 MiB
	Now      time.Time // the injected clock: every timestamp is relative to it
	Parallel int       // concurrent loaders per store (default 3)
	Logger   *slog.Logger
}

// Share of the scale each store receives; the growing tables and stats
// keys take what the model does not.
const (
	shareMySQL    = 0.55
	sharePostgres = 0.20
	shareRedis    = 0.15
	shareStorage  = 0.10
)

// Secrets are the installation's generated credentials, for the fixture's
// Kubernetes secrets (system-seed, zync, system-master-apicast …). The
// tokens exist in the generated access_tokens table.
type Secrets struct {
	MasterUser              string `json:"master_user"`
	MasterPassword          string `json:"master_password"`
	MasterAccessToken       string `json:"master_access_token"`
	AdminUser               string `json:"admin_user"`
	AdminPassword           string `json:"admin_password"`
	AdminEmail              string `json:"admin_email"`
	AdminAccessToken        string `json:"admin_access_token"`
	ApicastAccessToken      string `json:"apicast_access_token"`
	ZyncAuthToken           string `json:"zync_auth_token"`
	SecretKeyBase           string `json:"secret_key_base"`
	BackendInternalPassword string `json:"backend_internal_password"`
	EventsHookPassword      string `json:"events_hook_password"`
	DBPassword              string `json:"db_password"`
}

// Report describes what was generated.
type Report struct {
	Seed           int64     `json:"seed"`
	Scale          int64     `json:"scale"`
	Now            time.Time `json:"now"`
	WildcardDomain string    `json:"wildcard_domain"`
	Secrets        Secrets   `json:"secrets"`
	Master         Tenant    `json:"master"`
	Tenants        []Tenant  `json:"tenants"`
	Samples        []App     `json:"samples"`

	MySQL         map[string]Count `json:"mysql,omitempty"`          // table → rows, bytes
	Postgres      map[string]Count `json:"postgres,omitempty"`       // table → rows, bytes
	BackendRedis  map[string]Count `json:"backend_redis,omitempty"`  // key family → keys, bytes
	BackendQueues map[string]Count `json:"backend_queues,omitempty"` // key → entries
	SystemRedis   map[string]Count `json:"system_redis,omitempty"`   // key family → keys
	Storage       *StorageCount    `json:"storage,omitempty"`

	MaxAlertID      int64 `json:"max_alert_id"`
	AlertsCurrentID int64 `json:"alerts_current_id"`

	Timings map[string]Timing `json:"timings"` // store → duration and rates
}

// Count is rows (or keys, files) and the bytes written for them.
type Count struct {
	Rows  int64 `json:"rows"`
	Bytes int64 `json:"bytes"`
}

// StorageCount describes the generated system-storage tree.
type StorageCount struct {
	Files    int64 `json:"files"`
	Dirs     int64 `json:"dirs"`
	Symlinks int64 `json:"symlinks"`
	Bytes    int64 `json:"bytes"`
}

// Timing is how long one store took and the resulting rates.
type Timing struct {
	Seconds     float64 `json:"seconds"`
	Bytes       int64   `json:"bytes"`
	Items       int64   `json:"items"`
	MBPerSec    float64 `json:"mb_per_sec"`
	ItemsPerSec float64 `json:"items_per_sec"`
}

// Tenant is a provider account (or master) as the fixture and tests see it.
type Tenant struct {
	ID               int64     `json:"id"`
	Name             string    `json:"name"`
	Domain           string    `json:"domain"`       // developer portal host
	AdminDomain      string    `json:"admin_domain"` // admin portal host (self_domain)
	ProviderKey      string    `json:"provider_key"`
	AdminAccessToken string    `json:"admin_access_token"`
	Services         []Service `json:"services"`
}

// Service is one product with its gateway hosts.
type Service struct {
	ID               int64    `json:"id"`
	SystemName       string   `json:"system_name"`
	BackendVersion   string   `json:"backend_version"`
	DeploymentOption string   `json:"deployment_option"`
	Endpoint         string   `json:"endpoint"`
	SandboxEndpoint  string   `json:"sandbox_endpoint"`
	ServiceToken     string   `json:"service_token"`
	Metrics          []string `json:"metrics"`
	Applications     int      `json:"applications"`
}

// App is a sampled application with everything needed to call the gateway.
type App struct {
	ID                  int64    `json:"id"` // cinstances.id
	ServiceID           int64    `json:"service_id"`
	ApplicationID       string   `json:"application_id"`
	UserKey             string   `json:"user_key,omitempty"`
	AppKeys             []string `json:"app_keys,omitempty"`
	State               string   `json:"state"` // Porta state: live, suspended, pending
	PlanID              int64    `json:"plan_id"`
	PlanName            string   `json:"plan_name"`
	BackendVersion      string   `json:"backend_version"`
	CredentialsLocation string   `json:"credentials_location"`
	Host                string   `json:"host"`   // production gateway host
	Method              string   `json:"method"` // a request that matches a mapping rule
	Path                string   `json:"path"`
	Metric              string   `json:"metric"` // metric that rule reports
}

// Generate writes one installation into targets. It is deterministic in
// (opts.Seed, opts.Scale, opts.Now). Databases must exist and be empty.
func Generate(ctx context.Context, t Targets, opts Options) (*Report, error) {
	if opts.Scale < 1<<20 {
		opts.Scale = 1 << 20
	}
	if opts.Now.IsZero() {
		return nil, errors.New("seed: Options.Now is required (the generator is deterministic only for a fixed clock)")
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 3
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if t.MySQLDSN != "" && t.SystemPostgresURL != "" {
		return nil, errors.New("seed: give the system database once: MySQLDSN or SystemPostgresURL")
	}
	m := buildModel(opts.Seed, opts.Scale, opts.Now)
	if t.SystemPostgresURL != "" {
		m.capLimits(maxPGLimit)
	}
	rep := m.report(opts)
	rep.MaxAlertID = alertEvents(int64(float64(opts.Scale) * shareMySQL))
	rep.AlertsCurrentID = rep.MaxAlertID + 3 // backend raised a few alerts System has not imported yet

	type job struct {
		name string
		run  func(context.Context) (Timing, error)
	}
	var jobs []job
	if t.MySQLDSN != "" {
		jobs = append(jobs, job{"mysql", func(ctx context.Context) (Timing, error) {
			return loadMySQL(ctx, t.MySQLDSN, m, int64(float64(opts.Scale)*shareMySQL), opts, rep)
		}})
	}
	if t.SystemPostgresURL != "" {
		jobs = append(jobs, job{"system-postgres", func(ctx context.Context) (Timing, error) {
			return loadPortaPostgres(ctx, t.SystemPostgresURL, m, int64(float64(opts.Scale)*shareMySQL), opts, rep)
		}})
	}
	if t.PostgresURL != "" {
		jobs = append(jobs, job{"postgres", func(ctx context.Context) (Timing, error) {
			return loadPostgres(ctx, t.PostgresURL, m, int64(float64(opts.Scale)*sharePostgres), opts, rep)
		}})
	}
	if t.BackendRedisURL != "" || t.BackendQueuesURL != "" || t.SystemRedisURL != "" {
		jobs = append(jobs, job{"redis", func(ctx context.Context) (Timing, error) {
			return loadRedis(ctx, t, m, int64(float64(opts.Scale)*shareRedis), opts, rep)
		}})
	}
	if t.StorageDir != "" {
		jobs = append(jobs, job{"storage", func(ctx context.Context) (Timing, error) {
			return writeStorage(ctx, t.StorageDir, m, int64(float64(opts.Scale)*shareStorage), rep)
		}})
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errl []error
	)
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tm, err := j.run(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errl = append(errl, fmt.Errorf("seed %s: %w", j.name, err))
				cancel()
				return
			}
			rep.Timings[j.name] = tm
			opts.Logger.Info("seeded", "store", j.name, "bytes", tm.Bytes, "items", tm.Items, "seconds", tm.Seconds, "mb_per_sec", tm.MBPerSec)
		}()
	}
	wg.Wait()
	if err := errors.Join(errl...); err != nil {
		return rep, err
	}
	return rep, nil
}

func timing(start time.Time, bytes, items int64) Timing {
	s := time.Since(start).Seconds()
	t := Timing{Seconds: s, Bytes: bytes, Items: items}
	if s > 0 {
		t.MBPerSec = float64(bytes) / (1 << 20) / s
		t.ItemsPerSec = float64(items) / s
	}
	return t
}

func (m *model) report(opts Options) *Report {
	rep := &Report{Seed: opts.Seed, Scale: opts.Scale, Now: m.now, WildcardDomain: m.wildcard, Secrets: m.secrets,
		MySQL: map[string]Count{}, Postgres: map[string]Count{}, BackendRedis: map[string]Count{}, BackendQueues: map[string]Count{},
		SystemRedis: map[string]Count{}, Timings: map[string]Timing{}}
	rep.Master = Tenant{ID: m.master.ID, Name: m.master.OrgName, Domain: m.master.Domain, AdminDomain: m.master.SelfDomain,
		ProviderKey: m.apps[0].UserKey, AdminAccessToken: m.secrets.MasterAccessToken, Services: []Service{reportService(m.services[0])}}
	for _, p := range m.provs {
		t := Tenant{ID: p.acct.ID, Name: p.acct.OrgName, Domain: p.acct.Domain, AdminDomain: p.acct.SelfDomain, ProviderKey: p.key, AdminAccessToken: p.adminToken.Value}
		for _, s := range p.services {
			t.Services = append(t.Services, reportService(s))
			var live, other bool
			for _, a := range s.Apps {
				if (a.State == "live" && !live) || (a.State != "live" && !other) {
					rep.Samples = append(rep.Samples, sampleApp(a))
					if a.State == "live" {
						live = true
					} else {
						other = true
					}
				}
			}
		}
		rep.Tenants = append(rep.Tenants, t)
	}
	return rep
}

func reportService(s *service) Service {
	out := Service{ID: s.ID, SystemName: s.SystemName, BackendVersion: s.BackendVersion, DeploymentOption: s.DeploymentOption,
		Endpoint: s.Proxy.Endpoint, SandboxEndpoint: s.Proxy.Sandbox, ServiceToken: s.Tokens[0], Applications: len(s.Apps)}
	for _, mt := range s.allMetrics() {
		out.Metrics = append(out.Metrics, mt.SystemName)
	}
	return out
}

func sampleApp(a *app) App {
	s := a.Service
	out := App{ID: a.ID, ServiceID: s.ID, ApplicationID: a.ApplicationID, UserKey: a.UserKey, AppKeys: a.Keys, State: a.State,
		PlanID: a.Plan.ID, PlanName: a.Plan.Name, BackendVersion: s.BackendVersion, CredentialsLocation: s.Proxy.CredentialsLocation,
		Host: hostOf(s.Proxy.Endpoint)}
	// the catch-all "GET /" rule reports hits; pick the first rule without
	// placeholders in the query for a concrete path.
	r := s.Proxy.Rules[len(s.Proxy.Rules)-1]
	for _, pr := range s.Proxy.Rules {
		if pr.OwnerType == "Proxy" && pr.Pattern == "/" {
			r = pr
		}
	}
	out.Method, out.Path = r.HTTPMethod, "/"
	if out.Method == "ANY" {
		out.Method = "GET"
	}
	for _, mt := range s.allMetrics() {
		if mt.ID == r.MetricID {
			out.Metric = mt.SystemName
		}
	}
	return out
}

// hostOf returns the host of an https://host:port URL.
func hostOf(u string) string {
	h := u
	if i := strings.Index(h, "://"); i >= 0 {
		h = h[i+3:]
	}
	if i := strings.IndexAny(h, "/:"); i >= 0 {
		h = h[:i]
	}
	return h
}

// ParseSize parses "5MB", "1GB", "512k", "100" (bytes) with binary units.
func ParseSize(s string) (int64, error) {
	v := strings.ToUpper(strings.TrimSpace(s))
	v = strings.TrimSuffix(strings.TrimSuffix(v, "B"), "I")
	mult := int64(1)
	if v != "" {
		switch v[len(v)-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			v = v[:len(v)-1]
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("size %q: want a positive number with an optional unit, e.g. 20MB or 1GB", s)
	}
	return int64(f * float64(mult)), nil
}

func sortStrings(s []string) []string { sort.Strings(s); return s }

// sortedKeys returns the keys of a map in order (stable reports).
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
