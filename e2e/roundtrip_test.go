package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/e2e/internal/fingerprint"
)

// TestRoundTripLocalS3 is the disaster-recovery drill without Kubernetes:
// a generated installation, backed up to the real S3 server, restored into
// a second set of empty stores; every store's fingerprint must equal the
// source's, verify must replay probes and pass, and the restored Redis
// servers must still hold their data after a restart (the restore left
// an AOF that reproduces it).
func TestRoundTripLocalS3(t *testing.T) {
	src := newInstall(t)
	src.seed(t)
	want := src.state(t)
	if want.Count("system-mysql/table:") < 10 || want.Count("backend-redis/") < 100 || want.Count("system-storage/") < 10 {
		t.Fatalf("the generated installation is too small to prove anything: %d tables, %d backend keys, %d storage entries",
			want.Count("system-mysql/table:"), want.Count("backend-redis/"), want.Count("system-storage/"))
	}
	r := s3Repo(t)
	id := backup(t, r, src)

	dst := newInstall(t)
	res := mustRun(t, r, append(dst.flags(), "-o", "json", "restore", id, "--yes")...)
	var doc struct {
		Report struct {
			Steps []struct {
				Name, Status string
				Items        int64
			}
			Mismatch bool
		}
	}
	if err := json.Unmarshal([]byte(res.Stdout), &doc); err != nil {
		t.Fatalf("restore -o json is not JSON: %v\n%s", err, res)
	}
	steps := map[string]string{}
	for _, s := range doc.Report.Steps {
		steps[s.Name] = s.Status
	}
	for _, s := range []string{"preflight", "system-mysql", "system-storage", "zync-postgres", "backend-redis", "system-redis", "verify"} {
		if steps[s] != "done" {
			t.Errorf("step %s: %q, want done (steps %v)", s, steps[s], steps)
		}
	}
	requireEqual(t, "restored installation vs source", want, dst.state(t))

	v := mustRun(t, r, append(dst.flags(), "-o", "json", "verify", "--snapshot", id)...)
	var vr struct {
		Probes int  `json:"probes"`
		Passed bool `json:"passed"`
	}
	if err := json.Unmarshal([]byte(v.Stdout), &vr); err != nil {
		t.Fatalf("verify -o json: %v\n%s", err, v)
	}
	if vr.Probes == 0 || !vr.Passed {
		t.Fatalf("verify replayed %d probes, passed=%t; want > 0 and true\n%s", vr.Probes, vr.Passed, v)
	}
	t.Logf("verify replayed %d probes", vr.Probes)

	// The restored Redis servers must reload the same data from disk.
	before := fingerprint.State{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for name, s := range map[string]string{"backend-redis": dst.Backend.Addr, "system-redis": dst.System.Addr} {
		st, err := fingerprint.Redis(ctx, s, "")
		if err != nil {
			t.Fatal(err)
		}
		before.Merge(name+"/", st)
	}
	dst.Backend.Restart()
	dst.System.Restart()
	after := fingerprint.State{}
	for name, s := range map[string]string{"backend-redis": dst.Backend.Addr, "system-redis": dst.System.Addr} {
		st, err := fingerprint.Redis(ctx, s, "")
		if err != nil {
			t.Fatal(err)
		}
		after.Merge(name+"/", st)
	}
	requireEqual(t, "restored Redis after a restart (AOF)", before, after)
	if !strings.Contains(res.Stdout, id) {
		t.Errorf("restore report does not name snapshot %s", id)
	}
}
