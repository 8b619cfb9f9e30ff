package pgdump

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
)

// hookSink calls onData the first time a data file is created and then
// writes through; it lets a test act between snapshot export and COPY.
type hookSink struct {
	*artifact.Memory
	once   sync.Once
	onData func()
	block  chan struct{} // when set, the first data Write waits for it
	first  chan struct{}
}

func (s *hookSink) Create(ctx context.Context, name, format string) (artifact.File, error) {
	if strings.HasPrefix(name, dataDir) && s.onData != nil {
		s.once.Do(s.onData)
	}
	f, err := s.Memory.Create(ctx, name, format)
	if err != nil || s.block == nil || !strings.HasPrefix(name, dataDir) {
		return f, err
	}
	return &blockFile{File: f, s: s}, nil
}

type blockFile struct {
	artifact.File
	s *hookSink
}

func (f *blockFile) Write(p []byte) (int, error) {
	select {
	case f.s.first <- struct{}{}:
	default:
	}
	<-f.s.block
	return f.File.Write(p)
}

// TestPointInTimeUnderConcurrentWrites moves money between two tables
// while the dump runs; the shared snapshot must see every transfer whole
// (sum of balances + sum of transfers is constant), although the tables
// are copied by different workers at different times.
func TestPointInTimeUnderConcurrentWrites(t *testing.T) {
	db := testenv.Postgres(t)
	execSQL(t, db.URL, `
CREATE TABLE public.accounts (id int PRIMARY KEY, balance bigint NOT NULL, pad text);
CREATE TABLE public.transfers (id bigserial PRIMARY KEY, account_id int NOT NULL, amount bigint NOT NULL, pad text);
INSERT INTO public.accounts SELECT i, 1000, repeat('p', 200) FROM generate_series(1, 20000) i;`)
	const total = 20000 * 1000

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var commits atomic.Int64
	var wg sync.WaitGroup
	writerErr := make(chan error, 2)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := pgx.Connect(ctx, db.URL)
			if err != nil {
				writerErr <- err
				return
			}
			defer c.Close(context.Background())
			for ctx.Err() == nil {
				id, amt := 1+rand.IntN(20000), 1+rand.IntN(50)
				_, err := c.Exec(ctx, `WITH u AS (UPDATE public.accounts SET balance = balance - $2 WHERE id = $1)
				    INSERT INTO public.transfers (account_id, amount, pad) VALUES ($1, $2, repeat('t', 200))`, id, amt)
				if err != nil {
					if ctx.Err() == nil {
						writerErr <- err
					}
					return
				}
				commits.Add(1)
			}
		}()
	}
	// Let the transfers table grow so that it needs several ctid ranges.
	for commits.Load() < 2000 {
		time.Sleep(10 * time.Millisecond)
	}
	var during int64
	sink := &hookSink{Memory: artifact.NewMemory(), onData: func() {
		// The snapshot is exported; writes committed now must not appear.
		start := commits.Load()
		for commits.Load() < start+300 {
			time.Sleep(5 * time.Millisecond)
		}
		during = commits.Load() - start
	}}
	e := New(db.URL)
	e.Parallel = 4
	e.ChunkPages = 50
	if err := e.Backup(context.Background(), sink, nil); err != nil {
		t.Fatalf("backup: %v", err)
	}
	cancel()
	wg.Wait()
	select {
	case err := <-writerErr:
		t.Fatalf("writer: %v", err)
	default:
	}
	if during < 300 {
		t.Fatalf("only %d transfers ran during the dump", during)
	}
	m, err := readMeta(sink.Memory)
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range m.Tables {
		if tb.Name == "transfers" && len(tb.Files) < 2 {
			t.Fatalf("transfers was not split (%d files); grow the test data", len(tb.Files))
		}
	}

	dst := testenv.Postgres(t)
	if _, err := New(dst.URL).Restore(context.Background(), sink.Memory, nil); err != nil {
		t.Fatalf("restore: %v", err)
	}
	c, err := pgx.Connect(context.Background(), dst.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var balances, moved, n int64
	if err := c.QueryRow(context.Background(), `SELECT (SELECT sum(balance) FROM public.accounts),
	    (SELECT COALESCE(sum(amount), 0) FROM public.transfers), (SELECT count(*) FROM public.transfers)`).Scan(&balances, &moved, &n); err != nil {
		t.Fatal(err)
	}
	if balances+moved != total {
		t.Fatalf("dump is not one point in time: balances %d + transfers %d = %d, want %d", balances, moved, balances+moved, total)
	}
	t.Logf("dump holds %d transfers; %d committed after the snapshot were excluded", n, during)
}

// TestServerSessionKilledMidDump terminates the dump's sessions from
// another connection while a COPY is streaming: Backup must fail with an
// error that says the session was lost, and record no metadata.
func TestServerSessionKilledMidDump(t *testing.T) {
	db := testenv.Postgres(t)
	execSQL(t, db.URL, `CREATE TABLE public.entries (id bigserial PRIMARY KEY, data jsonb);
INSERT INTO public.entries (data) SELECT jsonb_build_object('i', i, 'pad', repeat('x', 500)) FROM generate_series(1, 20000) i;`)
	sink := &hookSink{Memory: artifact.NewMemory(), block: make(chan struct{}), first: make(chan struct{}, 1)}
	e := New(db.URL)
	e.Parallel = 2
	done := make(chan error, 1)
	go func() { done <- e.Backup(context.Background(), sink, nil) }()

	select {
	case <-sink.first:
	case err := <-done:
		t.Fatalf("backup ended before streaming: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("backup never started streaming")
	}
	admin, err := pgx.Connect(context.Background(), testenv.Get(t).PostgresURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var killed int
	// The sessions copying rows (the schema's pg_dump runs beside them
	// under the same application name, and would report its own loss).
	if err := admin.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
	    WHERE datname = $1 AND application_name = $2 AND query LIKE 'COPY %'`, db.Name, appDump).Scan(&killed); err != nil || killed == 0 {
		t.Fatalf("terminate: %d sessions, %v", killed, err)
	}
	close(sink.block)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "lost the PostgreSQL session") || !strings.Contains(err.Error(), "public.entries") {
			t.Fatalf("want a lost-session error naming the table, got %v", err)
		}
		if strings.Contains(err.Error(), testenv.Get(t).PostgresURL) {
			t.Fatal("error leaks the connection URL")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("backup hangs after its sessions were terminated")
	}
	if keys := sink.Memory.Keys(); len(keys) != 0 {
		t.Fatalf("metadata recorded for a failed dump: %v", keys)
	}
}

// gatedPgDump writes a pg_dump wrapper that answers --version at once but
// runs the real pg_dump only once the file gate exists (20 s at most),
// and then exits with status exit, having printed msg, if exit is not 0.
func gatedPgDump(t *testing.T, gate string, exit int, msg string) string {
	t.Helper()
	real := filepath.Join(testenv.Get(t).PGBin, "pg_dump")
	script := fmt.Sprintf(`#!/bin/sh
case "$1" in --version) exec %[1]q "$@";; esac
i=0
while [ ! -e %[2]q ]; do
  i=$((i+1)); [ $i -gt 200 ] && { echo "gate: no data file was started while pg_dump waited" >&2; exit 3; }
  sleep 0.1
done
if [ %[3]d -ne 0 ]; then echo %[4]q >&2; exit %[3]d; fi
exec %[1]q "$@"
`, real, gate, exit, msg)
	p := filepath.Join(t.TempDir(), "pg_dump")
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// The schema's pg_dump runs beside the data's COPY, not before it: its
// wrapper waits until the first data file is started, which would never
// happen if the data waited for the schema.
func TestSchemaDumpedWhileDataIsCopied(t *testing.T) {
	db := testenv.Postgres(t)
	execSQL(t, db.URL, queSchema)
	execSQL(t, db.URL, queData)
	gate := filepath.Join(t.TempDir(), "data-started")
	sink := &hookSink{Memory: artifact.NewMemory(), onData: func() {
		if err := os.WriteFile(gate, nil, 0o644); err != nil {
			t.Error(err)
		}
	}}
	e := New(db.URL)
	e.PgDump = gatedPgDump(t, gate, 0, "")
	if err := e.Backup(context.Background(), sink, nil); err != nil {
		t.Fatalf("backup: %v", err)
	}
	target := testenv.Postgres(t)
	if _, err := New(target.URL).Restore(context.Background(), sink.Memory, nil); err != nil {
		t.Fatalf("restore: %v", err)
	}
	compareFingerprints(t, fingerprint(t, db.URL), fingerprint(t, target.URL))
}

// A pg_dump that fails while the data is being copied fails the backup
// with pg_dump's own message, and the component records no metadata, so
// no snapshot of it can look complete.
func TestSchemaFailureDuringDataFailsTheBackup(t *testing.T) {
	db := testenv.Postgres(t)
	execSQL(t, db.URL, queSchema)
	execSQL(t, db.URL, queData)
	gate := filepath.Join(t.TempDir(), "data-started")
	sink := &hookSink{Memory: artifact.NewMemory(), onData: func() { os.WriteFile(gate, nil, 0o644) }}
	e := New(db.URL)
	e.PgDump = gatedPgDump(t, gate, 1, "pg_dump: error: query failed: out of shared memory")
	err := e.Backup(context.Background(), sink, nil)
	if err == nil || !strings.Contains(err.Error(), "out of shared memory") {
		t.Fatalf("want pg_dump's error, got %v", err)
	}
	if keys := sink.Memory.Keys(); len(keys) != 0 {
		t.Fatalf("metadata recorded for a failed dump: %v", keys)
	}
}
