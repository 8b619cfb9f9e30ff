package verify

import (
	"context"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/e2e/seed"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// TestProbesAndChecksOnPortaPostgres runs every query verification makes
// of the system database on Porta's PostgreSQL schema (booleans, signed
// bigint limits, bigserial ids): probes are recorded and replay
// identically, the gateway replay passes, and every System ↔
// backend-redis and System ↔ zync check passes with rows checked.
func TestProbesAndChecksOnPortaPostgres(t *testing.T) {
	ctx := context.Background()
	sys := testenv.Postgres(t)
	zync := testenv.Postgres(t)
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	generate(t, seed.Targets{SystemPostgresURL: sys.URL, PostgresURL: zync.URL, BackendRedisURL: r.URL}, 9, time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC))
	db, zdb, rdb := openDB(t, "pgx", sys.URL), openDB(t, "pgx", zync.URL), redisClient(t, r.URL)

	var limit string
	if err := db.QueryRowContext(ctx, "SELECT max(value)::text FROM usage_limits").Scan(&limit); err != nil || limit != "9223372036854775807" {
		t.Fatalf("largest usage limit %q (%v): want the signed bigint maximum Porta-on-PostgreSQL holds", limit, err)
	}
	probes, err := Record(ctx, db, rdb, 50, nil)
	if err != nil {
		t.Fatal(err)
	}
	withKey := 0
	for _, p := range probes {
		if p.ServiceToken != "" && (p.ProviderKey != "" || p.AppKey != "" || p.UserKey != "") {
			withKey++
		}
	}
	if len(probes) < 5 || withKey == 0 {
		t.Fatalf("%d probes, %d with credentials", len(probes), withKey)
	}
	if mism, err := Replay(ctx, rdb, probes, nil); err != nil || len(mism) != 0 {
		t.Fatalf("replay on the same data: %v %+v", err, mism)
	}
	if mism, sent, err := ReplayGateway(ctx, db, rdb, probes, nil); err != nil || len(mism) != 0 || sent == 0 {
		t.Fatalf("gateway replay: sent %d, %v %+v", sent, err, mism)
	}
	checks, err := Consistency(ctx, db, rdb, nil)
	if err != nil {
		t.Fatal(err)
	}
	zc, err := ZyncConsistency(ctx, db, zdb, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range append(checks, zc...) {
		if c.Failed != 0 || c.Checked == 0 {
			t.Errorf("check %q on generated Porta-on-PostgreSQL: %+v", c.Name, c)
		}
	}
}
