package seed

import (
	"encoding/hex"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"strings"
	"time"
)

// The model is the small, relational part of one installation (accounts,
// services, plans, metrics, applications…), built once in memory from the
// seed and the scale. Every store is written from it, which is what makes
// MySQL, zync, backend-redis, storage and the Kubernetes fixture agree.
// The growing tables (alerts, audits, …) are not in the model: they are
// streamed row by row from per-table generators.

type model struct {
	seed     int64
	now      time.Time
	wildcard string
	master   *account
	provs    []*provider
	services []*service // all services, master's first
	apps     []*app     // all cinstances of type Cinstance (buyer apps + provider contracts)
	users    []*user
	tokens   []*accessToken
	secrets  Secrets

	nextID map[string]int64
}

type account struct {
	ID                int64
	OrgName           string
	Domain            string
	SelfDomain        string
	Provider, Buyer   bool
	Master            bool
	ProviderAccountID int64
	TenantID          int64
	State             string
	DefaultServiceID  int64
	S3Prefix          string
	CreatedAt         time.Time
}

type provider struct {
	acct        *account
	key         string // provider key: user_key of the provider's contract on master
	contract    *app
	accountPlan *plan
	services    []*service
	backends    []*backendAPI
	buyers      []*account
	admin       *user
	adminToken  *accessToken
}

type backendAPI struct {
	ID, AccountID, TenantID int64
	Name, SystemName        string
	PrivateEndpoint         string
	Metrics                 []*metric // hits.{id} first, then its methods
}

type service struct {
	ID, AccountID, TenantID int64
	prov                    *provider // nil for master's service
	Name, SystemName        string
	BackendVersion          string // "1", "2", "oauth"
	State                   string
	DeploymentOption        string
	ReferrerFilters         bool
	Metrics                 []*metric // hits first, then methods, then others
	Backend                 *backendAPI
	BackendPath             string
	AppPlans                []*plan
	ServicePlan             *plan
	Tokens                  []string
	Proxy                   *proxy
	Apps                    []*app
	CreatedAt               time.Time
}

type metric struct {
	ID, ServiceID, OwnerID int64
	OwnerType              string
	SystemName, Friendly   string
	Unit                   string
	ParentID               int64
	TenantID               int64
}

type limit struct {
	MetricID int64
	Period   string
	Value    uint64 // usage_limits.value is bigint unsigned in Porta
}

type plan struct {
	ID, IssuerID, TenantID int64
	IssuerType, Type       string
	Name, SystemName       string
	State                  string
	Limits                 []limit
}

type proxy struct {
	ID, ServiceID, TenantID int64
	Endpoint, Sandbox       string
	CredentialsLocation     string
	AuthUserKey, AuthAppID  string
	AuthAppKey              string
	SecretToken             string
	HostnameRewrite         string
	PoliciesConfig          string
	Rules                   []*proxyRule
	LockVersion             int64
	Versions                int // proxy_configs versions per environment
}

type proxyRule struct {
	ID, ProxyID, MetricID, OwnerID, TenantID int64
	OwnerType                                string
	HTTPMethod, Pattern                      string
	Delta, Position                          int64
	Last                                     bool
}

type app struct {
	ID            int64 // cinstances.id
	ApplicationID string
	UserKey       string
	State         string // live, suspended, pending
	Plan          *plan
	Service       *service
	BuyerID       int64
	TenantID      int64
	Name          string
	RedirectURL   string
	Keys          []string
	Referrers     []string
	Traffic       bool
	CreatedAt     time.Time
}

type user struct {
	ID, AccountID, TenantID int64
	Username, Email         string
	FirstName, LastName     string
	Role                    string
}

type accessToken struct {
	ID, OwnerID, TenantID int64
	Name, Value           string
	Scopes                string
	Permission            string
}

// names mixes Latin and non-Latin organisation and person names
// (utf8mb4 text must survive every engine, including 4-byte characters).
var orgNames = []string{"Acme", "Globex", "Initech", "Umbrella", "Ключ-Сервис", "東京データ", "Müller & Söhne", "Ωmega Λabs", "شركة البيانات", "Café Niño", "데이터허브", "Pingüino 🐧", "Zürich Pay", "Stark", "Wayne", "Tyrell"}
var personNames = []string{"Ana", "Björn", "Chloé", "Дмитрий", "Émile", "Fatima", "Giorgos", "Hana", "İlker", "Jürgen", "花子", "Łukasz", "Mårten", "Nguyễn", "Olga", "Zoë"}
var methodNames = []string{"list_items", "get_item", "create_item", "update_item", "delete_item", "search", "export_csv", "upload", "login", "status"}

func (m *model) id(table string) int64 {
	m.nextID[table]++
	return m.nextID[table]
}

// hexToken returns n random hex characters from r.
func hexToken(r *rand.Rand, n int) string {
	b := make([]byte, (n+1)/2)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return hex.EncodeToString(b)[:n]
}

func clamp(v, lo, hi int64) int64 { return max(lo, min(v, hi)) }

// shape gives the model's object counts for a scale: they grow slowly
// (logarithmically for tenants, linearly but capped for buyers), so that
// at large scales the growing tables and stats keys dominate, as in
// production.
func shape(scale int64) (providers, buyersPerProvider int64) {
	mb := max(scale>>20, 1)
	providers = clamp(2+int64(bits.Len64(uint64(mb))), 3, 12)
	buyersPerProvider = clamp(mb, 4, 300)
	return
}

func buildModel(seed, scale int64, now time.Time) *model {
	r := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	m := &model{seed: seed, now: now.UTC().Truncate(time.Second), wildcard: "apps.seed.example.com", nextID: map[string]int64{}}
	m.secrets = Secrets{
		MasterUser: "master", MasterPassword: hexToken(r, 16), MasterAccessToken: hexToken(r, 40),
		AdminUser: "admin", AdminPassword: hexToken(r, 16), AdminEmail: "admin@seed.example.com",
		AdminAccessToken: hexToken(r, 40), ApicastAccessToken: hexToken(r, 40), ZyncAuthToken: hexToken(r, 32),
		SecretKeyBase: hexToken(r, 64), BackendInternalPassword: hexToken(r, 16), EventsHookPassword: hexToken(r, 16),
		DBPassword: hexToken(r, 16),
	}
	created := m.now.AddDate(-3, 0, 0)

	// Master account, its admin, its service and the plan providers buy.
	m.master = &account{ID: m.id("accounts"), OrgName: "Master Account", Domain: "master." + m.wildcard, SelfDomain: "master." + m.wildcard,
		Provider: true, Master: true, State: "approved", S3Prefix: "master-account", CreatedAt: created}
	m.master.TenantID = m.master.ID
	mu := &user{ID: m.id("users"), AccountID: m.master.ID, TenantID: m.master.ID, Username: m.secrets.MasterUser, Email: "master@seed.example.com", FirstName: "Master", LastName: "Admin", Role: "admin"}
	m.users = append(m.users, mu)
	m.tokens = append(m.tokens,
		&accessToken{ID: m.id("access_tokens"), OwnerID: mu.ID, TenantID: m.master.ID, Name: "Master Token", Value: m.secrets.MasterAccessToken, Scopes: `["account_management"]`, Permission: "rw"},
		&accessToken{ID: m.id("access_tokens"), OwnerID: mu.ID, TenantID: m.master.ID, Name: "APIcast", Value: m.secrets.ApicastAccessToken, Scopes: `["account_management"]`, Permission: "ro"})
	masterSvc := m.newService(r, nil, m.master, "Master Service", "master_service", "1", "self_managed", created)
	m.master.DefaultServiceID = masterSvc.ID
	masterPlan := masterSvc.AppPlans[len(masterSvc.AppPlans)-1]
	m.services = append(m.services, masterSvc)
	// master's own contract on its service gives the master provider key.
	m.apps = append(m.apps, m.newApp(r, masterSvc, masterPlan, m.master.ID, m.master.ID, "live", created))
	masterSvc.Apps = append(masterSvc.Apps, m.apps[0])

	nprov, nbuyers := shape(scale)
	for i := int64(0); i < nprov; i++ {
		org := orgNames[i%int64(len(orgNames))]
		tenant := fmt.Sprintf("tenant%d", i+1)
		a := &account{ID: m.id("accounts"), OrgName: fmt.Sprintf("%s %d", org, i+1), Domain: tenant + "." + m.wildcard, SelfDomain: tenant + "-admin." + m.wildcard,
			Provider: true, ProviderAccountID: m.master.ID, State: "approved", S3Prefix: tenant, CreatedAt: created.Add(time.Duration(i) * 24 * time.Hour)}
		a.TenantID = a.ID
		p := &provider{acct: a}
		// the provider's contract on master's service: its user_key is the provider key.
		p.contract = m.newApp(r, masterSvc, masterPlan, a.ID, m.master.ID, "live", a.CreatedAt)
		p.key = p.contract.UserKey
		masterSvc.Apps = append(masterSvc.Apps, p.contract)
		m.apps = append(m.apps, p.contract)
		p.admin = &user{ID: m.id("users"), AccountID: a.ID, TenantID: a.ID, Username: "admin", Email: fmt.Sprintf("admin@%s.seed.example.com", tenant),
			FirstName: personNames[r.IntN(len(personNames))], LastName: "Admin", Role: "admin"}
		m.users = append(m.users, p.admin)
		tokValue := hexToken(r, 40)
		if i == 0 {
			tokValue = m.secrets.AdminAccessToken
		}
		p.adminToken = &accessToken{ID: m.id("access_tokens"), OwnerID: p.admin.ID, TenantID: a.ID, Name: "Zync / admin", Value: tokValue, Scopes: `["account_management","stats"]`, Permission: "rw"}
		m.tokens = append(m.tokens, p.adminToken)
		p.accountPlan = &plan{ID: m.id("plans"), IssuerID: a.ID, IssuerType: "Account", TenantID: a.ID, Type: "AccountPlan", Name: "Default", SystemName: "default", State: "published"}

		nsvc := 2 + r.IntN(3)
		for s := 0; s < nsvc; s++ {
			bv := []string{"1", "1", "2", "2", "oauth"}[r.IntN(5)]
			dep := "hosted"
			if r.IntN(4) == 0 {
				dep = "self_managed"
			}
			names := []string{"Echo API", "Payments", "Inventory", "Погода", "地図 API", "Orders"}
			name := names[(int(i)+s)%len(names)]
			svc := m.newService(r, p, a, fmt.Sprintf("%s %d", name, s+1), fmt.Sprintf("api_%d_%d", i+1, s+1), bv, dep, a.CreatedAt.Add(time.Duration(s)*time.Hour))
			p.services = append(p.services, svc)
			m.services = append(m.services, svc)
		}
		a.DefaultServiceID = p.services[0].ID
		for b := int64(0); b < nbuyers; b++ {
			ba := &account{ID: m.id("accounts"), OrgName: fmt.Sprintf("%s Buyer %d", orgNames[r.IntN(len(orgNames))], b+1),
				Buyer: true, ProviderAccountID: a.ID, TenantID: a.ID, State: []string{"approved", "approved", "approved", "pending"}[r.IntN(4)],
				CreatedAt: a.CreatedAt.Add(time.Duration(r.IntN(700*24)) * time.Hour)}
			p.buyers = append(p.buyers, ba)
			m.users = append(m.users, &user{ID: m.id("users"), AccountID: ba.ID, TenantID: a.ID,
				Username: fmt.Sprintf("dev%d_%d", i+1, b+1), Email: fmt.Sprintf("dev%d@buyer%d.example.org", b+1, ba.ID),
				FirstName: personNames[r.IntN(len(personNames))], LastName: personNames[r.IntN(len(personNames))], Role: "admin"})
			napps := 1 + r.IntN(3)
			for k := 0; k < napps; k++ {
				svc := p.services[r.IntN(len(p.services))]
				pl := svc.AppPlans[r.IntN(len(svc.AppPlans))]
				state := []string{"live", "live", "live", "live", "live", "live", "live", "live", "suspended", "pending"}[r.IntN(10)]
				ap := m.newApp(r, svc, pl, ba.ID, a.ID, state, ba.CreatedAt.Add(time.Duration(k)*time.Hour))
				svc.Apps = append(svc.Apps, ap)
				m.apps = append(m.apps, ap)
			}
		}
		m.provs = append(m.provs, p)
	}
	return m
}

func (m *model) newService(r *rand.Rand, p *provider, a *account, name, sysName, bv, dep string, created time.Time) *service {
	s := &service{ID: m.id("services"), AccountID: a.ID, TenantID: a.TenantID, prov: p, Name: name, SystemName: sysName,
		BackendVersion: bv, State: "published", DeploymentOption: dep, ReferrerFilters: p != nil && r.IntN(5) == 0, CreatedAt: created}
	hits := &metric{ID: m.id("metrics"), ServiceID: s.ID, OwnerID: s.ID, OwnerType: "Service", SystemName: "hits", Friendly: "Hits", Unit: "hit", TenantID: a.TenantID}
	s.Metrics = append(s.Metrics, hits)
	nm := 2 + r.IntN(4)
	off := r.IntN(len(methodNames))
	for i := 0; i < nm; i++ {
		mn := methodNames[(off+i)%len(methodNames)]
		s.Metrics = append(s.Metrics, &metric{ID: m.id("metrics"), ServiceID: s.ID, OwnerID: s.ID, OwnerType: "Service", SystemName: mn, Friendly: "Método " + mn, Unit: "hit", ParentID: hits.ID, TenantID: a.TenantID})
	}
	s.Metrics = append(s.Metrics, &metric{ID: m.id("metrics"), ServiceID: s.ID, OwnerID: s.ID, OwnerType: "Service", SystemName: "bandwidth", Friendly: "Bandwidth (KB)", Unit: "kb", TenantID: a.TenantID})
	if p != nil {
		b := &backendAPI{ID: m.id("backend_apis"), AccountID: a.ID, TenantID: a.TenantID, Name: name + " backend", SystemName: sysName + "_backend",
			PrivateEndpoint: fmt.Sprintf("http://%s.backends.internal:8080/api", dnsLabel(sysName))}
		bh := &metric{ID: m.id("metrics"), OwnerID: b.ID, OwnerType: "BackendApi", SystemName: fmt.Sprintf("hits.%d", b.ID), Friendly: "Hits", Unit: "hit", TenantID: a.TenantID}
		b.Metrics = append(b.Metrics, bh, &metric{ID: m.id("metrics"), OwnerID: b.ID, OwnerType: "BackendApi", SystemName: fmt.Sprintf("backend_read.%d", b.ID), Friendly: "Backend read", Unit: "hit", ParentID: bh.ID, TenantID: a.TenantID})
		s.Backend, s.BackendPath = b, "/backend"
		p.backends = append(p.backends, b)
	}
	// plans and limits
	for i, pn := range []string{"Basic", "Pro", "Unlimited"} {
		pl := &plan{ID: m.id("plans"), IssuerID: s.ID, IssuerType: "Service", TenantID: a.TenantID, Type: "ApplicationPlan", Name: pn, SystemName: fmt.Sprintf("%s_%s", sysName, pn), State: "published"}
		switch i {
		case 0:
			pl.Limits = append(pl.Limits, limit{hits.ID, "day", 1000 + uint64(r.IntN(9000))}, limit{hits.ID, "month", 50000}, limit{s.Metrics[1].ID, "minute", 10}, limit{s.Metrics[2].ID, "eternity", 0})
		case 1:
			pl.Limits = append(pl.Limits, limit{hits.ID, "hour", 5000}, limit{hits.ID, "week", 200000}, limit{hits.ID, "year", 5000000}, limit{s.Metrics[1].ID, "day", 100000})
		case 2:
			// The largest value the unsigned column holds, as "unlimited"
			// plans set it: readers must not assume it fits an int64.
			pl.Limits = append(pl.Limits, limit{hits.ID, "eternity", math.MaxUint64})
		}
		s.AppPlans = append(s.AppPlans, pl)
	}
	s.ServicePlan = &plan{ID: m.id("plans"), IssuerID: s.ID, IssuerType: "Service", TenantID: a.TenantID, Type: "ServicePlan", Name: "Default", SystemName: "default", State: "published"}
	s.Tokens = []string{hexToken(r, 64)}
	// proxy and mapping rules
	host := fmt.Sprintf("%s-%s", dnsLabel(sysName), a.S3Prefix) // a Route host: no "_"
	px := &proxy{ID: m.id("proxies"), ServiceID: s.ID, TenantID: a.TenantID,
		Endpoint: fmt.Sprintf("https://%s.%s:443", host, m.wildcard), Sandbox: fmt.Sprintf("https://%s-staging.%s:443", host, m.wildcard),
		CredentialsLocation: []string{"query", "headers", "authorization"}[r.IntN(3)], AuthUserKey: "user_key", AuthAppID: "app_id", AuthAppKey: "app_key",
		SecretToken: "Shared_secret_sent_from_proxy_to_API_backend_" + hexToken(r, 16), LockVersion: int64(1 + r.IntN(9)), Versions: 1 + r.IntN(3)}
	if r.IntN(3) == 0 {
		px.HostnameRewrite = dnsLabel(sysName) + ".internal"
	}
	px.PoliciesConfig = policyChain(r)
	pos := int64(1)
	add := func(mt *metric, owner string, ownerID int64, method, pattern string, delta int64, last bool) {
		px.Rules = append(px.Rules, &proxyRule{ID: m.id("proxy_rules"), ProxyID: px.ID, MetricID: mt.ID, OwnerID: ownerID, OwnerType: owner, TenantID: a.TenantID,
			HTTPMethod: method, Pattern: pattern, Delta: delta, Position: pos, Last: last})
		pos++
	}
	verbs := []string{"GET", "GET", "POST", "PUT", "DELETE", "GET", "GET", "POST", "POST", "GET"}
	for i, mt := range s.Metrics[1 : len(s.Metrics)-1] {
		pat := fmt.Sprintf("/v1/%s/{id}", mt.SystemName)
		if i%3 == 1 {
			pat = fmt.Sprintf("/v1/%s$", mt.SystemName)
		} else if i%3 == 2 {
			pat = fmt.Sprintf("/v1/%s?format={fmt}", mt.SystemName)
		}
		add(mt, "Proxy", px.ID, verbs[(i+off)%len(verbs)], pat, 1, i == 0)
	}
	add(hits, "Proxy", px.ID, "GET", "/", 1, false)
	if s.Backend != nil {
		add(s.Backend.Metrics[1], "BackendApi", s.Backend.ID, "GET", "/read/{id}", 2, false)
		add(s.Backend.Metrics[0], "BackendApi", s.Backend.ID, "ANY", "/", 1, false)
	}
	s.Proxy = px
	return s
}

func (m *model) newApp(r *rand.Rand, s *service, pl *plan, buyerID, tenantID int64, state string, created time.Time) *app {
	a := &app{ID: m.id("cinstances"), ApplicationID: hexToken(r, 8), State: state, Plan: pl, Service: s, BuyerID: buyerID, TenantID: tenantID,
		Name: fmt.Sprintf("%s app %d", personNames[r.IntN(len(personNames))], m.nextID["cinstances"]), CreatedAt: created}
	switch s.BackendVersion {
	case "1":
		a.UserKey = hexToken(r, 32)
	case "2":
		for k := 0; k < 1+r.IntN(3); k++ {
			a.Keys = append(a.Keys, hexToken(r, 32))
		}
	case "oauth":
		a.Keys = []string{hexToken(r, 32)}
		a.RedirectURL = fmt.Sprintf("https://client%d.example.org/callback", a.ID)
	}
	if s.ReferrerFilters && r.IntN(2) == 0 {
		a.Referrers = []string{"*.example.org", fmt.Sprintf("app%d.example.net", a.ID)}
	}
	a.Traffic = s.prov != nil && state != "pending" && r.IntN(10) < 7
	return a
}

func policyChain(r *rand.Rand) string {
	chain := `[{"name":"apicast","version":"builtin","configuration":{},"enabled":true}]`
	switch r.IntN(3) {
	case 1:
		chain = `[{"name":"cors","version":"builtin","configuration":{"allow_origin":"*","allow_credentials":true},"enabled":true},{"name":"apicast","version":"builtin","configuration":{},"enabled":true}]`
	case 2:
		chain = `[{"name":"headers","version":"builtin","configuration":{"request":[{"op":"set","header":"X-Seed","value":"é✓","value_type":"plain"}]},"enabled":true},{"name":"caching","version":"builtin","configuration":{"caching_type":"resilient"},"enabled":true},{"name":"apicast","version":"builtin","configuration":{},"enabled":true}]`
	}
	return chain
}

// allMetrics is every metric the service's backend view holds: its own
// and those of its backend API.
func (s *service) allMetrics() []*metric {
	if s.Backend == nil {
		return s.Metrics
	}
	out := append([]*metric{}, s.Metrics...)
	return append(out, s.Backend.Metrics...)
}

// dnsLabel turns a system name into a host name label: a Route's
// spec.host is a DNS subdomain, where "_" is invalid.
func dnsLabel(systemName string) string { return strings.ReplaceAll(systemName, "_", "-") }
