package seed

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Growing tables: the part of system-mysql that grows with time (alerts,
// audits, log entries, sessions, events). Their row counts are fixed by
// the byte budget and nominal row sizes, so counts depend only on the
// scale; their content comes from one PCG stream per table.

var growingShare = []struct {
	table   string
	share   float64
	nominal int64 // average TSV bytes per row, measured on generated data
}{
	{"alerts", 0.30, 84},
	{"audits", 0.25, 444},
	{"event_store_events", 0.20, 761},
	{"log_entries", 0.15, 147},
	{"user_sessions", 0.10, 201},
}

// growingRows returns the rows each growing table gets for a MySQL budget.
func growingRows(budget int64) map[string]int64 {
	out := map[string]int64{}
	for _, g := range growingShare {
		out[g.table] = max(int64(float64(budget)*g.share)/g.nominal, 10)
	}
	return out
}

// alertEvents returns how many backend alert events the alerts table holds
// (each event gives a provider row, and every other one a buyer row too).
func alertEvents(budget int64) int64 {
	return max(growingRows(budget)["alerts"]*2/3, 1)
}

func (m *model) rng(stream string) *rand.Rand {
	var h uint64 = 1469598103934665603
	for i := 0; i < len(stream); i++ {
		h = (h ^ uint64(stream[i])) * 1099511628211
	}
	return rand.New(rand.NewPCG(uint64(m.seed), h))
}

// trafficApps are buyer applications with traffic: the ones alerts,
// stats and events talk about.
func (m *model) trafficApps() []*app {
	var out []*app
	for _, a := range m.apps {
		if a.Traffic {
			out = append(out, a)
		}
	}
	return out
}

var alertLevels = []int64{50, 80, 90, 100, 120, 150, 200, 300}

func (m *model) growingTables(budget int64) []mysqlTable {
	rows := growingRows(budget)
	apps := m.trafficApps()
	if len(apps) == 0 {
		apps = m.apps
	}
	return []mysqlTable{
		{"alerts", cols("id", "account_id", "timestamp", "state", "cinstance_id", "utilization", "level", "alert_id", "message", "tenant_id", "service_id"), func(w *tsv) error {
			r := m.rng("alerts")
			events := alertEvents(budget)
			span := 730 * 24 * time.Hour
			id := int64(0)
			for e := int64(1); e <= events; e++ {
				a := apps[r.IntN(len(apps))]
				ts := m.now.Add(-span + time.Duration(float64(span)*float64(e)/float64(events+1))).Add(-time.Duration(r.IntN(600)) * time.Second)
				level := alertLevels[r.IntN(len(alertLevels))]
				util := float64(level)/100 + float64(r.IntN(9))/100
				mt := a.Service.Metrics[0].SystemName
				maxv := int64(1000 * (1 + r.IntN(50)))
				msg := fmt.Sprintf("%s per day: %d/%d", mt, int64(util*float64(maxv)), maxv)
				state := "unread"
				if age := m.now.Sub(ts); age > 14*24*time.Hour {
					state = []string{"read", "read", "deleted", "unread"}[r.IntN(4)]
				}
				accounts := []int64{a.TenantID}
				if e%2 == 0 {
					accounts = append(accounts, a.BuyerID)
				}
				for _, acc := range accounts {
					id++
					w.Int(id)
					w.Int(acc)
					w.Time(ts)
					w.Str(state)
					w.Int(a.ID)
					w.Str(fmt.Sprintf("%.2f", util))
					w.Int(level)
					w.Int(e)
					w.Str(msg)
					w.Int(a.TenantID)
					w.Int(a.Service.ID)
					w.End()
				}
			}
			return nil
		}},
		{"audits", cols("id", "auditable_id", "auditable_type", "user_id", "user_type", "username", "action", "version", "created_at", "tenant_id", "provider_id", "kind", "audited_changes", "comment", "associated_id", "associated_type", "remote_address", "request_uuid"), func(w *tsv) error {
			r := m.rng("audits")
			n := rows["audits"]
			span := 180 * 24 * time.Hour // 3-month retention: half of it is purgeable
			for i := int64(1); i <= n; i++ {
				a := apps[r.IntN(len(apps))]
				ts := m.now.Add(-span + time.Duration(float64(span)*float64(i)/float64(n+1)))
				action := []string{"create", "update", "update", "update", "destroy"}[r.IntN(5)]
				w.Int(i)
				w.Int(a.ID)
				w.Str("Cinstance")
				if r.IntN(4) == 0 {
					w.Null()
					w.Null()
					w.Null()
				} else {
					w.Int(a.BuyerID)
					w.Str("User")
					w.Str(fmt.Sprintf("dev%d", a.BuyerID))
				}
				w.Str(action)
				w.Int(1 + i%17)
				w.Time(ts)
				w.Int(a.TenantID)
				w.Int(a.TenantID)
				w.Str("Cinstance")
				w.Str(fmt.Sprintf("---\nstate:\n- pending\n- live\nname:\n- %s\n- %s (renamed ✓)\ndescription:\n- \n- |-\n  Línea uno\n  строка два\n  行三\nupdated_at:\n- %s\n- %s\nuser_key:\n- %s\n- %s\n",
					a.Name, a.Name, ts.Add(-time.Hour).Format(time.RFC3339), ts.Format(time.RFC3339), hexToken(r, 32), hexToken(r, 32)))
				w.Null()
				w.Int(a.Plan.ID)
				w.Str("Plan")
				w.Str(fmt.Sprintf("10.%d.%d.%d", r.IntN(256), r.IntN(256), r.IntN(256)))
				w.Str(uuid(r))
				w.End()
			}
			return nil
		}},
		{"event_store_events", cols("id", "event_type", "event_id", "stream", "data", "metadata", "provider_id", "tenant_id", "created_at"), func(w *tsv) error {
			r := m.rng("event_store_events")
			n := rows["event_store_events"]
			span := 14 * 24 * time.Hour // weekly purge of > 1 week: half is purgeable
			types := []string{"Applications::ApplicationCreatedEvent", "ZyncEvent", "Alerts::LimitAlertReachedProviderEvent", "Cinstances::CinstancePlanChangedEvent", "ZyncResyncEvent"}
			for i := int64(1); i <= n; i++ {
				a := apps[r.IntN(len(apps))]
				ts := m.now.Add(-span + time.Duration(float64(span)*float64(i)/float64(n+1)))
				typ := types[r.IntN(len(types))]
				w.Int(i)
				w.Str(typ)
				w.Str(uuid(r))
				w.Str(fmt.Sprintf("%s-%d", typ, a.ID))
				w.Str(fmt.Sprintf("---\n:application: !ruby/object:Cinstance\n  raw_attributes:\n    id: %d\n    plan_id: %d\n    user_account_id: %d\n    application_id: %s\n    state: %s\n    name: %q\n    service_id: %d\n    tenant_id: %d\n  new_record: false\n  active_record_yaml_version: 2\n:provider: !ruby/object:Account\n  raw_attributes:\n    id: %d\n    org_name: Provider\n    domain: tenant.%s\n:service_id: %d\n:tenant_id: %d\n:parent_event_id: %s\n",
					a.ID, a.Plan.ID, a.BuyerID, a.ApplicationID, a.State, a.Name, a.Service.ID, a.TenantID, a.TenantID, m.wildcard, a.Service.ID, a.TenantID, uuid(r)))
				w.Str(fmt.Sprintf("---\n:timestamp: %s\n:request_uuid: %s\n:remote_ip: 10.0.%d.%d\n", ts.Format(time.RFC3339Nano), uuid(r), r.IntN(256), r.IntN(256)))
				w.Int(a.TenantID)
				w.Int(a.TenantID)
				w.Time(ts)
				w.End()
			}
			return nil
		}},
		{"log_entries", cols("id", "tenant_id", "provider_id", "buyer_id", "level", "description", "created_at", "updated_at"), func(w *tsv) error {
			r := m.rng("log_entries")
			n := rows["log_entries"]
			span := 365 * 24 * time.Hour // 6-month retention
			msgs := []string{"Application '%s' was suspended because its plan limits were exceeded", "Payment for invoice of «%s» failed: card declined", "Application '%s' changed plan — 旧プラン → 新プラン", "Webhook delivery for '%s' failed after 3 attempts"}
			for i := int64(1); i <= n; i++ {
				a := apps[r.IntN(len(apps))]
				ts := m.now.Add(-span + time.Duration(float64(span)*float64(i)/float64(n+1)))
				w.Int(i)
				w.Int(a.TenantID)
				w.Int(a.TenantID)
				if r.IntN(5) == 0 {
					w.Null()
				} else {
					w.Int(a.BuyerID)
				}
				w.Int([]int64{10, 20, 30}[r.IntN(3)])
				w.Str(fmt.Sprintf(msgs[r.IntN(len(msgs))], a.Name) + fmt.Sprintf(" (ref %s)", hexToken(r, 12)))
				w.Time(ts)
				w.Time(ts)
				w.End()
			}
			return nil
		}},
		{"user_sessions", cols("id", "user_id", "key", "accessed_at", "revoked_at", "ip", "user_agent", "sso_authorization_id", "secured_until"), func(w *tsv) error {
			r := m.rng("user_sessions")
			n := rows["user_sessions"]
			span := 60 * 24 * time.Hour // 2-week TTL
			agents := []string{"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", "curl/8.5.0"}
			for i := int64(1); i <= n; i++ {
				u := m.users[r.IntN(len(m.users))]
				ts := m.now.Add(-span + time.Duration(float64(span)*float64(i)/float64(n+1)))
				w.Int(i)
				w.Int(u.ID)
				w.Str(fmt.Sprintf("%s%08x", hexToken(r, 56), i))
				w.Time(ts)
				if r.IntN(10) == 0 {
					w.Time(ts.Add(time.Hour))
				} else {
					w.Null()
				}
				w.Str(fmt.Sprintf("192.168.%d.%d", r.IntN(256), r.IntN(256)))
				w.Str(agents[r.IntN(len(agents))])
				w.Null()
				w.Time(ts.Add(30 * time.Minute))
				w.End()
			}
			return nil
		}},
	}
}

func uuid(r *rand.Rand) string {
	h := hexToken(r, 32)
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
}
