package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/urfave/cli/v2"
)

// A drill must never restore into its source: a target equal to the
// source is refused, and connection flags without a target are passed
// explicitly empty so that the source's environment variables cannot
// fill them in the restore run.
func TestDrillNeverTargetsItsSource(t *testing.T) {
	src := "mysql2://root:drillpw1@127.0.0.1:1/system"
	_, stderr, code := runCLI(t, "--local", "--system-db-url", src, "-r", t.TempDir(), "drill", "--target-system-db-url", src)
	if code != errs.Usage || !strings.Contains(stderr, "must not restore into its source") || strings.Contains(stderr, "drillpw1") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}

	t.Setenv("THREESCALE_SYSTEM_DB_URL", src)
	var args, comps []string
	app := newApp(nil, nil, nil)
	app.Commands = []*cli.Command{{Name: "probe", Flags: drillCommand().Flags, Action: func(c *cli.Context) error {
		var err error
		args, _, comps, err = drillTarget(c, getGlobals(c))
		return err
	}}}
	if err := app.Run([]string{"3scale-ops", "--local", "probe", "--target-backend-redis-url", "redis://127.0.0.1:2/0"}); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(args, "--system-db-url=") || !slices.Contains(args, "--backend-redis-url=redis://127.0.0.1:2/0") {
		t.Fatalf("restore flags %v", args)
	}
	if strings.Join(comps, ",") != "backend-redis" {
		t.Fatalf("components %v", comps)
	}
	if got := drillComponents([]string{"system-mysql", "backend-redis"}, comps); strings.Join(got, ",") != "backend-redis" {
		t.Fatalf("drillComponents %v", got)
	}
}
