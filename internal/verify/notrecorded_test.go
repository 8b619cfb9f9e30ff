package verify

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/e2e/seed"
	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// Probes are best-effort at backup time: when the system database lacks a
// table the sampler reads, the verify component records why and the
// backup succeeds; replaying that snapshot's probes then fails naming the
// reason. A failure to reach the database still fails the backup.
func TestProbesNotRecordedWhenTheSchemaIsUnreadable(t *testing.T) {
	ctx := context.Background()
	for _, table := range []string{"service_tokens", "proxy_rules"} {
		t.Run("without "+table, func(t *testing.T) {
			my := testenv.MySQL(t)
			r := testenv.StartRedis(t, testenv.RedisOptions{})
			if _, err := seed.Generate(ctx, seed.Targets{MySQLDSN: my.DSN, BackendRedisURL: r.URL},
				seed.Options{Seed: 11, Scale: 1 << 20, Now: time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)}); err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open("mysql", my.DSN)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.ExecContext(ctx, "DROP TABLE "+table); err != nil {
				t.Fatal(err)
			}
			opt, _ := redis.ParseURL(r.URL)
			rdb := redis.NewClient(opt)
			defer rdb.Close()

			mem := artifact.NewMemory()
			if err := (&Recorder{OpenSystemDB: func() (*sql.DB, error) { return sql.Open("mysql", my.DSN) }, Redis: opt}).Backup(ctx, mem, nil); err != nil {
				t.Fatalf("the backup of the probes failed instead of recording why: %v", err)
			}
			reason := NotRecorded(mem)
			if !strings.Contains(reason, table) {
				t.Fatalf("the snapshot does not record why there are no probes (%q): %q", table, reason)
			}
			if _, err := Load(ctx, mem); err == nil || !strings.Contains(err.Error(), table) || errs.Hint(err) == "" {
				t.Fatalf("loading the probes: want an error naming %s with a hint, got %v", table, err)
			}
			_, err = Run(ctx, Inputs{SystemDB: db, BackendRedis: rdb, Probes: mem}, nil)
			if err == nil || !strings.Contains(err.Error(), table) || !strings.Contains(err.Error(), "no verification probes") {
				t.Fatalf("verify of the snapshot: want a failure naming %s, got %v", table, err)
			}
			t.Logf("%v", err)
			// Consistency checks alone (verify --consistency-only) do not
			// read the probes.
			if _, err := Run(ctx, Inputs{SystemDB: db, BackendRedis: rdb}, nil); err != nil && strings.Contains(err.Error(), "no verification probes") {
				t.Fatalf("consistency-only verify needs the probes: %v", err)
			}
		})
	}

	t.Run("unreachable database", func(t *testing.T) {
		r := testenv.StartRedis(t, testenv.RedisOptions{})
		opt, _ := redis.ParseURL(r.URL)
		err := (&Recorder{OpenSystemDB: func() (*sql.DB, error) { return sql.Open("mysql", "root:x@tcp(127.0.0.1:1)/system?timeout=2s") }, Redis: opt}).Backup(ctx, artifact.NewMemory(), nil)
		if err == nil {
			t.Fatal("a probe recorder that cannot connect succeeded")
		}
	})
}

// A probes.json that does not parse is damaged content: exit 3, as in
// every engine.
func TestDamagedProbesExitThree(t *testing.T) {
	ctx := context.Background()
	mem := artifact.NewMemory()
	if err := Save(ctx, mem, []Probe{{ServiceID: "1", AppID: "a", Metric: "hits"}, {ServiceID: "2", AppID: "b", Metric: "hits"}}); err != nil {
		t.Fatal(err)
	}
	good := mem.Bytes("probes.json")
	bad := artifact.NewMemory()
	w, err := bad.Create(ctx, "probes.json", "json")
	if err != nil {
		t.Fatal(err)
	}
	w.Write(good[:len(good)/2])
	w.Close()
	if _, err := Load(ctx, bad); err == nil || errs.Code(err) != errs.Mismatch || !strings.Contains(err.Error(), "probes.json") {
		t.Fatalf("truncated probes.json: want exit %d naming the file, got %v (exit %d)", errs.Mismatch, err, errs.Code(err))
	}
}
