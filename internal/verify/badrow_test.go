package verify

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestOneBadRowDoesNotBlindVerify corrupts one service's stored proxy
// configuration and removes one application's plan: each is reported as
// that service's or that application's failure, while every other probe
// is still replayed through the gateway and every other check still runs.
func TestOneBadRowDoesNotBlindVerify(t *testing.T) {
	ctx := context.Background()
	_, db, rdb := installation(t, 11, time.Now().UTC().Truncate(time.Minute))
	probes, err := Record(ctx, db, rdb, 40, nil)
	if err != nil {
		t.Fatal(err)
	}
	perService := map[string]int{}
	for _, p := range probes {
		if len(p.Hosts) > 0 && p.Path != "" {
			perService[p.ServiceID]++
		}
	}
	if len(perService) < 2 {
		t.Fatalf("probes of %d services; need two", len(perService))
	}
	var victim string
	for s := range perService {
		victim = s
		break
	}
	res, err := db.ExecContext(ctx, `UPDATE proxy_configs SET content = '{"proxy": {"hosts": [' WHERE environment = 'production'
		AND proxy_id IN (SELECT id FROM proxies WHERE service_id = ?)`, victim)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		t.Fatalf("service %s has no production proxy_configs row", victim)
	}

	mism, sent, err := ReplayGateway(ctx, db, rdb, probes, nil)
	if err != nil {
		t.Fatalf("one corrupted proxy_configs row stopped the gateway replay: %v", err)
	}
	var named int
	for _, m := range mism {
		if m.ServiceID != victim {
			t.Errorf("a healthy service failed: %+v", m)
			continue
		}
		if !strings.Contains(m.Got, "proxy configuration") {
			t.Errorf("the corrupted service's failure does not say what is wrong: %+v", m)
		}
		named++
	}
	if named != 1 {
		t.Fatalf("the corrupted service %s is reported %d times: %+v", victim, named, mism)
	}
	if want := len(probes) - perService[victim]; sent < want-len(probes)/2 || sent == 0 {
		t.Fatalf("only %d probes replayed through the gateway (%d probes of healthy services)", sent, want)
	}
	healthy := 0
	for s, n := range perService {
		if s != victim {
			healthy += n
		}
	}
	if sent != healthy {
		t.Fatalf("sent %d probes, want every probe of the healthy services (%d)", sent, healthy)
	}

	// an application whose plan row is gone
	var appID, sid string
	var planID int64
	if err := db.QueryRowContext(ctx, `SELECT c.application_id, c.service_id, c.plan_id FROM cinstances c JOIN services s ON s.id = c.service_id
		WHERE c.type = 'Cinstance' AND c.application_id IS NOT NULL ORDER BY c.id DESC LIMIT 1`).Scan(&appID, &sid, &planID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "UPDATE cinstances SET plan_id = ? WHERE application_id = ? AND service_id = ?", 99999999, appID, sid); err != nil {
		t.Fatal(err)
	}
	checks, err := Consistency(ctx, db, rdb, nil)
	if err != nil {
		t.Fatalf("an application without its plan stopped the consistency checks: %v", err)
	}
	var apps *Check
	for i := range checks {
		if strings.HasPrefix(checks[i].Name, "applications") {
			apps = &checks[i]
		}
	}
	if apps == nil || apps.Passed || !strings.Contains(strings.Join(apps.Examples, ";"), "application "+appID+": plan 99999999") {
		t.Fatalf("the application without a plan is not named: %+v", apps)
	}
	if len(checks) < 4 {
		t.Fatalf("only %d checks ran", len(checks))
	}
}
