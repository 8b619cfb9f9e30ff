package seed

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

func cols(s ...string) []string { return s }

// modelTables are the small relational tables, written from the model.
func (m *model) modelTables() []mysqlTable {
	accounts := append([]*account{m.master}, m.providerAccounts()...)
	for _, p := range m.provs {
		accounts = append(accounts, p.buyers...)
	}
	return []mysqlTable{
		{"accounts", cols("id", "org_name", "domain", "self_domain", "provider", "buyer", "master", "provider_account_id", "default_service_id", "state", "s3_prefix", "extra_fields", "created_at", "updated_at", "tenant_id"), func(w *tsv) error {
			for _, a := range accounts {
				w.Int(a.ID)
				w.Str(a.OrgName)
				w.StrOrNull(a.Domain)
				w.StrOrNull(a.SelfDomain)
				w.Bool(a.Provider)
				w.Bool(a.Buyer)
				if a.Master {
					w.Int(1)
				} else {
					w.Null() // unique index: only the master row holds a value
				}
				w.IntOrNull(a.ProviderAccountID)
				w.IntOrNull(a.DefaultServiceID)
				w.Str(a.State)
				w.StrOrNull(a.S3Prefix)
				if a.Buyer {
					w.Str(fmt.Sprintf("--- !ruby/hash:ActiveSupport::HashWithIndifferentAccess\nvat_code: ES%08d\ncountry: España\n", a.ID))
				} else {
					w.Null()
				}
				w.Time(a.CreatedAt)
				w.Time(a.CreatedAt.Add(time.Hour))
				w.Int(a.TenantID)
				w.End()
			}
			return nil
		}},
		{"users", cols("id", "account_id", "username", "email", "first_name", "last_name", "role", "state", "password_digest", "created_at", "updated_at", "tenant_id"), func(w *tsv) error {
			for _, u := range m.users {
				w.Int(u.ID)
				w.Int(u.AccountID)
				w.Str(u.Username)
				w.Str(u.Email)
				w.Str(u.FirstName)
				w.Str(u.LastName)
				w.Str(u.Role)
				w.Str("active")
				w.Str(fmt.Sprintf("$2a$10$%053d", u.ID))
				w.Time(m.now.AddDate(-2, 0, 0))
				w.Time(m.now.AddDate(0, -1, 0))
				w.Int(u.TenantID)
				w.End()
			}
			return nil
		}},
		{"access_tokens", cols("id", "owner_id", "scopes", "value", "name", "permission", "created_at", "updated_at", "expires_at", "tenant_id"), func(w *tsv) error {
			for _, t := range m.tokens {
				w.Int(t.ID)
				w.Int(t.OwnerID)
				w.Str("---\n- account_management\n")
				w.Str(t.Value)
				w.Str(t.Name)
				w.Str(t.Permission)
				w.Time(m.now.AddDate(-1, 0, 0))
				w.Time(m.now.AddDate(-1, 0, 0))
				w.Null()
				w.Int(t.TenantID)
				w.End()
			}
			return nil
		}},
		{"services", cols("id", "account_id", "name", "description", "created_at", "updated_at", "state", "system_name", "backend_version", "mandatory_app_key", "referrer_filters_required", "deployment_option", "default_application_plan_id", "default_service_plan_id", "notification_settings", "tenant_id"), m.each(func(w *tsv, s *service) {
			w.Int(s.ID)
			w.Int(s.AccountID)
			w.Str(s.Name)
			w.Str("Service « " + s.Name + " »\nmulti-line description")
			w.Time(s.CreatedAt)
			w.Time(s.CreatedAt.Add(24 * time.Hour))
			w.Str(s.State)
			w.Str(s.SystemName)
			w.Str(s.BackendVersion)
			w.Bool(true)
			w.Bool(s.ReferrerFilters)
			w.Str(s.DeploymentOption)
			w.Int(s.AppPlans[0].ID)
			w.Int(s.ServicePlan.ID)
			w.Str("---\n:web_provider:\n- 50\n- 80\n- 100\n:email_provider:\n- 100\n")
			w.Int(s.TenantID)
		})},
		{"proxies", cols("id", "service_id", "endpoint", "sandbox_endpoint", "auth_app_key", "auth_app_id", "auth_user_key", "credentials_location",
			"error_auth_failed", "error_auth_missing", "error_status_auth_failed", "error_headers_auth_failed", "error_status_auth_missing", "error_headers_auth_missing",
			"error_no_match", "error_status_no_match", "error_headers_no_match", "error_limits_exceeded", "error_status_limits_exceeded", "error_headers_limits_exceeded",
			"secret_token", "hostname_rewrite", "oidc_issuer_endpoint", "authentication_method", "policies_config", "apicast_configuration_driven", "lock_version",
			"api_test_path", "staging_domain", "production_domain", "created_at", "updated_at", "tenant_id"), m.each(func(w *tsv, s *service) {
			p := s.Proxy
			w.Int(p.ID)
			w.Int(s.ID)
			w.Str(p.Endpoint)
			w.Str(p.Sandbox)
			w.Str(p.AuthAppKey)
			w.Str(p.AuthAppID)
			w.Str(p.AuthUserKey)
			w.Str(p.CredentialsLocation)
			w.Str("Authentication failed")
			w.Str("Authentication parameters missing")
			w.Int(403)
			w.Str("text/plain; charset=us-ascii")
			w.Int(403)
			w.Str("text/plain; charset=us-ascii")
			w.Str("No Mapping Rule matched")
			w.Int(404)
			w.Str("text/plain; charset=us-ascii")
			w.Str("Usage limit exceeded")
			w.Int(429)
			w.Str("text/plain; charset=us-ascii")
			w.Str(p.SecretToken)
			w.StrOrNull(p.HostnameRewrite)
			if s.BackendVersion == "oauth" {
				w.Str(fmt.Sprintf("https://zync:secret@sso.%s/auth/realms/%s", m.wildcard, s.SystemName))
			} else {
				w.Null()
			}
			w.Null()
			w.Str(p.PoliciesConfig)
			w.Bool(true)
			w.Int(p.LockVersion)
			w.Str("/")
			w.Str(hostOf(p.Sandbox))
			w.Str(hostOf(p.Endpoint))
			w.Time(s.CreatedAt)
			w.Time(s.CreatedAt.Add(48 * time.Hour))
			w.Int(p.TenantID)
		})},
		{"backend_apis", cols("id", "name", "system_name", "description", "private_endpoint", "account_id", "created_at", "updated_at", "tenant_id", "state"), m.each(func(w *tsv, s *service) {
			if s.Backend == nil {
				return
			}
			b := s.Backend
			w.Int(b.ID)
			w.Str(b.Name)
			w.Str(b.SystemName)
			w.Null()
			w.Str(b.PrivateEndpoint)
			w.Int(b.AccountID)
			w.Time(s.CreatedAt)
			w.Time(s.CreatedAt)
			w.Int(b.TenantID)
			w.Str("published")
		})},
		{"backend_api_configs", cols("id", "path", "service_id", "backend_api_id", "tenant_id", "created_at", "updated_at"), m.each(func(w *tsv, s *service) {
			if s.Backend == nil {
				return
			}
			w.Int(s.Backend.ID)
			w.Str(s.BackendPath)
			w.Int(s.ID)
			w.Int(s.Backend.ID)
			w.Int(s.TenantID)
			w.Time(s.CreatedAt)
			w.Time(s.CreatedAt)
		})},
		{"plans", cols("id", "issuer_id", "issuer_type", "type", "name", "system_name", "state", "position", "cost_per_month", "tenant_id", "created_at", "updated_at", "description"), func(w *tsv) error {
			for _, pl := range m.plans() {
				w.Int(pl.ID)
				w.Int(pl.IssuerID)
				w.Str(pl.IssuerType)
				w.Str(pl.Type)
				w.Str(pl.Name)
				w.Str(pl.SystemName)
				w.Str(pl.State)
				w.Int(pl.ID % 5)
				w.Str(fmt.Sprintf("%d.%04d", pl.ID%100, pl.ID%7))
				w.Int(pl.TenantID)
				w.Time(m.now.AddDate(-2, 0, 0))
				w.Time(m.now.AddDate(-1, 0, 0))
				w.Null()
				w.End()
			}
			return nil
		}},
		{"metrics", cols("id", "system_name", "description", "unit", "created_at", "updated_at", "service_id", "friendly_name", "parent_id", "tenant_id", "owner_id", "owner_type"), func(w *tsv) error {
			seen := map[int64]bool{}
			for _, s := range m.services {
				for _, mt := range s.allMetrics() {
					if seen[mt.ID] {
						continue
					}
					seen[mt.ID] = true
					w.Int(mt.ID)
					w.Str(mt.SystemName)
					w.Null()
					w.Str(mt.Unit)
					w.Time(s.CreatedAt)
					w.Time(s.CreatedAt)
					w.IntOrNull(mt.ServiceID)
					w.Str(mt.Friendly)
					w.IntOrNull(mt.ParentID)
					w.Int(mt.TenantID)
					w.Int(mt.OwnerID)
					w.Str(mt.OwnerType)
					w.End()
				}
			}
			return nil
		}},
		{"usage_limits", cols("id", "metric_id", "period", "value", "created_at", "updated_at", "plan_id", "plan_type", "tenant_id"), func(w *tsv) error {
			id := int64(0)
			for _, pl := range m.plans() {
				for _, l := range pl.Limits {
					id++
					w.Int(id)
					w.Int(l.MetricID)
					w.Str(l.Period)
					w.Str(strconv.FormatUint(l.Value, 10))
					w.Time(m.now.AddDate(-1, 0, 0))
					w.Time(m.now.AddDate(-1, 0, 0))
					w.Int(pl.ID)
					w.Str(pl.Type)
					w.Int(pl.TenantID)
					w.End()
				}
			}
			return nil
		}},
		{"cinstances", cols("id", "plan_id", "user_account_id", "user_key", "created_at", "updated_at", "state", "description", "application_id", "name", "type", "redirect_url", "tenant_id", "first_traffic_at", "first_daily_traffic_at", "service_id", "accepted_at"), func(w *tsv) error {
			for _, a := range m.apps {
				w.Int(a.ID)
				w.Int(a.Plan.ID)
				w.Int(a.BuyerID)
				w.StrOrNull(a.UserKey)
				w.Time(a.CreatedAt)
				w.Time(a.CreatedAt.Add(time.Hour))
				w.Str(a.State)
				if a.ID%3 == 0 {
					w.Null()
				} else {
					w.Str("Aplicación «" + a.Name + "»")
				}
				w.Str(a.ApplicationID)
				w.Str(a.Name)
				w.Str("Cinstance")
				w.StrOrNull(a.RedirectURL)
				w.Int(a.TenantID)
				if a.Traffic {
					w.Time(a.CreatedAt.Add(72 * time.Hour))
					w.Time(m.now.Add(-time.Duration(a.ID%48) * time.Hour).Truncate(24 * time.Hour))
				} else {
					w.Null()
					w.Null()
				}
				w.Int(a.Service.ID)
				w.Time(a.CreatedAt)
				w.End()
			}
			return nil
		}},
		{"application_keys", cols("application_id", "value", "created_at", "updated_at", "tenant_id"), m.appValues(func(a *app) []string { return a.Keys })},
		{"referrer_filters", cols("application_id", "value", "created_at", "updated_at", "tenant_id"), m.appValues(func(a *app) []string { return a.Referrers })},
		{"proxy_rules", cols("id", "proxy_id", "http_method", "pattern", "metric_id", "metric_system_name", "delta", "tenant_id", "created_at", "updated_at", "redirect_url", "position", "last", "owner_id", "owner_type"), func(w *tsv) error {
			for _, s := range m.services {
				names := map[int64]string{}
				for _, mt := range s.allMetrics() {
					names[mt.ID] = mt.SystemName
				}
				for _, r := range s.Proxy.Rules {
					w.Int(r.ID)
					w.Int(r.ProxyID)
					w.Str(r.HTTPMethod)
					w.Str(r.Pattern)
					w.Int(r.MetricID)
					w.Str(names[r.MetricID])
					w.Int(r.Delta)
					w.Int(r.TenantID)
					w.Time(s.CreatedAt)
					w.Time(s.CreatedAt)
					w.Null()
					w.Int(r.Position)
					w.Bool(r.Last)
					w.Int(r.OwnerID)
					w.Str(r.OwnerType)
					w.End()
				}
			}
			return nil
		}},
		{"proxy_configs", cols("id", "proxy_id", "user_id", "version", "tenant_id", "environment", "content", "created_at", "updated_at", "hosts"), func(w *tsv) error {
			id := int64(0)
			for _, s := range m.services {
				for _, env := range []string{"sandbox", "production"} {
					for v := 1; v <= s.Proxy.Versions; v++ {
						id++
						at := s.CreatedAt.Add(time.Duration(v) * 24 * time.Hour)
						w.Int(id)
						w.Int(s.Proxy.ID)
						w.Null()
						w.Int(int64(v))
						w.Int(s.TenantID)
						w.Str(env)
						w.Str(m.proxyConfigContent(s, v, env))
						w.Time(at)
						w.Time(at)
						w.Str("|" + hostOf(s.Proxy.Endpoint) + "|" + hostOf(s.Proxy.Sandbox) + "|")
						w.End()
					}
				}
			}
			return nil
		}},
		{"service_tokens", cols("service_id", "value", "created_at", "updated_at", "tenant_id"), m.each(func(w *tsv, s *service) {
			w.Int(s.ID)
			w.Str(s.Tokens[0])
			w.Time(s.CreatedAt)
			w.Time(s.CreatedAt)
			w.Int(s.TenantID)
		})},
		m.invoicesTable(), m.invoiceCountersTable(),
	}
}

// each returns a generator writing one row per service (f may write none).
func (m *model) each(f func(*tsv, *service)) func(*tsv) error {
	return func(w *tsv) error {
		for _, s := range m.services {
			before := w.col
			f(w, s)
			if w.col > before {
				w.End()
			}
		}
		return nil
	}
}

func (m *model) providerAccounts() []*account {
	out := make([]*account, 0, len(m.provs))
	for _, p := range m.provs {
		out = append(out, p.acct)
	}
	return out
}

func (m *model) plans() []*plan {
	var out []*plan
	for i, s := range m.services {
		if i > 0 && s.prov != nil && s == s.prov.services[0] {
			out = append(out, s.prov.accountPlan)
		}
		out = append(out, s.AppPlans...)
		out = append(out, s.ServicePlan)
	}
	return out
}

// invoices: a few monthly invoices per approved buyer, numbered per
// provider and month as sp_invoices_friendly_id would.
type invoice struct {
	id, provider, buyer int64
	period              time.Time
	friendly, state     string
}

func (m *model) invoices() ([]invoice, map[[2]string]int) {
	r := rand.New(rand.NewPCG(uint64(m.seed), 0x1afc))
	counters := map[[2]string]int{}
	var out []invoice
	id := int64(0)
	for _, p := range m.provs {
		for _, b := range p.buyers {
			for k := 0; k < r.IntN(4); k++ {
				id++
				period := time.Date(m.now.Year(), m.now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -k-1, 0)
				prefix := period.Format("2006-01")
				key := [2]string{fmt.Sprint(p.acct.ID), prefix}
				counters[key]++
				out = append(out, invoice{id: id, provider: p.acct.ID, buyer: b.ID, period: period,
					friendly: fmt.Sprintf("%s-%08d", prefix, counters[key]), state: []string{"paid", "paid", "pending", "open"}[r.IntN(4)]})
			}
		}
	}
	return out, counters
}

func (m *model) invoicesTable() mysqlTable {
	return mysqlTable{"invoices", cols("id", "provider_account_id", "buyer_account_id", "paid_at", "created_at", "updated_at", "due_on", "period", "issued_on", "state", "friendly_id", "tenant_id", "currency"), func(w *tsv) error {
		inv, _ := m.invoices()
		for _, in := range inv {
			w.Int(in.id)
			w.Int(in.provider)
			w.Int(in.buyer)
			if in.state == "paid" {
				w.Time(in.period.AddDate(0, 1, 5))
			} else {
				w.Null()
			}
			w.Time(in.period.AddDate(0, 1, 0))
			w.Time(in.period.AddDate(0, 1, 1))
			w.Str(in.period.AddDate(0, 1, 14).Format("2006-01-02"))
			w.Str(in.period.Format("2006-01-02"))
			w.Str(in.period.AddDate(0, 1, 0).Format("2006-01-02"))
			w.Str(in.state)
			w.Str(in.friendly)
			w.Int(in.provider)
			w.Str("EUR")
			w.End()
		}
		return nil
	}}
}

func (m *model) invoiceCountersTable() mysqlTable {
	return mysqlTable{"invoice_counters", cols("provider_account_id", "invoice_prefix", "invoice_count", "created_at", "updated_at"), func(w *tsv) error {
		_, counters := m.invoices()
		keys := make([]string, 0, len(counters))
		byKey := map[string][2]string{}
		for k := range counters {
			s := k[0] + "/" + k[1]
			keys = append(keys, s)
			byKey[s] = k
		}
		for _, s := range sortStrings(keys) {
			k := byKey[s]
			w.Str(k[0])
			w.Str(k[1])
			w.Int(int64(counters[k]))
			w.Time(m.now)
			w.Time(m.now)
			w.End()
		}
		return nil
	}}
}

// appValues generates the rows of a per-application value table
// (application_keys, referrer_filters): one row per value of each app.
func (m *model) appValues(values func(*app) []string) func(*tsv) error {
	return func(w *tsv) error {
		for _, a := range m.apps {
			for _, v := range values(a) {
				w.Int(a.ID)
				w.Str(v)
				w.Time(a.CreatedAt)
				w.Time(a.CreatedAt)
				w.Int(a.TenantID)
				w.End()
			}
		}
		return nil
	}
}
