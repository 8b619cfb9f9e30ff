package mysqldump

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
)

// dumpPorta creates a Porta-shaped database and dumps it.
func dumpPorta(t *testing.T, opts Options) (testenv.MySQLDatabase, *artifact.Memory) {
	t.Helper()
	src := testenv.MySQL(t)
	db := openDB(t, src.DSN)
	// The objects' definer is Porta's own user, which the restore target
	// will not have: it is dropped right after the dump.
	user := testenv.Unique("porta_")
	mustExec(t, db, "CREATE USER '"+user+"'@'%' IDENTIFIED BY '"+testenv.Unique("pw")+"'",
		"GRANT ALL ON `"+src.Name+"`.* TO '"+user+"'@'%'")
	t.Cleanup(func() { db.Exec("DROP USER IF EXISTS '" + user + "'@'%'") })
	execScript(t, db, portaSchema("`"+user+"`@`%`"))
	mustExec(t, db, portaData(1)...)
	mem := artifact.NewMemory()
	task := progress.NewTask("dump")
	if err := newEngine(t, src.DSN, opts).Backup(context.Background(), mem, task); err != nil {
		t.Fatalf("backup: %v", err)
	}
	mustExec(t, db, "DROP USER '"+user+"'@'%'")
	if st := task.Stats(); st.Items == 0 || st.Bytes == 0 || !st.Done {
		t.Errorf("backup progress not reported: %+v", st)
	}
	return src, mem
}

func compareDatabases(t *testing.T, a, b testenv.MySQLDatabase) {
	t.Helper()
	dba, dbb := openDB(t, a.DSN), openDB(t, b.DSN)
	ca, cb := checksums(t, dba, a.Name), checksums(t, dbb, b.Name)
	if len(ca) < 10 {
		t.Fatalf("source has only %d tables", len(ca))
	}
	if !maps.Equal(ca, cb) {
		t.Errorf("CHECKSUM TABLE differs:\nsource   %v\nrestored %v", ca, cb)
	}
	oa, ob := objects(t, dba, a.Name), objects(t, dbb, b.Name)
	t.Logf("compared %d tables (checksums %v) and %d schema objects", len(ca), ca, len(oa))
	for _, k := range slices.Sorted(maps.Keys(oa)) {
		if ob[k] != oa[k] {
			t.Errorf("%s differs:\nsource:   %s\nrestored: %s", k, oa[k], ob[k])
		}
	}
	if len(oa) != len(ob) {
		t.Errorf("object sets differ: %v vs %v", slices.Sorted(maps.Keys(oa)), slices.Sorted(maps.Keys(ob)))
	}
	for _, tb := range tableNames(t, dba, a.Name) {
		q := "SELECT COUNT(*) FROM " + quoteIdent(tb)
		if na, nb := queryInt(t, dba, q), queryInt(t, dbb, q); na != nb {
			t.Errorf("%s: %d rows, restored %d", tb, na, nb)
		}
	}
}

func TestRoundTripPorta(t *testing.T) {
	src, mem := dumpPorta(t, Options{Workers: 3, ChunkRows: 170, StatementBytes: 4096})
	m := metaOf(t, mem)
	if m.Consistency.Method != "ftwrl" || m.Consistency.Workers != 3 || m.Consistency.BinlogFile == "" || m.Consistency.BinlogPos == 0 {
		t.Errorf("consistency not recorded: %+v", m.Consistency)
	}
	if m.Flavor != "mariadb" || m.Version == "" || m.Charset != "utf8mb4" {
		t.Errorf("server not recorded: %+v", m)
	}
	var alerts *TableMeta
	for i := range m.Tables {
		if m.Tables[i].Name == "alerts" {
			alerts = &m.Tables[i]
		}
	}
	if alerts == nil || alerts.Rows != 1500 || len(alerts.Files) < 5 {
		t.Fatalf("alerts not chunked by primary key: %+v", alerts)
	}
	if len(m.Triggers) != 8 || len(m.Routines) != 2 || len(m.Views) != 2 {
		t.Errorf("post-data objects: triggers %v routines %v views %v", m.Triggers, m.Routines, m.Views)
	}
	post := string(mem.Bytes(PostDataFile))
	if strings.Contains(post, "porta_") || strings.Contains(post, src.Name) {
		t.Errorf("post-data keeps a DEFINER or the source database name:\n%s", post)
	}
	if strings.Index(post, "provider_services`") > strings.Index(post, "provider_service_count`") {
		t.Errorf("view provider_service_count comes before the view it uses")
	}

	dst := testenv.MySQL(t)
	task := progress.NewTask("restore")
	e := newEngine(t, dst.DSN, Options{Workers: 3, SkipBinlog: true})
	if err := e.Preflight(context.Background(), mem); err != nil {
		t.Fatalf("preflight into an empty database: %v", err)
	}
	if _, err := e.Restore(context.Background(), mem, task); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if st := task.Stats(); st.Items != st.TotalItems || st.Items == 0 {
		t.Errorf("restore progress: %+v", st)
	}
	compareDatabases(t, src, dst)

	// The restored triggers work and run as the restoring user, although
	// the original definer does not exist.
	db := openDB(t, dst.DSN)
	mustExec(t, db, "INSERT INTO accounts (org_name, domain, buyer, provider_account_id, state) VALUES ('after restore', 'new.example.com', 1, 4, 'approved')")
	if got := queryInt(t, db, "SELECT tenant_id FROM accounts WHERE domain = 'new.example.com'"); got != 4 {
		t.Errorf("accounts_tenant_id trigger after restore set tenant_id %d, want 4", got)
	}
	mustExec(t, db, "INSERT INTO alerts (account_id, timestamp, state, cinstance_id, utilization, level, alert_id) VALUES (9, NOW(), 'unread', 1, 1.5, 150, 999999)")
	if got := queryInt(t, db, "SELECT tenant_id FROM alerts WHERE alert_id = 999999"); got == 0 {
		t.Errorf("alerts_tenant_id trigger did not fire after restore")
	}
	mustExec(t, db, "INSERT INTO invoices (provider_account_id, period) VALUES (3, '2024-03-05')")
	mustExec(t, db, "CALL sp_invoices_friendly_id(LAST_INSERT_ID())")
	if got := queryStrings(t, db, "SELECT friendly_id FROM invoices ORDER BY id DESC LIMIT 1"); len(got) != 1 || got[0] != "2024-03-00000001" {
		t.Errorf("sp_invoices_friendly_id after restore: %v", got)
	}
	if got := queryInt(t, db, "SELECT tenant_of(7)"); got == 0 {
		t.Errorf("function tenant_of after restore returned 0")
	}
	if got := queryInt(t, db, "SELECT SUM(n) FROM provider_service_count"); got != 20 {
		t.Errorf("view after restore: %d services, want 20", got)
	}
}

func TestExportLoadsWithMySQLClient(t *testing.T) {
	src, mem := dumpPorta(t, Options{Workers: 2, ChunkRows: 400})
	compareDatabases(t, src, loadExportWithMariaDB(t, mem))
}
