package e2e

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A drill with targets for only some stores restores and verifies those,
// and says which components of the snapshot it did not test: skipped
// cases in the JUnit report, SKIPPED in the table, and a failure with
// --require-all.
func TestDrillReportsSkippedComponents(t *testing.T) {
	src := newInstall(t)
	src.seed(t)
	r := localRepo(t)
	id := backup(t, r, src)
	dst := newInstall(t)
	report := filepath.Join(t.TempDir(), "junit.xml")
	args := append(src.flags(), "drill", "--snapshot", id, "--report", report,
		"--target-system-db-url", dst.MySQL.URL, "--target-backend-redis-url", "redis://"+dst.Backend.Addr+"/0")
	res := mustRun(t, r, args...)
	if !strings.Contains(res.Stdout, "SKIPPED") || !strings.Contains(res.Stdout, "zync-postgres") {
		t.Fatalf("the drill does not say what it left out:\n%s", res)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var suite struct {
		Skipped int `xml:"skipped,attr"`
		Cases   []struct {
			Name    string    `xml:"name,attr"`
			Skipped *struct{} `xml:"skipped"`
		} `xml:"testcase"`
	}
	if err := xml.Unmarshal(b, &suite); err != nil {
		t.Fatal(err)
	}
	skipped := map[string]bool{}
	for _, c := range suite.Cases {
		if c.Skipped != nil {
			skipped[c.Name] = true
		}
	}
	for _, c := range []string{"restore/zync-postgres", "restore/system-redis", "restore/system-storage"} {
		if !skipped[c] {
			t.Errorf("JUnit has no skipped case %s:\n%s", c, b)
		}
	}
	if skipped["restore/system-mysql"] || skipped["restore/backend-redis"] || suite.Skipped != len(skipped) {
		t.Errorf("JUnit skipped cases wrong:\n%s", b)
	}
	res = run(t, r, append(args, "--require-all")...)
	if res.Code == 0 || !strings.Contains(res.Stdout+res.Stderr, "--require-all") {
		t.Fatalf("--require-all with skipped components: want a failure naming it\n%s", res)
	}
}
