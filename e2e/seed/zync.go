package seed

import (
	"encoding/json"
	"fmt"
	"time"
)

// zyncModel is one row of zync's models table: a Porta object zync syncs.
type zyncModel struct {
	id, tenant, recordID, serviceID int64
	typ                             string // Provider, Service, Proxy, Application
	svc                             *service
	app                             *app
	acct                            *account
}

func (m *model) zyncModels() []zyncModel {
	var out []zyncModel
	add := func(z zyncModel) {
		z.id = int64(len(out) + 1)
		out = append(out, z)
	}
	tenants := append([]*account{m.master}, m.providerAccounts()...)
	for _, t := range tenants {
		add(zyncModel{tenant: t.ID, recordID: t.ID, typ: "Provider", acct: t})
	}
	for _, s := range m.services {
		add(zyncModel{tenant: s.TenantID, recordID: s.ID, typ: "Service", svc: s})
		add(zyncModel{tenant: s.TenantID, recordID: s.Proxy.ID, serviceID: s.ID, typ: "Proxy", svc: s})
	}
	for _, a := range m.apps {
		if a.Service.prov != nil {
			add(zyncModel{tenant: a.TenantID, recordID: a.ID, serviceID: a.Service.ID, typ: "Application", svc: a.Service, app: a})
		}
	}
	return out
}

// zyncEntryData is what UpdateJob fetched from Porta for the model.
func (m *model) zyncEntryData(z zyncModel, version int64) string {
	var v any
	switch z.typ {
	case "Provider":
		v = map[string]any{"id": z.acct.ID, "domain": z.acct.Domain, "admin_domain": z.acct.SelfDomain, "org_name": z.acct.OrgName,
			"state": z.acct.State, "monthly_billing_enabled": true, "monthly_charging_enabled": true, "links": []any{
				map[string]string{"rel": "self", "href": "https://" + z.acct.SelfDomain + "/admin/api/provider"}}}
	case "Service":
		v = map[string]any{"service": map[string]any{"id": z.svc.ID, "name": z.svc.Name, "system_name": z.svc.SystemName, "state": z.svc.State,
			"backend_version": z.svc.BackendVersion, "deployment_option": z.svc.DeploymentOption, "version": version}}
	case "Proxy":
		p := z.svc.Proxy
		v = map[string]any{"proxy": map[string]any{"id": p.ID, "service_id": z.svc.ID, "endpoint": p.Endpoint, "sandbox_endpoint": p.Sandbox,
			"credentials_location": p.CredentialsLocation, "deployment_option": z.svc.DeploymentOption, "lock_version": p.LockVersion + version,
			"oidc_issuer_endpoint": nil, "policies_config": json.RawMessage(p.PoliciesConfig), "hosts": []string{hostOf(p.Endpoint), hostOf(p.Sandbox)}}}
	case "Application":
		a := z.app
		v = map[string]any{"application": map[string]any{"id": a.ID, "state": a.State, "service_id": a.Service.ID, "plan_id": a.Plan.ID,
			"application_id": a.ApplicationID, "name": a.Name, "description": "Aplicación de prueba — テスト", "redirect_url": a.RedirectURL,
			"first_traffic_at": nil, "keys": a.Keys, "version": version}}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

var zyncPGShare = []struct {
	table   string
	share   float64
	nominal int64
}{
	{"entries", 0.60, 351},
	{"notifications", 0.25, 224},
	{"que_jobs", 0.15, 335},
}

func (m *model) zyncTables(budget int64) []pgTable {
	models := m.zyncModels()
	rows := map[string]int64{}
	for _, g := range zyncPGShare {
		rows[g.table] = max(int64(float64(budget)*g.share)/g.nominal, int64(len(models)))
	}
	ts := func(w *tsv, t time.Time) { w.Time(t); w.Time(t) }
	tenants := append([]*account{m.master}, m.providerAccounts()...)
	tokens := map[int64]string{m.master.ID: m.secrets.MasterAccessToken}
	for _, p := range m.provs {
		tokens[p.acct.ID] = p.adminToken.Value
	}
	type integ struct {
		id, tenant int64
		typ        string
	}
	var integrations []integ
	for _, t := range tenants {
		integrations = append(integrations, integ{int64(len(integrations) + 1), t.ID, "Integration::Kubernetes"})
	}
	k8sInteg := map[int64]int64{}
	for _, in := range integrations {
		k8sInteg[in.tenant] = in.id
	}
	base := m.now.AddDate(0, -6, 0)
	return []pgTable{
		{"entries", "id, data, tenant_id, model_id, created_at, updated_at", true, func(w *tsv) error {
			n := rows["entries"]
			for i := int64(1); i <= n; i++ {
				z := models[(i-1)%int64(len(models))]
				w.Int(i)
				w.Str(m.zyncEntryData(z, (i-1)/int64(len(models))+1))
				w.Int(z.tenant)
				w.Int(z.id)
				ts(w, base.Add(time.Duration(i)*time.Duration(int64(180*24*time.Hour)/n)))
				w.End()
			}
			return nil
		}},
		{"notifications", "id, model_id, data, tenant_id, created_at, updated_at", true, func(w *tsv) error {
			r := m.rng("zync-notifications")
			n := rows["notifications"]
			for i := int64(1); i <= n; i++ {
				z := models[r.IntN(len(models))]
				data := fmt.Sprintf(`{"id": %d, "type": %q, "event_id": %q, "tenant_id": %d, "service_id": %d, "parent_event_id": null, "parent_event_type": null}`,
					z.recordID, z.typ, uuid(r), z.tenant, z.serviceID)
				w.Int(i)
				w.Int(z.id)
				w.Str(data)
				w.Int(z.tenant)
				ts(w, base.Add(time.Duration(i)*time.Duration(int64(180*24*time.Hour)/n)))
				w.End()
			}
			return nil
		}},
		{"que_jobs", "priority, run_at, id, job_class, error_count, last_error_message, queue, finished_at, expired_at, args, data, job_schema_version", true, func(w *tsv) error {
			r := m.rng("zync-que")
			n := rows["que_jobs"]
			classes := []string{"UpdateJob", "ProcessEntryJob", "ProcessIntegrationEntryJob", "DeleteJob"}
			for i := int64(1); i <= n; i++ {
				z := models[r.IntN(len(models))]
				at := base.Add(time.Duration(i) * time.Duration(int64(180*24*time.Hour)/n))
				w.Int(100)
				w.Time(at)
				w.Int(i)
				w.Str(classes[r.IntN(len(classes))])
				errc := int64(0)
				if r.IntN(20) == 0 {
					errc = int64(1 + r.IntN(5))
				}
				w.Int(errc)
				if errc > 0 {
					w.Str("Integration::KubernetesService::MissingStatusIngress: Kubernetes resource status missing 'ingress' property")
				} else {
					w.Null()
				}
				w.Str("default")
				if i < n-int64(len(models)) {
					w.Time(at.Add(2 * time.Second)) // finished; the tail is still pending
				} else {
					w.Null()
				}
				w.Null()
				w.Str(fmt.Sprintf(`[{"_aj_globalid": "gid://zync/Model/%d"}, {"job_id": %q, "locale": "en", "priority": null, "timezone": "UTC", "job_class": "UpdateJob", "arguments": [{"_aj_globalid": "gid://zync/Model/%d"}], "executions": 0}]`, z.id, uuid(r), z.id))
				w.Str("{}")
				w.Int(1)
				w.End()
			}
			return nil
		}},
		{"tenants", "id, endpoint, access_token, created_at, updated_at", true, func(w *tsv) error {
			for _, t := range tenants {
				w.Int(t.ID)
				w.Str("https://" + t.SelfDomain + "/")
				w.Str(tokens[t.ID])
				ts(w, t.CreatedAt)
				w.End()
			}
			return nil
		}},
		{"models", "id, tenant_id, record_type, record_id, created_at, updated_at", true, func(w *tsv) error {
			for _, z := range models {
				w.Int(z.id)
				w.Int(z.tenant)
				w.Str(z.typ)
				w.Int(z.recordID)
				ts(w, base)
				w.End()
			}
			return nil
		}},
		{"providers", "id, tenant_id, created_at, updated_at", true, shadow(models, "Provider", false, ts, base)},
		{"services", "id, tenant_id, created_at, updated_at", true, shadow(models, "Service", false, ts, base)},
		{"proxies", "id, tenant_id, service_id, created_at, updated_at", true, shadow(models, "Proxy", true, ts, base)},
		{"applications", "id, tenant_id, service_id, created_at, updated_at", true, shadow(models, "Application", true, ts, base)},
		{"integrations", "id, configuration, type, tenant_id, model_id, state, created_at, updated_at", true, func(w *tsv) error {
			for _, in := range integrations {
				w.Int(in.id)
				w.Str(`{}`)
				w.Str(in.typ)
				w.Int(in.tenant)
				w.Null()
				w.Str("active")
				ts(w, base)
				w.End()
			}
			return nil
		}},
		{"integration_states", "id, started_at, finished_at, success, model_id, integration_id, entry_id, created_at, updated_at", true, func(w *tsv) error {
			id := int64(0)
			for _, z := range models {
				if z.typ != "Proxy" && z.typ != "Provider" {
					continue
				}
				id++
				w.Int(id)
				w.Time(m.now.Add(-time.Hour))
				w.Time(m.now.Add(-time.Hour + 3*time.Second))
				w.BoolPG(true)
				w.Int(z.id)
				w.Int(k8sInteg[z.tenant])
				w.Int(z.id) // the first entries row of each model has id = model id
				ts(w, base)
				w.End()
			}
			return nil
		}},
		{"update_states", "id, started_at, finished_at, success, model_id, created_at, updated_at", true, func(w *tsv) error {
			for _, z := range models {
				w.Int(z.id)
				w.Time(m.now.Add(-2 * time.Hour))
				w.Time(m.now.Add(-2*time.Hour + time.Second))
				w.BoolPG(z.id%11 != 0)
				w.Int(z.id)
				ts(w, base)
				w.End()
			}
			return nil
		}},
		{"que_values", "key, value", false, func(w *tsv) error {
			w.Str("que_version")
			w.Str(`{"version": 4}`)
			w.End()
			return nil
		}},
		{"message_bus", "id, channel, value, added_at", true, func(w *tsv) error {
			for i := int64(1); i <= 5; i++ {
				w.Int(i)
				w.Str("/que/jobs")
				w.Str(fmt.Sprintf(`{"job": %d}`, i))
				w.Time(m.now.Add(-time.Duration(i) * time.Minute))
				w.End()
			}
			return nil
		}},
		{"schema_migrations", "version", false, func(w *tsv) error {
			for _, v := range []string{"20170602105141", "20170602112320", "20190530080459", "20200921133210", "20230418161113"} {
				w.Str(v)
				w.End()
			}
			return nil
		}},
		{"ar_internal_metadata", "key, value, created_at, updated_at", false, func(w *tsv) error {
			w.Str("environment")
			w.Str("production")
			ts(w, base)
			w.End()
			return nil
		}},
	}
}

// shadow writes zync's local shadow table for one record type (ids =
// Porta ids).
func shadow(models []zyncModel, typ string, withService bool, ts func(*tsv, time.Time), at time.Time) func(*tsv) error {
	return func(w *tsv) error {
		for _, z := range models {
			if z.typ != typ {
				continue
			}
			w.Int(z.recordID)
			w.Int(z.tenant)
			if withService {
				w.Int(z.serviceID)
			}
			ts(w, at)
			w.End()
		}
		return nil
	}
}
