package main

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/component"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/restore"
	"github.com/urfave/cli/v2"
)

func restoreCommand() *cli.Command {
	return &cli.Command{
		Name:        "restore",
		Usage:       "restore a snapshot in the runbook's order: plan, preflight, quiesce, data, scale back, resync, verify",
		ArgsUsage:   "ID|latest",
		Description: "Components, in restore order:\n" + component.Help(),
		UsageText: `3scale-ops -n 3scale restore latest --dry-run
3scale-ops -n 3scale restore 20261123T020000Z-a1b2c3 --yes
3scale-ops -n 3scale restore 20261123T020000Z-a1b2c3 --resume --yes
3scale-ops --local --system-db-url mysql2://root:PW@db2/system --backend-redis-url redis://r2:6379/0 restore latest --components system-mysql,backend-redis --yes`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "components", EnvVars: []string{"THREESCALE_OPS_COMPONENTS"}, Usage: "restore only these components"},
			&cli.BoolFlag{Name: "dry-run", EnvVars: []string{"THREESCALE_OPS_RESTORE_DRY_RUN"}, Usage: "print the plan and stop"},
			&cli.BoolFlag{Name: "resume", EnvVars: []string{"THREESCALE_OPS_RESTORE_RESUME"}, Usage: "continue an interrupted restore of ID from its first unfinished step"},
			&cli.StringSliceFlag{Name: "skip-step", EnvVars: []string{"THREESCALE_OPS_SKIP_STEP"}, Usage: "leave out this step of the plan (recorded in the journal and the report; verify names it); repeatable"},
			&cli.BoolFlag{Name: "abandon", EnvVars: []string{"THREESCALE_OPS_RESTORE_ABANDON"}, Usage: "remove the journal (and stale lock) of an unfinished restore of ID, after confirmation, so a new restore starts over"},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, EnvVars: []string{"THREESCALE_OPS_YES"}, Usage: "do not ask for confirmation"},
			&cli.StringFlag{Name: "redis-mode", Value: "replay", EnvVars: []string{"THREESCALE_OPS_REDIS_MODE"}, Usage: "replay (RESTORE over the network; any Redis) or file (the guide's dump.rdb procedure)"},
			&cli.BoolFlag{Name: "skip-queues", EnvVars: []string{"THREESCALE_OPS_SKIP_QUEUES"}, Usage: "leave job queues untouched (restoring them can run jobs twice)"},
			&cli.BoolFlag{Name: "no-quiesce", EnvVars: []string{"THREESCALE_OPS_NO_QUIESCE"}, Usage: "do not scale 3scale down during the restore (unsafe)"},
			&cli.BoolFlag{Name: "skip-backend-sync", EnvVars: []string{"THREESCALE_OPS_SKIP_BACKEND_SYNC"}, Usage: "after backend-redis, do not run System's backend configuration rewrite (rake backend:storage:enqueue_rewrite, guide 7.5.6)"},
			&cli.BoolFlag{Name: "skip-reindex", EnvVars: []string{"THREESCALE_OPS_SKIP_REINDEX"}, Usage: "after system-mysql, do not rebuild system-searchd's index (rake searchd:optimal_index; 3scale 2.14.1+)"},
			&cli.BoolFlag{Name: "no-verify", EnvVars: []string{"THREESCALE_OPS_NO_VERIFY"}, Usage: "skip the final verification"},
			&cli.BoolFlag{Name: "require-verify", EnvVars: []string{"THREESCALE_OPS_REQUIRE_VERIFY"}, Usage: "fail, before changing anything, when the verification cannot run (a partial restore without connections to system-mysql and backend-redis); without it the restore says \"verify skipped\" and succeeds"},
			&cli.BoolFlag{Name: "drop-existing", EnvVars: []string{"THREESCALE_OPS_DROP_EXISTING"}, Usage: "allow restoring into targets that already hold data: databases, Redis and a system-storage directory are emptied first; in S3 and the pod's volume, files of the same name are replaced and others are kept"},
			&cli.BoolFlag{Name: "skip-binlog", EnvVars: []string{"THREESCALE_OPS_SKIP_BINLOG"}, Usage: "system-mysql on MySQL or MariaDB: do not write the load to the target's binary log (sql_log_bin = 0; needs SUPER or BINLOG ADMIN, else warned about and logged as usual). Replicas of the target and a point-in-time recovery from its binlog then do not see the restore; for a new server without replicas"},
			&cli.BoolFlag{Name: "unlock-stale", EnvVars: []string{"THREESCALE_OPS_UNLOCK_STALE"}, Usage: "remove a stale repository lock left by a dead run"},
			&cli.BoolFlag{Name: "with-grants", EnvVars: []string{"THREESCALE_OPS_WITH_GRANTS"}, Usage: "PostgreSQL databases (zync-postgres, and system-mysql on PostgreSQL): also apply the recorded GRANT/REVOKE statements (the roles must exist on the target)"},
			&cli.DurationFlag{Name: "timeout", Value: 10 * time.Minute, EnvVars: []string{"THREESCALE_OPS_TIMEOUT"}, Usage: "how long each wait for workloads may take"},
			&cli.BoolFlag{Name: "rewrite-connections", EnvVars: []string{"THREESCALE_OPS_REWRITE_CONNECTIONS"}, Usage: "set the connection keys of the namespace's secrets (URL, DATABASE_URL, REDIS_STORAGE_URL, …) to the servers given by flags that the data is restored into; =false restores the snapshot's keys as they are; unset, keys of servers found in the namespace's own secrets are kept and those given by flags are warned about"},
			&cli.BoolFlag{Name: "show-secrets", EnvVars: []string{"THREESCALE_OPS_SHOW_SECRETS"}, Usage: "when a restore into a namespace without 3scale pauses for oc new-app (template installs), also print the parameters' values (they are always in the 0600 parameter file under --state-dir)"},
			&cli.BoolFlag{Name: "allow-version-change", EnvVars: []string{"THREESCALE_OPS_ALLOW_VERSION_CHANGE"}, Usage: "restore a snapshot of another 3scale minor version than the target runs (its schema and data may not match)"},
		},
		Action: runRestoreCommand,
	}
}

func runRestoreCommand(c *cli.Context) error {
	if c.NArg() != 1 {
		return errs.UsageError("give one snapshot id, or latest (see `3scale-ops backups list`)", "restore needs exactly one snapshot")
	}
	g := getGlobals(c)
	if c.Bool("abandon") {
		return abandonRestore(c.Context, g, c.Args().First(), c.Bool("yes"))
	}
	req := restore.Request{Snapshot: c.Args().First(), Components: splitList(c.StringSlice("components")),
		DryRun: c.Bool("dry-run"), Resume: c.Bool("resume"), RedisMode: c.String("redis-mode"),
		SkipQueues: c.Bool("skip-queues"), NoQuiesce: c.Bool("no-quiesce"), NoVerify: c.Bool("no-verify"), RequireVerify: c.Bool("require-verify"),
		DropExisting: c.Bool("drop-existing"), SkipBinlog: c.Bool("skip-binlog"), UnlockStale: c.Bool("unlock-stale"), WithGrants: c.Bool("with-grants"), Timeout: c.Duration("timeout"),
		SkipSteps: splitList(c.StringSlice("skip-step")), NoBackendSync: c.Bool("skip-backend-sync"), NoReindex: c.Bool("skip-reindex"),
		AllowVersionChange: c.Bool("allow-version-change"), RewriteConnections: rewriteMode(c),
		ParamDir: restore.ParamDir(c.String("state-dir")), ShowSecrets: c.Bool("show-secrets")}
	rep, err := runRestore(c.Context, g, req, c.Bool("yes"))
	if g.JSON() && rep != nil && rep.Plan != nil {
		doc := map[string]any{"plan": rep.Plan, "steps": rep.Plan.Describe(), "dry_run": req.DryRun}
		if rep.Ran() {
			doc["report"] = rep
		}
		if rep.Paused != nil {
			doc["status"] = "paused"
		}
		if err != nil {
			doc["error"] = err.Error()
		}
		if perr := g.printJSON(doc); perr != nil && err == nil {
			err = perr
		}
	}
	return err
}

// rewriteMode maps --rewrite-connections (unset, true, false) onto restore's modes.
func rewriteMode(c *cli.Context) string {
	switch {
	case !c.IsSet("rewrite-connections"):
		return restore.RewriteAuto
	case c.Bool("rewrite-connections"):
		return restore.RewriteOn
	}
	return restore.RewriteOff
}

func splitList(in []string) []string {
	var out []string
	for _, s := range in {
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// runRestore fills in the connections, repository and terminal side of
// req and runs it (restore.Run owns the runbook).
func runRestore(ctx context.Context, g *globals, req restore.Request, yes bool) (*restore.Report, error) {
	if err := restore.CheckRedisMode(req.RedisMode); err != nil {
		return nil, err // before anything is opened
	}
	conns, kc, err := g.connections(ctx)
	if err != nil {
		return nil, err
	}
	r, err := g.openRepository(ctx, false)
	if err != nil {
		return nil, err
	}
	tr := &progress.Tracker{}
	var stop func()
	req.Repo, req.Conns, req.Kube, req.Override = r, conns, kc, g.Overrides
	req.Log, req.Tracker, req.Output = g.Log, tr, &logWriter{g: g, prefix: "zync resync: "}
	req.Warn = func(msg string) { g.warnf("%s", msg) }
	req.Planned = func(p *restore.Plan) {
		if !g.JSON() {
			g.printf("%s", p.Text())
		}
	}
	req.Confirm = func(p *restore.Plan) error {
		if err := confirm(g, yes, p); err != nil {
			return err
		}
		stop = startProgress(g, tr, false)
		return nil
	}
	rep, err := restore.Run(ctx, req)
	if stop != nil {
		stop()
	}
	if rep.Ran() && !g.JSON() {
		printRestoreReport(g, rep)
		printPause(g, rep.Paused)
	}
	return rep, err
}

// confirm asks on a terminal; without one, --yes is required.
func confirm(g *globals, yes bool, plan *restore.Plan) error {
	if yes || !plan.Destructive() {
		return nil
	}
	if !g.interactive() {
		return errs.UsageError("review the plan (--dry-run), then run again with --yes", "refusing to restore without confirmation in a non-interactive run")
	}
	fmt.Fprintf(g.Stderr, "Type yes to restore snapshot %s into %s: ", plan.Snapshot, plan.InstallKind)
	line, _ := bufio.NewReader(g.Stdin).ReadString('\n')
	if strings.TrimSpace(line) != "yes" {
		return errs.UsageError("run again and answer yes, or use --yes", "restore not confirmed; nothing was changed")
	}
	return nil
}

func printRestoreReport(g *globals, rep *restore.Report) {
	rows := make([][]string, 0, len(rep.Steps))
	for _, s := range rep.Steps {
		dur := ""
		if !s.Ended.IsZero() && !s.Started.IsZero() {
			dur = s.Ended.Sub(s.Started).Round(10 * time.Millisecond).String()
		}
		res := s.Status
		if s.Mismatch {
			res = "MISMATCH"
		}
		detail := s.Summary
		if s.Error != "" {
			detail = s.Error
		}
		rows = append(rows, []string{s.Name, res, dur, fmt.Sprint(s.Items), detail})
	}
	table(g.Stdout, []string{"STEP", "RESULT", "DURATION", "ITEMS", "DETAIL"}, rows)
}

// versionChange is restore.VersionChange (the rule lives in the runbook).
func versionChange(snapshot, target string) string { return restore.VersionChange(snapshot, target) }
