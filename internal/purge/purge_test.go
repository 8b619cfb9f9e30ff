package purge

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
)

// Porta's alerts table (db/schema.rb, db/postgres_schema.rb) and the
// columns of the self-purged tables that matter here.
var schemas = map[string][]string{
	MySQL: {
		"CREATE TABLE alerts (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, account_id bigint NOT NULL, `timestamp` datetime NOT NULL, " +
			"state varchar(255) NOT NULL, cinstance_id bigint NOT NULL, utilization decimal(6,2) NOT NULL, level int NOT NULL, " +
			"alert_id bigint NOT NULL, message text, tenant_id bigint, service_id bigint, " +
			"KEY index_alerts_with_service_id (account_id, service_id, state, cinstance_id), " +
			"UNIQUE KEY index_alerts_on_alert_id_and_account_id (alert_id, account_id), " +
			"KEY index_alerts_on_cinstance_id (cinstance_id), KEY index_alerts_on_timestamp (`timestamp`)) ENGINE=InnoDB",
		"CREATE TABLE user_sessions (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, user_id bigint, `key` varchar(255), accessed_at datetime, revoked_at datetime)",
		"CREATE TABLE audits (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, auditable_id bigint, created_at datetime, KEY index_audits_on_created_at (created_at))",
		"CREATE TABLE event_store_events (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, event_type varchar(255), created_at datetime NOT NULL, KEY index_event_store_events_on_created_at (created_at))",
	},
	Postgres: {
		`CREATE TABLE alerts (id bigserial PRIMARY KEY, account_id bigint NOT NULL, "timestamp" timestamp NOT NULL, state varchar(255) NOT NULL, ` +
			`cinstance_id bigint NOT NULL, utilization numeric(6,2) NOT NULL, level integer NOT NULL, alert_id bigint NOT NULL, message text, tenant_id bigint, service_id bigint)`,
		`CREATE INDEX index_alerts_with_service_id ON alerts (account_id, service_id, state, cinstance_id)`,
		`CREATE UNIQUE INDEX index_alerts_on_alert_id_and_account_id ON alerts (alert_id, account_id)`,
		`CREATE INDEX index_alerts_on_cinstance_id ON alerts (cinstance_id)`,
		`CREATE INDEX index_alerts_on_timestamp ON alerts ("timestamp")`,
		`CREATE TABLE user_sessions (id bigserial PRIMARY KEY, user_id bigint, key varchar(255), accessed_at timestamp, revoked_at timestamp)`,
		`CREATE TABLE audits (id bigserial PRIMARY KEY, auditable_id bigint, created_at timestamp)`,
		`CREATE TABLE event_store_events (id bigserial PRIMARY KEY, event_type varchar(255), created_at timestamp NOT NULL)`,
	},
}

var testNow = time.Date(2026, 3, 15, 12, 0, 0, 700_000_000, time.UTC)

func open(t *testing.T, dialect string) *Purger {
	t.Helper()
	var p *Purger
	var err error
	if dialect == MySQL {
		p, err = Open(MySQL, testenv.MySQL(t).DSN, Age{})
	} else {
		p, err = Open(Postgres, testenv.Postgres(t).URL, Age{})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	p.Now = func() time.Time { return testNow }
	p.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	p.DB.SetMaxOpenConns(4)
	for _, s := range schemas[dialect] {
		if _, err := p.DB.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	return p
}

var alertSeq atomic.Int64

// insertAlerts inserts one alert per timestamp.
func insertAlerts(t testing.TB, p *Purger, ts ...time.Time) {
	t.Helper()
	for len(ts) > 0 {
		n := min(len(ts), 500)
		var b strings.Builder
		args := []any{}
		b.WriteString("INSERT INTO alerts (account_id, {timestamp}, state, cinstance_id, utilization, level, alert_id, message, tenant_id, service_id) VALUES ")
		for i, x := range ts[:n] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(?, ?, 'unread', ?, 1.01, 100, ?, 'hits per day: 101/100', 2, 7)")
			args = append(args, 2, x.UTC().Format(stamp), 11, alertSeq.Add(1))
		}
		if _, err := p.DB.Exec(p.sql(b.String()), args...); err != nil {
			t.Fatalf("insert alerts: %v", err)
		}
		ts = ts[n:]
	}
}

func count(t testing.TB, p *Purger, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := p.DB.QueryRow(p.sql(query), args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func both(t *testing.T, f func(t *testing.T, p *Purger)) {
	for _, d := range []string{MySQL, Postgres} {
		t.Run(d, func(t *testing.T) { f(t, open(t, d)) })
	}
}

func TestAlertsAgeBoundary(t *testing.T) {
	both(t, func(t *testing.T, p *Purger) {
		cutoff := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) // testNow - 14d, truncated to the second
		var old []time.Time
		for i := range 1234 {
			old = append(old, cutoff.Add(-time.Duration(i+1)*time.Minute))
		}
		insertAlerts(t, p, old...)
		insertAlerts(t, p, cutoff.Add(-time.Second), cutoff, cutoff.Add(time.Second), testNow)

		dry, err := p.Alerts(context.Background(), MustAge("14d"), true, nil)
		if err != nil {
			t.Fatal(err)
		}
		if dry.Matched != 1235 || dry.Deleted != 0 || !dry.Cutoff.Equal(cutoff) {
			t.Errorf("dry run = %+v, want 1235 matched, 0 deleted, cutoff %s", dry, cutoff)
		}
		if n := count(t, p, "SELECT COUNT(*) FROM alerts"); n != 1238 {
			t.Fatalf("dry run changed the table: %d rows", n)
		}

		p.BatchSize = 100
		task := progress.NewTask("purge")
		res, err := p.Alerts(context.Background(), MustAge("14d"), false, task)
		if err != nil {
			t.Fatal(err)
		}
		if res.Matched != 1235 || res.Deleted != 1235 || res.Batches != 13 {
			t.Errorf("purge = %+v, want 1235 matched and deleted in 13 batches", res)
		}
		if res.Duration <= 0 || res.Rate <= 0 {
			t.Errorf("duration %s, rate %f not measured", res.Duration, res.Rate)
		}
		if st := task.Stats(); st.Items != 1235 || st.TotalItems != 1235 {
			t.Errorf("progress = %+v", st)
		}
		// Exactly the rows at or after the cutoff survive.
		if n := count(t, p, "SELECT COUNT(*) FROM alerts"); n != 3 {
			t.Errorf("%d rows left, want 3", n)
		}
		if n := count(t, p, "SELECT COUNT(*) FROM alerts WHERE {timestamp} < ?", cutoff.Format(stamp)); n != 0 {
			t.Errorf("%d rows older than the cutoff left", n)
		}
		again, err := p.Alerts(context.Background(), MustAge("14d"), false, nil)
		if err != nil || again.Deleted != 0 || again.Matched != 0 {
			t.Errorf("second run = %+v, %v", again, err)
		}
	})
}

func TestAlertsConcurrentWriter(t *testing.T) {
	both(t, func(t *testing.T, p *Purger) {
		var old []time.Time
		for i := range 3000 {
			old = append(old, testNow.AddDate(0, -1, 0).Add(time.Duration(i)*time.Second))
		}
		insertAlerts(t, p, old...)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var written atomic.Int64
		var werr error
		wg.Add(1)
		go func() { // the application, inserting fresh alerts throughout
			defer wg.Done()
			for ctx.Err() == nil {
				_, err := p.DB.Exec(p.sql("INSERT INTO alerts (account_id, {timestamp}, state, cinstance_id, utilization, level, alert_id) VALUES (3, ?, 'unread', 12, 0.9, 90, ?)"),
					time.Now().UTC().Format(stamp), alertSeq.Add(1))
				if err != nil {
					werr = err
					return
				}
				written.Add(1)
			}
		}()
		p.BatchSize = 50
		res, err := p.Alerts(context.Background(), MustAge("14d"), false, nil)
		cancel()
		wg.Wait()
		if err != nil || werr != nil {
			t.Fatalf("purge: %v; writer: %v", err, werr)
		}
		if res.Deleted != 3000 {
			t.Errorf("deleted %d, want 3000", res.Deleted)
		}
		if written.Load() == 0 {
			t.Error("the writer never wrote during the purge")
		}
		if n := count(t, p, "SELECT COUNT(*) FROM alerts WHERE account_id = 3"); n != written.Load() {
			t.Errorf("%d of the writer's %d rows survive", n, written.Load())
		}
		if n := count(t, p, "SELECT COUNT(*) FROM alerts WHERE account_id = 2"); n != 0 {
			t.Errorf("%d old rows survive", n)
		}
	})
}

func TestAlertsInterruptedResumes(t *testing.T) {
	both(t, func(t *testing.T, p *Purger) {
		var old []time.Time
		for i := range 2000 {
			old = append(old, testNow.AddDate(0, 0, -20).Add(time.Duration(i)*time.Second))
		}
		insertAlerts(t, p, old...)
		insertAlerts(t, p, testNow)
		p.BatchSize = 10
		ctx, cancel := context.WithCancel(context.Background())
		task := progress.NewTask("purge")
		go func() {
			for task.Stats().Items == 0 {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
		first, err := p.Alerts(ctx, MustAge("14d"), false, task)
		if !errs.Canceled(err) {
			t.Fatalf("interrupted purge: %+v, %v", first, err)
		}
		if first.Deleted == 0 || first.Deleted >= 2000 {
			t.Fatalf("interrupted after %d rows; the test wants a partial purge", first.Deleted)
		}
		second, err := p.Alerts(context.Background(), MustAge("14d"), false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if first.Deleted+second.Deleted != 2000 || second.Matched != 2000-first.Deleted {
			t.Errorf("first %d + second %d (matched %d) != 2000", first.Deleted, second.Deleted, second.Matched)
		}
		if n := count(t, p, "SELECT COUNT(*) FROM alerts"); n != 1 {
			t.Errorf("%d rows left, want the 1 young row", n)
		}
	})
}

func TestPurgeTables(t *testing.T) {
	both(t, func(t *testing.T, p *Purger) {
		f := func(x time.Time) string { return x.UTC().Format(stamp) }
		twoW := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		ins := func(q string, args ...any) {
			t.Helper()
			if _, err := p.DB.Exec(p.sql(q), args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		// user_sessions: stale (accessed before 2w) or revoked go.
		ins("INSERT INTO user_sessions (user_id, accessed_at, revoked_at) VALUES (1, ?, NULL), (1, ?, NULL), (1, ?, NULL), (1, ?, ?)",
			f(twoW.Add(-time.Second)), f(twoW), f(testNow), f(testNow), f(testNow))
		// audits: 3 calendar months; with --age audits=6mo only older than 6 months go.
		ins("INSERT INTO audits (auditable_id, created_at) VALUES (1, ?), (1, ?), (1, ?)",
			f(time.Date(2025, 12, 15, 11, 59, 59, 0, time.UTC)), f(time.Date(2025, 9, 15, 11, 59, 59, 0, time.UTC)), f(time.Date(2025, 9, 15, 12, 0, 0, 0, time.UTC)))
		// event_store_events: 1 week, inclusive (<= now - TTL).
		week := time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC)
		ins("INSERT INTO event_store_events (event_type, created_at) VALUES ('a', ?), ('b', ?), ('c', ?)",
			f(week.Add(-time.Second)), f(week), f(week.Add(time.Second)))

		dry, err := p.PurgeTables(context.Background(), map[string]Age{"audits": MustAge("6mo")}, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]Result{}
		for _, r := range dry {
			got[r.Table] = r
		}
		if got["user_sessions"].Matched != 2 || got["audits"].Matched != 1 || got["event_store_events"].Matched != 2 || got["log_entries"].Skipped == "" {
			t.Errorf("dry run = %+v", dry)
		}
		res, err := p.PurgeTables(context.Background(), map[string]Age{"audits": MustAge("6mo")}, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Deleted != got[r.Table].Matched {
				t.Errorf("%s: deleted %d, dry run matched %d", r.Table, r.Deleted, got[r.Table].Matched)
			}
		}
		for table, want := range map[string]int64{"user_sessions": 2, "audits": 2, "event_store_events": 1} {
			if n := count(t, p, "SELECT COUNT(*) FROM "+table); n != want {
				t.Errorf("%s: %d rows left, want %d", table, n, want)
			}
		}
		if _, err := p.PurgeTables(context.Background(), map[string]Age{"alerts": MustAge("1d")}, true, nil); errs.Code(err) != errs.Usage {
			t.Errorf("unknown table override: %v", err)
		}
	})
}

func TestOracleRefused(t *testing.T) {
	_, err := Open("oracle", "oracle-enhanced://u:p@h/x", MustAge("14d"))
	if errs.Code(err) != errs.Usage || !strings.Contains(errs.Hint(err), "DELETE FROM alerts WHERE timestamp <= TRUNC(SYSDATE) - 14;") {
		t.Fatalf("oracle: %v (hint %q)", err, errs.Hint(err))
	}
}

func TestParseAge(t *testing.T) {
	now := time.Date(2026, 5, 31, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"14d":   time.Date(2026, 5, 17, 10, 0, 0, 0, time.UTC),
		"2w":    time.Date(2026, 5, 17, 10, 0, 0, 0, time.UTC),
		"36h":   time.Date(2026, 5, 29, 22, 0, 0, 0, time.UTC),
		"3mo":   time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC), // Feb 31 normalizes, as Go's AddDate does
		"1y":    time.Date(2025, 5, 31, 10, 0, 0, 0, time.UTC),
		"1w2d":  time.Date(2026, 5, 22, 10, 0, 0, 0, time.UTC),
		"90min": time.Date(2026, 5, 31, 8, 30, 0, 0, time.UTC),
		"1h30m": time.Date(2026, 5, 31, 8, 30, 0, 0, time.UTC),
	} {
		a, err := ParseAge(in)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if got := a.Cutoff(now); !got.Equal(want) {
			t.Errorf("%s: cutoff %s, want %s", in, got, want)
		}
	}
	for _, bad := range []string{"", "0d", "fortnight", "14", "-3d", "3x"} {
		if _, err := ParseAge(bad); errs.Code(err) != errs.Usage {
			t.Errorf("%q: err = %v, want usage", bad, err)
		}
	}
	// A non-UTC clock still cuts in UTC.
	loc := time.FixedZone("CEST", 2*3600)
	if got := MustAge("1d").Cutoff(time.Date(2026, 5, 31, 1, 0, 0, 0, loc)); got != time.Date(2026, 5, 29, 23, 0, 0, 0, time.UTC) {
		t.Errorf("cutoff from a +02:00 clock = %s", got)
	}
}
