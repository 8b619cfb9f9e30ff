package mysqldump

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/go-sql-driver/mysql"
)

// gateSink holds the first data file until released.
type gateSink struct {
	*artifact.Memory
	once    sync.Once
	reached chan struct{}
	release chan struct{}
}

func (g *gateSink) Create(ctx context.Context, name, format string) (artifact.File, error) {
	if strings.HasPrefix(name, "data/") {
		g.once.Do(func() {
			close(g.reached)
			<-g.release
		})
	}
	return g.Memory.Create(ctx, name, format)
}

func TestServerGoneMidDump(t *testing.T) {
	src, db := transferDB(t)
	sink := &gateSink{Memory: artifact.NewMemory(), reached: make(chan struct{}), release: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		errc <- newEngine(t, src.DSN, Options{Workers: 2, ChunkRows: 100}).Backup(context.Background(), sink, nil)
	}()
	<-sink.reached
	ids := queryStrings(t, db, "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()", src.Name)
	if len(ids) == 0 {
		t.Fatal("no dump connection found")
	}
	for _, id := range ids {
		mustExec(t, db, "KILL "+id)
	}
	close(sink.release)
	err := <-errc
	if err == nil {
		t.Fatal("backup succeeded although its connections were killed")
	}
	msg := err.Error()
	if !strings.Contains(msg, "dump of table `acct_") || errs.Hint(err) == "" || errs.Code(err) != errs.Failure {
		t.Errorf("error does not name the table or give a next step: %v (hint %q)", err, errs.Hint(err))
	}
	if cfg, _ := mysql.ParseDSN(src.DSN); strings.Contains(msg, cfg.Passwd) {
		t.Errorf("error shows the password: %v", err)
	}
	if err := sink.Get(MetaKey, new(Meta)); !errors.Is(err, artifact.ErrNotFound) {
		t.Errorf("a failed dump recorded its metadata")
	}
	t.Logf("error: %v; hint: %s", err, errs.Hint(err))
}

// smallDump dumps a little database with several chunks per table.
func smallDump(t *testing.T) *artifact.Memory {
	t.Helper()
	src, _ := transferDB(t)
	mem := artifact.NewMemory()
	if err := newEngine(t, src.DSN, Options{Workers: 2, ChunkRows: 500}).Backup(context.Background(), mem, nil); err != nil {
		t.Fatal(err)
	}
	return mem
}

func TestDamagedArtifactRefusedBeforeAnyTable(t *testing.T) {
	mem := smallDump(t)
	victim := metaOf(t, mem).Tables[1].Files[2].Name
	cut := func(name string, b []byte) []byte {
		if name == victim {
			return b[:len(b)*2/3]
		}
		return b
	}
	flip := func(name string, b []byte) []byte {
		if name == victim {
			i := strings.LastIndex(string(b), "500),(")
			b[i+1] = '9' // a balance of 900: same size, different data
		}
		return b
	}
	cases := []struct {
		name      string
		src       artifact.Source
		untouched bool // refused before creating any table
	}{
		{"truncated file in the snapshot", copyMemory(t, mem, cut), true},
		{"missing metadata", artifact.NewMemory(), true},
		{"stream ends early", lyingSource{mem, cut}, false},
		// The bytes agree with every recorded size and checksum, but a
		// statement is cut off: damaged content, found while loading.
		{"truncated statement, hashes match", consistentCut(t, mem, victim), false},
		{"corrupted bytes", lyingSource{mem, flip}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := testenv.MySQL(t)
			db := openDB(t, dst.DSN)
			e := newEngine(t, dst.DSN, Options{Workers: 2})
			_, err := e.Restore(context.Background(), c.src, progress.NewTask("restore"))
			if err == nil {
				t.Fatal("restore of a damaged snapshot succeeded")
			}
			// Damaged content exits 3 in every engine (README.md, "Exit codes").
			if errs.Code(err) != errs.Mismatch || errs.Hint(err) == "" {
				t.Errorf("code %d hint %q: %v", errs.Code(err), errs.Hint(err), err)
			}
			if c.name != "missing metadata" && !strings.Contains(err.Error(), victim) {
				t.Errorf("error does not name the file %s: %v", victim, err)
			}
			tables := tableNames(t, db, dst.Name)
			if c.untouched && len(tables) > 0 {
				t.Errorf("tables were created before the damage was found: %v", tables)
			}
			if !c.untouched {
				// The damaged file's transaction was rolled back: its
				// rows are not in the table.
				if n := queryInt(t, db, "SELECT COUNT(*) FROM acct_b WHERE bal = 900"); n != 0 {
					t.Errorf("rows of the damaged file were committed")
				}
			}
			t.Logf("%v", err)
		})
	}
	// Export fails the same way: damaged content (exit 3) naming the file,
	// found by the statement check as the cut statement is read (a
	// restore finds it there too) or by the checksum.
	err := Export(context.Background(), lyingSource{mem, cut}, io.Discard)
	if !errors.Is(err, artifact.ErrCorrupt) && !errors.Is(err, ErrTruncated) || errs.Code(err) != errs.Mismatch || !strings.Contains(err.Error(), victim) {
		t.Errorf("export of a truncated stream: %v", err)
	}
}

func TestNonEmptyTargetRefused(t *testing.T) {
	mem := smallDump(t)
	dst := testenv.MySQL(t)
	db := openDB(t, dst.DSN)
	mustExec(t, db, "CREATE TABLE acct_a (x int)", "INSERT INTO acct_a VALUES (42)", "CREATE TABLE keep_me (y int)")
	e := newEngine(t, dst.DSN, Options{})
	for _, f := range []func() error{
		func() error { return e.Preflight(context.Background(), mem) },
		func() error { _, err := e.Restore(context.Background(), mem, nil); return err },
	} {
		err := f()
		if err == nil || !strings.Contains(err.Error(), "table acct_a") || !strings.Contains(err.Error(), "table keep_me") || !strings.Contains(errs.Hint(err), "--drop-existing") {
			t.Fatalf("non-empty target not refused with the tables named: %v (%s)", err, errs.Hint(err))
		}
	}
	if n := queryInt(t, db, "SELECT x FROM acct_a"); n != 42 {
		t.Fatal("refused restore changed the target")
	}
	// With consent the objects are dropped and the dump loaded.
	e = newEngine(t, dst.DSN, Options{DropExisting: true})
	if _, err := e.Restore(context.Background(), mem, nil); err != nil {
		t.Fatal(err)
	}
	if got := tableNames(t, db, dst.Name); fmt.Sprint(got) != "[acct_a acct_b ledger]" {
		t.Errorf("after --drop-existing: %v", got)
	}
}

func TestVersionCompatibility(t *testing.T) {
	for _, c := range []struct {
		src, dst string
		ok       bool
	}{
		{"10.11.19-MariaDB-0+deb12u1-log", "10.11.2-MariaDB", true},
		{"10.6.12-MariaDB", "11.4.2-MariaDB", true},
		{"10.11.19-MariaDB", "10.5.9-MariaDB", false},
		{"8.0.36", "8.4.0", true},
		{"8.0.36", "5.7.44", false},
		{"5.7.44", "5.6.51", false},
		{"8.0.36", "10.11.4-MariaDB", true}, // collations decide
	} {
		err := compatible(c.src, c.dst)
		if (err == nil) != c.ok {
			t.Errorf("%s → %s: %v", c.src, c.dst, err)
		}
	}
}

// consistentCut cuts victim in the middle of a statement and rewrites the
// dump's metadata to the cut file's size and checksum, as a backup that
// wrote a broken file and hashed what it wrote would have.
func consistentCut(t *testing.T, mem *artifact.Memory, victim string) *artifact.Memory {
	t.Helper()
	return forge(t, mem, victim, func(b []byte) []byte {
		i := strings.LastIndex(string(b), "),(")
		if i < 0 {
			t.Fatalf("no statement to cut in %s", victim)
		}
		return b[:i+2]
	})
}

// forge edits one file of a dump and records the new bytes' size and
// checksum in the metadata, as someone who can write the repository
// would: every hash agrees with the forged content.
func forge(t *testing.T, mem *artifact.Memory, victim string, edit func([]byte) []byte) *artifact.Memory {
	t.Helper()
	out := copyMemory(t, mem, func(name string, b []byte) []byte {
		if name != victim {
			return b
		}
		return edit(b)
	})
	m := metaOf(t, out)
	b := out.Bytes(victim)
	fix := func(f *FileMeta) {
		if f.Name == victim {
			f.Bytes, f.CRC32C = int64(len(b)), crc32.Checksum(b, castagnoli)
		}
	}
	fix(&m.PreData)
	fix(&m.PostData)
	for ti := range m.Tables {
		for fi := range m.Tables[ti].Files {
			fix(&m.Tables[ti].Files[fi])
		}
	}
	if err := out.Set(MetaKey, m); err != nil {
		t.Fatal(err)
	}
	return out
}
