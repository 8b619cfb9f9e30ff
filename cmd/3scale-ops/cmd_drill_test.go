package main

import (
	"context"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/3scale-ops/3scale-ops/internal/drill"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/urfave/cli/v2"
)

// A drill must never restore into its source: a target equal to the
// source is refused, and the target's connections come from the
// --target-* flags alone, so that the source's flags, environment
// variables and TLS settings cannot fill them in.
func TestDrillNeverTargetsItsSource(t *testing.T) {
	src := "mysql2://root:drillpw1@127.0.0.1:1/system"
	_, stderr, code := runCLI(t, "--local", "--system-db-url", src, "-r", t.TempDir(), "drill", "--target-system-db-url", src)
	if code != errs.Usage || !strings.Contains(stderr, "must not restore into its source") || strings.Contains(stderr, "drillpw1") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}

	t.Setenv("THREESCALE_SYSTEM_DB_URL", src)
	t.Setenv("THREESCALE_OPS_SYSTEM_DB_SSL_MODE", "VERIFY_IDENTITY")
	var req drill.Request
	app := newApp(nil, nil, nil)
	app.Commands = []*cli.Command{{Name: "probe", Flags: drillCommand().Flags, Action: func(c *cli.Context) error {
		var err error
		req, err = drillRequest(c, getGlobals(c))
		return err
	}}}
	if err := app.Run([]string{"3scale-ops", "--local", "probe", "--target-backend-redis-url", "redis://127.0.0.1:2/0"}); err != nil {
		t.Fatal(err)
	}
	tc := req.Target.Conns
	if tc.Errs[config.SystemDB] == nil || tc.SystemDB.URL != "" {
		t.Fatalf("the target's system database came from the source's environment: %+v", tc.SystemDB)
	}
	if tc.Errs[config.BackendRedis] != nil || !strings.Contains(tc.BackendRedis.Redacted(), "127.0.0.1:2") {
		t.Fatalf("target backend-redis %q, %v", tc.BackendRedis.Redacted(), tc.Errs[config.BackendRedis])
	}
	if req.Target.Override.SystemDB != "" || req.Target.Override.TLS[config.SystemDB].Mode != "" {
		t.Fatalf("the source's settings reached the target's overrides: %+v", req.Target.Override)
	}
	if req.Source.Conns == nil || req.Source.Conns.Errs[config.SystemDB] != nil {
		t.Fatalf("the source's system database is not the environment's: %+v", req.Source.Conns)
	}
	if strings.Join(req.Target.Components, ",") != "backend-redis" {
		t.Fatalf("target components %v", req.Target.Components)
	}
	if got := drill.Components([]string{"system-mysql", "backend-redis"}, req.Target.Components); strings.Join(got, ",") != "backend-redis" {
		t.Fatalf("drill.Components %v", got)
	}

	// Resolved connections that point at the same server are refused too,
	// before anything runs (whatever spelling the flags used).
	same, err := config.Resolve(context.Background(), nil, "", config.Overrides{BackendRedis: "redis://127.0.0.1:2/0"})
	if err != nil {
		t.Fatal(err)
	}
	req.Source.Conns = same
	req.Repo = nil
	if _, err := drill.Run(context.Background(), req); err == nil {
		t.Fatal("a drill without a repository ran")
	}
	if err := drill.NotTheSource(same, req.Target.Conns, req.Target.Components); errs.Code(err) != errs.Usage || !strings.Contains(err.Error(), "must not restore into its source") {
		t.Fatalf("same backend-redis on both sides: %v", err)
	}
}
