package verify

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/e2e/seed"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"
)

// TestZyncConsistency generates System and zync databases that agree and
// checks every zync ↔ System check passes with counts; then removes one
// proxy's zync model and one tenant (a restore that lost zync rows): the
// checks must fail naming them, with the resync that fixes it, and Run's
// verdict must be a failure.
func TestZyncConsistency(t *testing.T) {
	ctx := context.Background()
	my := testenv.MySQL(t)
	pg := testenv.Postgres(t)
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	generate(t, seed.Targets{MySQLDSN: my.DSN, BackendRedisURL: r.URL, PostgresURL: pg.URL}, 5, time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC))
	db, zdb := openDB(t, "mysql", my.DSN), openDB(t, "pgx", pg.URL)

	checks, err := ZyncConsistency(ctx, db, zdb, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(checks) != len(zyncKinds) {
		t.Fatalf("%d zync checks", len(checks))
	}
	for _, c := range checks {
		if !c.Passed || c.Checked == 0 || !strings.HasPrefix(c.Detail, "System ") {
			t.Errorf("check %q on agreeing data: %+v", c.Name, c)
		}
	}

	var proxyID, tenantID int64
	var sysName string
	if err := db.QueryRowContext(ctx, `SELECT p.id, s.system_name FROM proxies p JOIN services s ON s.id = p.service_id ORDER BY p.id DESC LIMIT 1`).Scan(&proxyID, &sysName); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, `SELECT id FROM accounts WHERE provider = 1 AND (master IS NULL OR master = 0) ORDER BY id LIMIT 1`).Scan(&tenantID); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`DELETE FROM entries WHERE model_id IN (SELECT id FROM models WHERE record_type = 'Proxy' AND record_id = $1)`,
		`DELETE FROM models WHERE record_type = 'Proxy' AND record_id = $1`,
	} {
		if _, err := zdb.ExecContext(ctx, q, proxyID); err != nil {
			t.Fatal(err)
		}
	}
	// a stale zync application System does not hold
	if _, err := zdb.ExecContext(ctx, `INSERT INTO models (tenant_id, record_type, record_id, created_at, updated_at) VALUES ($1, 'Application', 987654321, now(), now())`, tenantID); err != nil {
		t.Fatal(err)
	}

	checks, err = ZyncConsistency(ctx, db, zdb, nil)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Check{}
	for _, c := range checks {
		byName[c.Name] = c
	}
	want := map[string]string{
		"zync proxy models ↔ System proxies":            `proxy ` + itoa64(proxyID) + ` "` + sysName + `": missing in zync — fix: 3scale-ops zync resync`,
		"zync application models ↔ System applications": `zync holds application 987654321, which System does not`,
	}
	for name, example := range want {
		c, ok := byName[name]
		if !ok {
			t.Fatalf("no check %q in %+v", name, checks)
		}
		if c.Passed || c.Failed != 1 || !strings.Contains(strings.Join(c.Examples, "\n"), example) {
			t.Errorf("check %q does not name the difference %q: %+v", name, example, c)
		}
	}
	if c := byName["zync service models ↔ System services"]; !c.Passed {
		t.Errorf("an untouched kind fails: %+v", c)
	}

	rep, err := Run(ctx, Inputs{SystemDB: db, BackendRedis: redisClient(t, r.URL), ZyncDB: zdb}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Passed || rep.Failures() != 2 {
		t.Fatalf("verify passed with zync rows missing: %+v", rep.Checks)
	}

	// zync lost a whole tenant (its models go with it)
	if _, err := zdb.ExecContext(ctx, `DELETE FROM tenants WHERE id = $1`, tenantID); err != nil {
		t.Fatal(err)
	}
	checks, err = ZyncConsistency(ctx, db, zdb, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range checks {
		if c.Name == "zync tenants ↔ System providers" {
			if c.Passed || !strings.Contains(strings.Join(c.Examples, "\n"), "provider "+itoa64(tenantID)+` "`) ||
				!strings.Contains(strings.Join(c.Examples, "\n"), "fix: 3scale-ops zync resync") {
				t.Errorf("the lost tenant is not named: %+v", c)
			}
		}
	}
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

func redisClient(t *testing.T, u string) *redis.Client {
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}
