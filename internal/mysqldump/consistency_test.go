package mysqldump

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/go-sql-driver/mysql"
)

// slowSink delays every file, so that a dump spans many concurrent writes.
type slowSink struct {
	*artifact.Memory
	delay time.Duration
}

func (s slowSink) Create(ctx context.Context, name, format string) (artifact.File, error) {
	time.Sleep(s.delay)
	return s.Memory.Create(ctx, name, format)
}

// transferDB has two account tables and a ledger; every transfer moves an
// amount from one table to the other and records it, in one transaction.
// In any consistent snapshot: SUM(a) = 1e6 - SUM(ledger), SUM(b) = 1e6 + SUM(ledger).
func transferDB(t *testing.T) (testenv.MySQLDatabase, *sql.DB) {
	t.Helper()
	d := testenv.MySQL(t)
	db := openDB(t, d.DSN)
	mustExec(t, db,
		"CREATE TABLE acct_a (id int PRIMARY KEY, bal bigint NOT NULL)",
		"CREATE TABLE acct_b (id int PRIMARY KEY, bal bigint NOT NULL)",
		"CREATE TABLE ledger (id bigint AUTO_INCREMENT PRIMARY KEY, a int, b int, amount bigint, at datetime(6))",
		"INSERT INTO acct_a SELECT seq, 500 FROM seq_1_to_2000",
		"INSERT INTO acct_b SELECT seq, 500 FROM seq_1_to_2000")
	return d, db
}

func runTransfers(t *testing.T, db *sql.DB, stop <-chan struct{}) *atomic.Int64 {
	var n atomic.Int64
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				a, b, amt := 1+r.IntN(2000), 1+r.IntN(2000), 1+r.Int64N(50)
				tx, err := db.Begin()
				if err != nil {
					continue
				}
				_, e1 := tx.Exec("UPDATE acct_a SET bal = bal - ? WHERE id = ?", amt, a)
				_, e2 := tx.Exec("UPDATE acct_b SET bal = bal + ? WHERE id = ?", amt, b)
				_, e3 := tx.Exec("INSERT INTO ledger (a, b, amount, at) VALUES (?, ?, ?, NOW(6))", a, b, amt)
				if e1 != nil || e2 != nil || e3 != nil || tx.Commit() != nil {
					tx.Rollback()
					continue
				}
				n.Add(1)
			}
		}()
	}
	t.Cleanup(wg.Wait)
	return &n
}

func checkInvariant(t *testing.T, db *sql.DB) {
	t.Helper()
	sa := queryInt(t, db, "SELECT SUM(bal) FROM acct_a")
	sb := queryInt(t, db, "SELECT SUM(bal) FROM acct_b")
	sl := queryInt(t, db, "SELECT COALESCE(SUM(amount),0) FROM ledger")
	if sa != 1_000_000-sl || sb != 1_000_000+sl {
		t.Errorf("restored dump is not one point in time: SUM(a)=%d SUM(b)=%d SUM(ledger)=%d", sa, sb, sl)
	}
	if sl == 0 {
		t.Errorf("no transfer was captured; the test proves nothing")
	}
}

func dumpUnderLoad(t *testing.T, src testenv.MySQLDatabase, db *sql.DB, dsn string, workers int) *artifact.Memory {
	t.Helper()
	stop := make(chan struct{})
	n := runTransfers(t, db, stop)
	for n.Load() < 50 {
		time.Sleep(5 * time.Millisecond)
	}
	mem := artifact.NewMemory()
	before := n.Load()
	err := newEngine(t, dsn, Options{Workers: workers, ChunkRows: 100}).Backup(context.Background(), slowSink{mem, 15 * time.Millisecond}, progress.NewTask("dump"))
	during := n.Load() - before
	close(stop)
	if err != nil {
		t.Fatalf("backup under load: %v", err)
	}
	if during < 20 {
		t.Fatalf("only %d transfers ran during the dump; the test proves nothing", during)
	}
	t.Logf("%d transfers committed while the dump ran", during)
	return mem
}

func TestPointInTimeUnderWrites(t *testing.T) {
	src, db := transferDB(t)
	mem := dumpUnderLoad(t, src, db, src.DSN, 4)
	m := metaOf(t, mem)
	if m.Consistency.Method != "ftwrl" || m.Consistency.Workers != 4 {
		t.Fatalf("consistency: %+v", m.Consistency)
	}
	dst := testenv.MySQL(t)
	if _, err := newEngine(t, dst.DSN, Options{Workers: 4}).Restore(context.Background(), mem, nil); err != nil {
		t.Fatal(err)
	}
	checkInvariant(t, openDB(t, dst.DSN))
}

// Without RELOAD the dump falls back to one consistent transaction and
// says so.
func TestFallbackWithoutReloadPrivilege(t *testing.T) {
	src, db := transferDB(t)
	user, pw := testenv.Unique("dumper_"), testenv.Unique("pw")
	mustExec(t, db, "CREATE USER '"+user+"'@'%' IDENTIFIED BY '"+pw+"'",
		"GRANT SELECT, SHOW VIEW, TRIGGER, LOCK TABLES ON `"+src.Name+"`.* TO '"+user+"'@'%'")
	t.Cleanup(func() { db.Exec("DROP USER IF EXISTS '" + user + "'@'%'") })
	cfg, _ := mysql.ParseDSN(src.DSN)
	cfg.User, cfg.Passwd = user, pw
	mem := dumpUnderLoad(t, src, db, cfg.FormatDSN(), 4)
	m := metaOf(t, mem)
	if m.Consistency.Method != "single-transaction" || m.Consistency.Workers != 1 || m.Consistency.Warning == "" {
		t.Fatalf("fallback not recorded: %+v", m.Consistency)
	}
	if m.Consistency.BinlogFile == "" {
		t.Errorf("MariaDB binlog snapshot position not recorded: %+v", m.Consistency)
	}
	dst := testenv.MySQL(t)
	if _, err := newEngine(t, dst.DSN, Options{Workers: 2}).Restore(context.Background(), mem, nil); err != nil {
		t.Fatal(err)
	}
	checkInvariant(t, openDB(t, dst.DSN))
}
