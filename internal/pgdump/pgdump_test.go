package pgdump

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
)

// dumpFixture creates the zync-like database and dumps it.
func dumpFixture(t *testing.T) (string, *artifact.Memory, map[string]string) {
	t.Helper()
	src := testenv.Postgres(t)
	execSQL(t, src.URL, zyncSchema)
	execSQL(t, src.URL, zyncData)
	want := fingerprint(t, src.URL)
	mem := artifact.NewMemory()
	e := New(src.URL)
	e.Parallel = 3
	e.ChunkPages = 4 // split the larger tables into ctid ranges
	task := progress.NewTask("dump")
	if err := e.Backup(context.Background(), mem, task); err != nil {
		t.Fatalf("backup: %v", err)
	}
	if st := task.Stats(); !st.Done || st.Bytes == 0 || st.Items == 0 {
		t.Fatalf("progress not reported: %+v", st)
	}
	return src.URL, mem, want
}

func TestRoundTrip(t *testing.T) {
	_, mem, want := dumpFixture(t)

	m, err := readMeta(mem)
	if err != nil {
		t.Fatal(err)
	}
	if m.Snapshot == "" || m.LSN == "" || m.ServerVersionNum < 100000 || len(m.Extensions) != 1 || m.Extensions[0] != "citext" {
		t.Fatalf("metadata incomplete: %+v", m)
	}
	rows := map[string]int64{}
	chunked := false
	for _, tb := range m.Tables {
		rows[tb.Ident] = tb.Rows
		chunked = chunked || len(tb.Files) > 1
	}
	if rows["public.entries"] != 3005 || rows["public.que_jobs"] != 480 || rows[`"Audit"."Weird Table"`] != 4 {
		t.Fatalf("row counts in metadata: %v", rows)
	}
	if !chunked {
		t.Fatal("no table was split into ctid ranges; the chunked path is untested")
	}

	dst := testenv.Postgres(t)
	e := New(dst.URL)
	e.Parallel = 3
	if err := e.Preflight(context.Background(), mem); err != nil {
		t.Fatalf("preflight: %v", err)
	}
	task := progress.NewTask("restore")
	if _, err := e.Restore(context.Background(), mem, task); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if st := task.Stats(); !st.Done || st.Items != 3005+300+1000+5+3+200+480+2+3+4 {
		t.Fatalf("restore progress: %+v", st)
	}
	compareFingerprints(t, want, fingerprint(t, dst.URL))

	// The restored database keeps working: sequences continue, identity
	// columns continue, triggers fire, the unique pair holds.
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dst.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var id int64
	if err := c.QueryRow(ctx, "INSERT INTO public.que_jobs (job_class) VALUES ('X') RETURNING id").Scan(&id); err != nil || id != 501 {
		t.Fatalf("identity after restore: id %d, %v", id, err)
	}
	if err := c.QueryRow(ctx, "INSERT INTO public.tenants (endpoint, access_token) VALUES ('x', 'y') RETURNING id").Scan(&id); err != nil || id != 6 {
		t.Fatalf("serial after restore: id %d, %v", id, err)
	}
	var touched bool
	if err := c.QueryRow(ctx, "UPDATE public.tenants SET note = 'n' WHERE id = 2 RETURNING updated_at > created_at").Scan(&touched); err != nil || !touched {
		t.Fatalf("trigger after restore: %v %v", touched, err)
	}
	if _, err := c.Exec(ctx, "INSERT INTO public.integration_states (model_id, integration_id) VALUES (1, 2)"); err == nil {
		t.Fatal("unique (model_id, integration_id) not enforced after restore")
	}
	if _, err := c.Exec(ctx, "INSERT INTO public.entries (model_id, tenant_id) VALUES (999999, 1)"); err == nil {
		t.Fatal("foreign key not enforced after restore")
	}
}

func TestExportLoadsWithPsql(t *testing.T) {
	_, mem, want := dumpFixture(t)
	dst := testenv.Postgres(t)
	psqlLoad(t, dst.URL, exportFile(t, mem))
	compareFingerprints(t, want, fingerprint(t, dst.URL))
}

// notificationsFile is the first data file of public.notifications, the
// file the damage tests change.
func notificationsFile(mem *artifact.Memory) string {
	for _, fi := range mem.Files() {
		if strings.HasPrefix(fi.Name, "data/public.notifications") {
			return fi.Name
		}
	}
	return ""
}

// truncate cuts victim in half.
func truncate(victim string) func(string, []byte) []byte {
	return func(n string, b []byte) []byte {
		if n == victim {
			return b[:len(b)/2]
		}
		return b
	}
}

func TestTruncatedOrCorruptArtifactRefusedBeforeTouchingTables(t *testing.T) {
	_, mem, _ := dumpFixture(t)
	victim := notificationsFile(mem)
	cases := map[string]func(string, []byte) []byte{
		"truncated": truncate(victim),
		"row lost, same size": func(n string, b []byte) []byte {
			if n == victim {
				b = append([]byte(nil), b...)
				i := strings.IndexByte(string(b), '\n')
				b[i] = ' '
			}
			return b
		},
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			bad := cloneMemory(t, mem, edit, nil)
			dst := testenv.Postgres(t)
			e := New(dst.URL)
			_, err := e.Restore(context.Background(), bad, nil)
			if err == nil || !errors.Is(err, artifact.ErrCorrupt) || !strings.Contains(err.Error(), victim) {
				t.Fatalf("want a corruption error naming %s, got %v", victim, err)
			}
			if errs.Hint(err) == "" {
				t.Errorf("no hint in %v", err)
			}
			// Damaged content exits 3 in every engine (README.md, "Exit codes").
			if errs.Code(err) != errs.Mismatch {
				t.Errorf("exit code %d, want %d (damaged content): %v", errs.Code(err), errs.Mismatch, err)
			}
			assertEmpty(t, dst.URL)
		})
	}
	// The read-back runs while the target is checked and the sessions
	// connect: with consent to drop, the target's objects still stay
	// until every artifact has passed.
	t.Run("drop-existing waits for the check", func(t *testing.T) {
		bad := cloneMemory(t, mem, cases["truncated"], nil)
		dst := testenv.Postgres(t)
		ctx := context.Background()
		c, err := pgx.Connect(ctx, dst.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "CREATE TABLE keep_me (id int); INSERT INTO keep_me VALUES (1)"); err != nil {
			t.Fatal(err)
		}
		e := New(dst.URL)
		e.DropExisting = true
		if _, err := e.Restore(ctx, bad, nil); err == nil || !errors.Is(err, artifact.ErrCorrupt) {
			t.Fatalf("want a corruption error, got %v", err)
		}
		var n int
		if err := c.QueryRow(ctx, "SELECT count(*) FROM keep_me").Scan(&n); err != nil || n != 1 {
			t.Fatalf("the target's table was touched before the check failed: %d rows, %v", n, err)
		}
	})
}

func assertEmpty(t *testing.T, url string) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	objs, err := existingObjects(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) > 0 {
		t.Fatalf("target was touched: %v", objs)
	}
}

func TestNonEmptyTargetRefusedUnlessConsented(t *testing.T) {
	_, mem, want := dumpFixture(t)
	dst := testenv.Postgres(t)
	execSQL(t, dst.URL, "CREATE TABLE public.leftover (id int); INSERT INTO public.leftover VALUES (1); CREATE SCHEMA other; CREATE TABLE other.x (id int)")
	e := New(dst.URL)
	for _, run := range []func() error{
		func() error { return e.Preflight(context.Background(), mem) },
		func() error { _, err := e.Restore(context.Background(), mem, nil); return err },
	} {
		err := run()
		if err == nil || errs.Code(err) != errs.Usage || !strings.Contains(err.Error(), "public.leftover") || !strings.Contains(errs.Hint(err), "--drop-existing") {
			t.Fatalf("want a refusal naming public.leftover, got %v (hint %q)", err, errs.Hint(err))
		}
	}
	e.DropExisting = true
	if err := e.Preflight(context.Background(), mem); err != nil {
		t.Fatalf("preflight with consent: %v", err)
	}
	if _, err := e.Restore(context.Background(), mem, nil); err != nil {
		t.Fatalf("restore with consent: %v", err)
	}
	compareFingerprints(t, want, fingerprint(t, dst.URL))
}

func TestOlderTargetAndBadMetadataRefused(t *testing.T) {
	_, mem, _ := dumpFixture(t)
	dst := testenv.Postgres(t)
	future := cloneMemory(t, mem, nil, func(k string, v []byte) []byte {
		if k == "server_version_num" {
			return []byte("990000")
		}
		return v
	})
	err := New(dst.URL).Preflight(context.Background(), future)
	if err == nil || !strings.Contains(err.Error(), "older than the source") {
		t.Fatalf("want version refusal, got %v", err)
	}
	noTables := cloneMemory(t, mem, nil, func(k string, v []byte) []byte {
		if k == "tables" {
			return nil
		}
		return v
	})
	if _, err := New(dst.URL).Restore(context.Background(), noTables, nil); err == nil || !errors.Is(err, artifact.ErrNotFound) {
		t.Fatalf("want missing metadata error, got %v", err)
	}
	assertEmpty(t, dst.URL)
}

// stalledSource is a snapshot whose data files never finish reading (a
// slow or hung repository) until the read is cancelled.
type stalledSource struct{ artifact.Source }

func (s stalledSource) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if !strings.HasPrefix(name, dataDir) {
		return s.Source.Open(ctx, name)
	}
	return io.NopCloser(readerFunc(func([]byte) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	})), nil
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// A target that cannot be reached is reported at once, not after every
// artifact has been read back: the read-back is cancelled.
func TestUnreachableTargetDoesNotWaitForTheReadBack(t *testing.T) {
	_, mem, _ := dumpFixture(t)
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	e := New(fmt.Sprintf("postgres://zync:secret@127.0.0.1:%d/zync_restore?sslmode=disable&connect_timeout=5", port))
	done := make(chan error, 1)
	go func() {
		_, err := e.Restore(context.Background(), stalledSource{mem}, nil)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || errors.Is(err, artifact.ErrCorrupt) || !strings.Contains(err.Error(), strconv.Itoa(port)) {
			t.Fatalf("want the connection error naming port %d, got %v", port, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the restore waited for a read-back that never ends instead of reporting the unreachable target")
	}
}
