package verify

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/e2e/seed"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// installation generates a small installation (system database and
// backend-redis) and returns clients on it.
func installation(t *testing.T, seedN int64, now time.Time) (*seed.Report, *sql.DB, *redis.Client) {
	t.Helper()
	my := testenv.MySQL(t)
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	rep := generate(t, seed.Targets{MySQLDSN: my.DSN, BackendRedisURL: r.URL}, seedN, now)
	return rep, openDB(t, "mysql", my.DSN), redisClient(t, r.URL)
}

// generate seeds a small installation into the targets.
func generate(t *testing.T, tg seed.Targets, seedN int64, now time.Time) *seed.Report {
	t.Helper()
	rep, err := seed.Generate(context.Background(), tg, seed.Options{Seed: seedN, Scale: 2 << 20, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// openDB opens a database/sql handle closed when the test ends.
func openDB(t *testing.T, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestProbesAndConsistencyCatchABrokenApplication generates a small
// installation, records probes, proves they replay identically and every
// consistency check passes, then removes one application's keys from
// backend-redis (a deliberately broken restore): replay and the
// consistency check must both name that application.
func TestProbesAndConsistencyCatchABrokenApplication(t *testing.T) {
	ctx := context.Background()
	rep, db, rdb := installation(t, 7, time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC))

	probes, err := Record(ctx, db, rdb, 50, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(probes) < 5 {
		t.Fatalf("only %d probes for %d tenants", len(probes), len(rep.Tenants))
	}
	services := map[string]bool{}
	authorized := 0
	for _, p := range probes {
		services[p.ServiceID] = true
		if p.Outcome.Authorized {
			authorized++
		}
	}
	if len(services) < 2 || authorized == 0 {
		t.Fatalf("probes not spread or none authorized: %d services, %d authorized", len(services), authorized)
	}
	mism, err := Replay(ctx, rdb, probes, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(mism) != 0 {
		t.Fatalf("replay on the same data differs: %+v", mism)
	}
	checks, err := Consistency(ctx, db, rdb, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range checks {
		if !c.Passed || c.Checked == 0 {
			t.Errorf("check %q on generated data: %+v", c.Name, c)
		}
	}

	// Break one authorized application.
	var victim Probe
	for _, p := range probes {
		if p.Outcome.Authorized {
			victim = p
			break
		}
	}
	keys, err := rdb.Keys(ctx, "application/service_id:"+victim.ServiceID+"/id:"+victim.AppID+"/*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("victim keys: %v %v", keys, err)
	}
	if err := rdb.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
	mism, err = Replay(ctx, rdb, probes, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(mism) != 1 || mism[0].AppID != victim.AppID || mism[0].ServiceID != victim.ServiceID {
		t.Fatalf("mismatches after breaking %s: %+v", victim.AppID, mism)
	}
	checks, err = Consistency(ctx, db, rdb, nil)
	if err != nil {
		t.Fatal(err)
	}
	if checks[0].Passed || !strings.Contains(strings.Join(checks[0].Examples, ";"), victim.AppID) {
		t.Fatalf("application check did not name %s: %+v", victim.AppID, checks[0])
	}
	for _, m := range mism {
		if victim.AppKey != "" && strings.Contains(m.Want+m.Got, victim.AppKey) {
			t.Fatal("mismatch report leaks an application key")
		}
	}
}

// TestGatewayReplayIsRealTrafficAndReadOnly sends the probes through the
// embedded gateway and checks that authorized ones reach the upstream,
// denied ones do not, and that no usage counter changed.
func TestGatewayReplayIsRealTrafficAndReadOnly(t *testing.T) {
	ctx := context.Background()
	_, db, rdb := installation(t, 11, time.Now().UTC().Truncate(time.Minute))
	probes, err := Record(ctx, db, rdb, 40, nil)
	if err != nil {
		t.Fatal(err)
	}
	before, err := rdb.DBSize(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	digest := func() string { v, _ := rdb.Do(ctx, "DEBUG", "DIGEST").Text(); return v }
	d0 := digest()
	mism, sent, err := ReplayGateway(ctx, db, rdb, probes, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sent < len(probes)/2 || len(mism) != 0 {
		t.Fatalf("sent %d of %d probes through the gateway, mismatches %+v", sent, len(probes), mism)
	}
	after, _ := rdb.DBSize(ctx).Result()
	if after != before || digest() != d0 {
		t.Fatalf("the gateway replay changed backend-redis (%d → %d keys)", before, after)
	}
}
