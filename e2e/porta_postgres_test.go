package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/testenv"
)

// newPGInstall is newInstall with the system database on PostgreSQL
// (Porta's PostgreSQL schema).
func newPGInstall(t *testing.T) *install {
	in := newInstall(t)
	sys := testenv.Postgres(t)
	in.SystemPG = &sys
	return in
}

// TestPortaOnPostgresRoundTripAndDrill: an installation whose system
// database is PostgreSQL is backed up (component system-mysql, written by
// the PostgreSQL engine), restored into empty stores with every store's
// fingerprint equal and verify passing with probes, exported as a psql
// stream, drilled end to end, and refused by name when restored into a
// MySQL system database.
func TestPortaOnPostgresRoundTripAndDrill(t *testing.T) {
	src := newPGInstall(t)
	src.seed(t)
	want := src.state(t)
	if want.Count("system-mysql/table:") < 10 {
		t.Fatalf("the generated system database has %d tables", want.Count("system-mysql/table:"))
	}
	r := localRepo(t)
	id := backup(t, r, src)

	dst := newPGInstall(t)
	plan := mustRun(t, r, append(dst.flags(), "restore", id, "--dry-run")...)
	if !strings.Contains(plan.Stdout+plan.Stderr, "PostgreSQL system database: load the schema") {
		t.Errorf("the restore plan does not say the system database is restored by the PostgreSQL engine:\n%s", plan)
	}
	res := mustRun(t, r, append(dst.flags(), "-o", "json", "restore", id, "--yes")...)
	var doc struct {
		Report struct {
			Steps []struct{ Name, Status string }
		}
	}
	if err := json.Unmarshal([]byte(res.Stdout), &doc); err != nil {
		t.Fatalf("restore -o json: %v\n%s", err, res)
	}
	steps := map[string]string{}
	for _, s := range doc.Report.Steps {
		steps[s.Name] = s.Status
	}
	for _, s := range []string{"system-mysql", "zync-postgres", "backend-redis", "verify"} {
		if steps[s] != "done" {
			t.Errorf("step %s: %q, want done (steps %v)", s, steps[s], steps)
		}
	}
	requireEqual(t, "restored Porta-on-PostgreSQL vs source", want, dst.state(t))

	v := mustRun(t, r, append(dst.flags(), "-o", "json", "verify", "--snapshot", id)...)
	var vr struct {
		Probes  int  `json:"probes"`
		Gateway int  `json:"gateway_requests"`
		Passed  bool `json:"passed"`
	}
	if err := json.Unmarshal([]byte(v.Stdout), &vr); err != nil {
		t.Fatalf("verify -o json: %v\n%s", err, v)
	}
	if vr.Probes == 0 || vr.Gateway == 0 || !vr.Passed {
		t.Fatalf("verify on the restored PostgreSQL system database: %+v\n%s", vr, v)
	}

	out := filepath.Join(t.TempDir(), "system.sql")
	mustRun(t, r, "backups", "export", id, "system-mysql", "--file", out)
	sql, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"-- 3scale-ops export of system-mysql", "COPY public.cinstances", "CREATE FUNCTION public.tp_cinstances_tenant_id()", "CREATE TRIGGER cinstances_tenant_id"} {
		if !strings.Contains(string(sql), s) {
			t.Errorf("export of a PostgreSQL system-mysql lacks %q", s)
		}
	}

	drillTo := newPGInstall(t)
	mustRun(t, r, append(src.flags(), "drill", "--snapshot", id,
		"--target-system-db-url", drillTo.SystemPG.URL, "--target-backend-redis-url", "redis://"+drillTo.Backend.Addr+"/0")...)

	res = run(t, r, append(newInstall(t).flags(), "restore", id, "--yes", "--components", "system-mysql")...)
	if res.Code == 0 || !strings.Contains(res.Stdout+res.Stderr, "holds a PostgreSQL system database and the target is MySQL") {
		t.Fatalf("restoring a PostgreSQL system-mysql into MySQL: want a refusal naming both\n%s", res)
	}
}
