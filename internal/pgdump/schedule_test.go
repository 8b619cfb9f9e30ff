package pgdump

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
)

func TestStepTable(t *testing.T) {
	tables := []string{"public.entries", "public.entries2", "public.models", `"Audit"."Weird Table"`, `public."ON"`}
	for _, c := range []struct{ sql, want string }{
		{"CREATE INDEX index_entries_on_model_id ON public.entries USING btree (model_id);", "public.entries"},
		{"CREATE UNIQUE INDEX x ON ONLY public.entries2 USING btree (id);", "public.entries2"},
		{"ALTER TABLE ONLY public.models\n    ADD CONSTRAINT models_pkey PRIMARY KEY (id);", "public.models"},
		{"ALTER TABLE public.models\n    ADD CONSTRAINT models_pkey PRIMARY KEY (id);", "public.models"},
		{`CREATE INDEX "w i" ON "Audit"."Weird Table" USING btree ("Select");`, `"Audit"."Weird Table"`},
		{`CREATE INDEX "a ON public.models x" ON public."ON" USING btree (id);`, ""}, // two tables named: wait for all
		{"CREATE INDEX p ON public.entries USING btree (id) WHERE (note <> ' ON public.models ');", ""},
		{"CREATE INDEX o ON public.other USING btree (id);", ""},
		{"ALTER TABLE ONLY public.entries2x\n ADD CONSTRAINT k PRIMARY KEY (id);", ""},
	} {
		if got := stepTable(c.sql, tables); got != c.want {
			t.Errorf("stepTable(%q) = %q, want %q", c.sql, got, c.want)
		}
	}
}

// Units start only when what they wait for has finished, the lowest
// position first among the ready ones; the first error stops the rest.
func TestRunUnits(t *testing.T) {
	var mu sync.Mutex
	var order []string
	var finished sync.Map
	mk := func(name string, deps ...string) *unit {
		return &unit{run: func(ctx context.Context, _ int) error {
			for _, d := range deps {
				if _, ok := finished.Load(d); !ok {
					return fmt.Errorf("%s started before %s finished", name, d)
				}
			}
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
			finished.Store(name, true)
			return nil
		}}
	}
	a, b := mk("load a"), mk("load b")
	ia, ib := mk("index a", "load a"), mk("index b", "load b")
	ia.after(a)
	ib.after(b)
	fin := mk("final", "load a", "load b", "index a", "index b")
	fin.after(a, b, ia, ib)
	if err := runUnits(context.Background(), 1, []*unit{a, b, ia, ib, fin}); err != nil {
		t.Fatal(err)
	}
	// One session: the loads (positions 0, 1) go before the index of a,
	// although it was ready first.
	if fmt.Sprint(order) != "[load a load b index a index b final]" {
		t.Fatalf("order on one session: %v", order)
	}

	order, finished = nil, sync.Map{}
	a, b = mk("load a"), mk("load b")
	ia, ib = mk("index a", "load a"), mk("index b", "load b")
	ia.after(a)
	ib.after(b)
	fin = mk("final", "load a", "load b", "index a", "index b")
	fin.after(a, b, ia, ib)
	if err := runUnits(context.Background(), 3, []*unit{a, b, ia, ib, fin}); err != nil {
		t.Fatal(err)
	}
	if len(order) != 5 || order[4] != "final" {
		t.Fatalf("order on three sessions: %v", order)
	}

	// A failure: the unit running beside it sees its context cancelled,
	// nothing waiting starts, and the first error is the one returned.
	boom := errors.New("boom")
	var started atomic.Int32
	slow := &unit{run: func(ctx context.Context, _ int) error {
		started.Add(1)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Second):
			return errors.New("not cancelled")
		}
	}}
	bad := &unit{run: func(context.Context, int) error { time.Sleep(10 * time.Millisecond); return boom }}
	never := &unit{run: func(context.Context, int) error { return errors.New("a unit waiting for a failed one ran") }}
	never.after(bad)
	later := &unit{run: func(context.Context, int) error { return errors.New("a unit started after the failure") }}
	later.after(slow)
	err := runUnits(context.Background(), 2, []*unit{slow, bad, never, later})
	if !errors.Is(err, boom) || started.Load() != 1 {
		t.Fatalf("want boom with the slow unit cancelled, got %v (started %d)", err, started.Load())
	}

	// Units that share a lock never run side by side; others do.
	var running, most atomic.Int32
	locked := func(locks ...string) *unit {
		return &unit{locks: locks, run: func(context.Context, int) error {
			n := running.Add(1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(20 * time.Millisecond)
			running.Add(-1)
			return nil
		}}
	}
	xy, yz, zx := locked("x", "y"), locked("y", "z"), locked("z", "x")
	if err := runUnits(context.Background(), 3, []*unit{xy, yz, zx}); err != nil || most.Load() != 1 {
		t.Fatalf("units sharing tables ran %d at once (%v)", most.Load(), err)
	}
	most.Store(0)
	if err := runUnits(context.Background(), 2, []*unit{locked("a", "b"), locked("c", "d")}); err != nil || most.Load() != 2 {
		t.Fatalf("units on other tables did not run side by side: at most %d (%v)", most.Load(), err)
	}
}

func TestForeignKeyTables(t *testing.T) {
	tables := []string{"public.entries", "public.models", "public.tenants", `"Audit"."Weird Table"`}
	for _, c := range []struct{ sql, child, parent string }{
		{"ALTER TABLE ONLY public.entries\n    ADD CONSTRAINT entries_model_id_fkey FOREIGN KEY (model_id) REFERENCES public.models(id);", "public.entries", "public.models"},
		{"ALTER TABLE ONLY public.models\n    ADD CONSTRAINT m FOREIGN KEY (parent_id) REFERENCES public.models(id) ON DELETE CASCADE;", "public.models", "public.models"},
		{`ALTER TABLE ONLY "Audit"."Weird Table"` + "\n    ADD CONSTRAINT w FOREIGN KEY (t) REFERENCES public.tenants(id);", `"Audit"."Weird Table"`, "public.tenants"},
		{"ALTER TABLE ONLY public.entries\n    ADD CONSTRAINT x FOREIGN KEY (o) REFERENCES public.other(id);", "", ""},
		{"ALTER TABLE ONLY public.elsewhere\n    ADD CONSTRAINT x FOREIGN KEY (o) REFERENCES public.models(id);", "", ""},
	} {
		if ch, pa := foreignKeyTables(c.sql, tables); ch != c.child || pa != c.parent {
			t.Errorf("foreignKeyTables(%q) = %q, %q; want %q, %q", c.sql, ch, pa, c.child, c.parent)
		}
	}
}

// gatedSource holds the first data file of one table, once armed, until
// see reports true (or the wait times out).
type gatedSource struct {
	artifact.Source
	file  string
	armed atomic.Bool
	see   func(ctx context.Context) bool
	saw   atomic.Bool
}

func (g *gatedSource) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if g.armed.Load() && name == g.file {
		deadline := time.Now().Add(30 * time.Second)
		for !g.see(ctx) {
			if time.Now().After(deadline) {
				return nil, errors.New("gate: timed out")
			}
			time.Sleep(20 * time.Millisecond)
		}
		g.saw.Store(true)
	}
	return g.Source.Open(ctx, name)
}

// A table's indexes and foreign keys are built while a larger table is
// still loading: the load of public.entries is held until other sessions
// have built public.models' index and its foreign key to public.tenants,
// and the restore is then complete and equal.
func TestIndexesBuiltWhileLargerTablesLoad(t *testing.T) {
	_, mem, want := dumpFixture(t)
	m, err := readMeta(mem)
	if err != nil {
		t.Fatal(err)
	}
	var file string
	for _, tb := range m.Tables {
		if tb.Ident == "public.entries" {
			file = tb.Files[0].Name
		}
	}
	dst := testenv.Postgres(t)
	ctx := context.Background()
	probe, err := pgx.Connect(ctx, dst.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close(ctx)
	g := &gatedSource{Source: mem, file: file, see: func(ctx context.Context) bool {
		var ok bool
		err := probe.QueryRow(ctx, `SELECT to_regclass('public.index_models_on_tenant_id') IS NOT NULL
		  AND EXISTS (SELECT FROM pg_constraint WHERE conname = 'models_tenant_id_fkey' AND contype = 'f')`).Scan(&ok)
		return err == nil && ok
	}}
	e := New(dst.URL)
	e.Parallel = 3
	if err := e.Preflight(ctx, g); err != nil {
		t.Fatalf("preflight: %v", err)
	}
	g.armed.Store(true)
	if _, err := e.Restore(ctx, g, progress.NewTask("restore")); err != nil {
		t.Fatalf("restore (entries held until models' index exists): %v", err)
	}
	if !g.saw.Load() {
		t.Fatal("the gate never opened: the load of public.entries was not held")
	}
	compareFingerprints(t, want, fingerprint(t, dst.URL))
}

// Foreign keys join the schedule only in a schema without partitioned
// tables: on a partitioned table a foreign key locks every partition and
// may need the partition indexes attached first (serial steps).
func TestForeignKeysStayAfterTheLoadWithPartitions(t *testing.T) {
	m := &Meta{Tables: []Table{{Ident: "public.entries"}, {Ident: "public.models"}}}
	fk := step{Kind: stepForeign, SQL: "ALTER TABLE ONLY public.entries\n    ADD CONSTRAINT f FOREIGN KEY (model_id) REFERENCES public.models(id);"}
	trigger := step{Kind: "serial", SQL: "CREATE TRIGGER t AFTER INSERT ON public.entries FOR EACH ROW EXECUTE FUNCTION public.f();"}
	attach := step{Kind: stepAttach, SQL: "ALTER INDEX public.p ATTACH PARTITION public.c;"}
	e := New("postgres://unused")
	for _, c := range []struct {
		name        string
		steps       []step
		partitioned bool
		serial      int
	}{
		{"plain schema", []step{trigger, fk}, false, 1},
		{"partitioned tables", []step{trigger, fk}, true, 2},
		{"attached partition index", []step{attach, trigger, fk}, false, 3},
	} {
		units, serial := e.loadSchedule(nil, nil, m, nil, c.steps, c.partitioned, progress.NewTask("t"))
		if len(serial) != c.serial {
			t.Errorf("%s: %d serial steps %v, want %d", c.name, len(serial), serial, c.serial)
		}
		locked := 0
		for _, u := range units {
			if len(u.locks) > 0 {
				locked++
			}
		}
		if want := len(c.steps) - c.serial; locked != want {
			t.Errorf("%s: %d foreign keys scheduled, want %d", c.name, locked, want)
		}
	}
	if !hasPartitions("CREATE TABLE app.events (id bigint) PARTITION BY RANGE (at);") ||
		!hasPartitions("ALTER TABLE ONLY app.events ATTACH PARTITION app.events_2024 FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');") ||
		hasPartitions("CREATE TABLE public.entries (id bigint);") {
		t.Error("hasPartitions")
	}
}
