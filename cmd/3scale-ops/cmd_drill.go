package main

import (
	"fmt"
	"os"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/3scale-ops/3scale-ops/internal/drill"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/urfave/cli/v2"
)

func drillCommand() *cli.Command {
	return &cli.Command{
		Name:  "drill",
		Usage: "disaster-recovery drill: back up, restore into a scratch target, verify, verdict",
		Description: `A drill takes a fresh snapshot of the source (or uses --snapshot), restores it
into a scratch target — another namespace, or other servers given with the
--target-* flags — runs the verification, and prints a JSON report (-o json) or
a table, optionally also JUnit XML for CI. The target is scratch: its data is
replaced (--drop-existing is implied). Exit 0 only when every step passed;
3 when the data was restored but verification found differences.`,
		UsageText: `3scale-ops -n 3scale drill --target-namespace 3scale-drill --report drill.xml
3scale-ops --local --system-db-url mysql2://… --backend-redis-url … drill \
    --target-system-db-url mysql2://… --target-backend-redis-url … --target-system-storage dir:///tmp/drill
3scale-ops -r s3://s3.example.com/backups/prod drill --snapshot latest --target-namespace 3scale-drill`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "snapshot", EnvVars: []string{"THREESCALE_OPS_DRILL_SNAPSHOT"}, Usage: "restore-test this existing snapshot (id or latest) instead of taking a new one"},
			&cli.BoolFlag{Name: "require-all", EnvVars: []string{"THREESCALE_OPS_DRILL_REQUIRE_ALL"}, Usage: "fail when a component of the snapshot is not restored and verified"},
			&cli.StringFlag{Name: "report", EnvVars: []string{"THREESCALE_OPS_DRILL_REPORT"}, Usage: "write a JUnit XML report to this file"},
			&cli.StringFlag{Name: "target-namespace", EnvVars: []string{"THREESCALE_OPS_TARGET_NAMESPACE"}, Usage: "scratch namespace to restore into (connections from its secrets)"},
			&cli.StringFlag{Name: "target-system-db-url", EnvVars: []string{"THREESCALE_OPS_TARGET_SYSTEM_DB_URL"}, Usage: "scratch system database"},
			&cli.StringFlag{Name: "target-zync-db-url", EnvVars: []string{"THREESCALE_OPS_TARGET_ZYNC_DB_URL"}, Usage: "scratch zync database"},
			&cli.StringFlag{Name: "target-backend-redis-url", EnvVars: []string{"THREESCALE_OPS_TARGET_BACKEND_REDIS_URL"}, Usage: "scratch backend-redis"},
			&cli.StringFlag{Name: "target-backend-redis-queues-url", EnvVars: []string{"THREESCALE_OPS_TARGET_BACKEND_REDIS_QUEUES_URL"}, Usage: "scratch backend-redis queues"},
			&cli.StringFlag{Name: "target-system-redis-url", EnvVars: []string{"THREESCALE_OPS_TARGET_SYSTEM_REDIS_URL"}, Usage: "scratch system-redis"},
			&cli.StringFlag{Name: "target-system-storage", EnvVars: []string{"THREESCALE_OPS_TARGET_SYSTEM_STORAGE"}, Usage: "scratch system-storage (dir:///path or s3://…)"},
			&cli.StringSliceFlag{Name: "components", EnvVars: []string{"THREESCALE_OPS_DRILL_COMPONENTS"}, Usage: "drill only these components"},
		},
		Action: runDrill,
	}
}

// targetFlags maps each --target-* flag to the connection it points at.
var targetFlags = map[string]string{
	"target-system-db-url": config.SystemDB, "target-zync-db-url": config.ZyncDB,
	"target-backend-redis-url": config.BackendRedis, "target-backend-redis-queues-url": config.BackendRedisQueues,
	"target-system-redis-url": config.SystemRedis, "target-system-storage": config.SystemStorage,
}

// drillRequest builds the drill from the flags: the source is the global
// settings, the target is resolved from the --target-* flags alone.
func drillRequest(c *cli.Context, g *globals) (drill.Request, error) {
	spec := drill.TargetSpec{Namespace: c.String("target-namespace"), URLs: map[string]string{}}
	for flag, conn := range targetFlags {
		spec.URLs[conn] = c.String(flag)
	}
	chosen := splitList(c.StringSlice("components"))
	target, err := drill.ResolveTarget(c.Context, spec, chosen, &g.Settings)
	if err != nil {
		return drill.Request{}, err
	}
	req := drill.Request{Snapshot: c.String("snapshot"), Components: chosen, RequireAll: c.Bool("require-all"),
		Target: target, Log: g.Log, Warn: func(msg string) { g.warnf("%s", msg) }, Output: &logWriter{g: g, prefix: "zync resync: "}}
	req.Source.Desc = drill.SourceDesc(&g.Settings)
	// The source's connections: needed for the backup, and to check that
	// the target is not the source.
	if conns, kc, err := g.connections(c.Context); err == nil {
		req.Source.Conns, req.Source.Kube = conns, kc
	} else if req.Snapshot == "" {
		return drill.Request{}, err
	}
	return req, nil
}

func runDrill(c *cli.Context) error {
	g := getGlobals(c)
	req, err := drillRequest(c, g)
	if err != nil {
		return err
	}
	if req.Repo, err = g.openRepository(c.Context, req.Snapshot == ""); err != nil {
		return err
	}
	rep, err := drill.Run(c.Context, req)
	if rep == nil {
		return err
	}
	if f := c.String("report"); f != "" {
		if werr := os.WriteFile(f, rep.JUnit(), 0o644); werr != nil {
			return errs.UsageError("check --report", "write JUnit report: %v", werr)
		}
	}
	if g.JSON() {
		if perr := g.printJSON(rep); perr != nil {
			return perr
		}
		return err
	}
	printDrill(g, rep)
	return err
}

func printDrill(g *globals, rep *drill.Report) {
	rows := [][]string{}
	for _, s := range rep.Steps {
		res := "pass"
		if !s.Passed {
			res = "FAIL"
		}
		rows = append(rows, []string{s.Name, res, fmt.Sprintf("%.1fs", s.Seconds), s.Detail})
	}
	for _, s := range rep.Restore {
		rows = append(rows, []string{"  " + s.Name, s.Status, s.Ended.Sub(s.Started).Round(10 * time.Millisecond).String(), s.Summary})
	}
	for _, s := range rep.Skipped {
		rows = append(rows, []string{"  " + s.Component, "SKIPPED", "", "not restored, not verified: " + s.Reason})
	}
	table(g.Stdout, []string{"STEP", "RESULT", "TIME", "DETAIL"}, rows)
	verdict := "PASSED"
	if !rep.Passed {
		verdict = "FAILED"
	} else if len(rep.Skipped) > 0 {
		verdict = fmt.Sprintf("PASSED for %d restored components, %d SKIPPED (--require-all makes that a failure)", len(rep.Restored), len(rep.Skipped))
	}
	g.printf("drill %s: snapshot %s restored from %s into %s in %.1fs\n", verdict, rep.Snapshot, rep.Source, rep.Target, rep.Seconds)
}
