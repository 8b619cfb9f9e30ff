package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/component"
	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/3scale-ops/3scale-ops/internal/engines"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/kubeobjects"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/rdb"
	"github.com/3scale-ops/3scale-ops/internal/redact"
	"github.com/3scale-ops/3scale-ops/internal/repo"
	"github.com/3scale-ops/3scale-ops/internal/restore"
	"github.com/3scale-ops/3scale-ops/internal/scale"
	"github.com/urfave/cli/v2"
	corev1 "k8s.io/api/core/v1"
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
			&cli.BoolFlag{Name: "no-verify", EnvVars: []string{"THREESCALE_OPS_NO_VERIFY"}, Usage: "skip the final verification"},
			&cli.BoolFlag{Name: "drop-existing", EnvVars: []string{"THREESCALE_OPS_DROP_EXISTING"}, Usage: "allow restoring into targets that already hold data (they are emptied)"},
			&cli.BoolFlag{Name: "unlock-stale", EnvVars: []string{"THREESCALE_OPS_UNLOCK_STALE"}, Usage: "remove a stale repository lock left by a dead run"},
			&cli.BoolFlag{Name: "with-grants", EnvVars: []string{"THREESCALE_OPS_WITH_GRANTS"}, Usage: "zync-postgres: also apply the recorded GRANT/REVOKE statements (the roles must exist on the target)"},
			&cli.DurationFlag{Name: "timeout", Value: 10 * time.Minute, EnvVars: []string{"THREESCALE_OPS_TIMEOUT"}, Usage: "how long each wait for workloads may take"},
			&cli.BoolFlag{Name: "allow-version-change", EnvVars: []string{"THREESCALE_OPS_ALLOW_VERSION_CHANGE"}, Usage: "restore a snapshot of another 3scale minor version than the target runs (its schema and data may not match)"},
		},
		Action: runRestoreCommand,
	}
}

type restoreOptions struct {
	Snapshot      string
	Components    []string
	DryRun        bool
	Resume        bool
	Yes           bool
	RedisMode     string
	SkipQueues    bool
	NoQuiesce     bool
	NoVerify      bool
	DropExisting  bool
	UnlockStale   bool
	WithGrants    bool
	Timeout       time.Duration
	SkipSteps     []string
	NoBackendSync bool
	// AllowVersionChange lets a snapshot of another 3scale minor version restore.
	AllowVersionChange bool
}

func runRestoreCommand(c *cli.Context) error {
	if c.NArg() != 1 {
		return errs.UsageError("give one snapshot id, or latest (see `3scale-ops backups list`)", "restore needs exactly one snapshot")
	}
	o := restoreOptions{Snapshot: c.Args().First(), Components: splitList(c.StringSlice("components")),
		DryRun: c.Bool("dry-run"), Resume: c.Bool("resume"), Yes: c.Bool("yes"), RedisMode: c.String("redis-mode"),
		SkipQueues: c.Bool("skip-queues"), NoQuiesce: c.Bool("no-quiesce"), NoVerify: c.Bool("no-verify"),
		DropExisting: c.Bool("drop-existing"), UnlockStale: c.Bool("unlock-stale"), WithGrants: c.Bool("with-grants"), Timeout: c.Duration("timeout"),
		AllowVersionChange: c.Bool("allow-version-change")}
	g := getGlobals(c)
	if c.Bool("abandon") {
		return abandonRestore(c.Context, g, o.Snapshot, o.Yes)
	}
	o.SkipSteps = splitList(c.StringSlice("skip-step"))
	o.NoBackendSync = c.Bool("skip-backend-sync")
	rep, plan, err := runRestore(c.Context, g, o)
	if g.JSON() && plan != nil {
		doc := map[string]any{"plan": plan, "steps": plan.Describe(), "dry_run": o.DryRun}
		if rep != nil {
			doc["report"] = rep
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

// runRestore plans and (unless a dry run) executes a restore.
func runRestore(ctx context.Context, g *globals, o restoreOptions) (*restore.Report, *restore.Plan, error) {
	if o.RedisMode != "replay" && o.RedisMode != "file" {
		return nil, nil, errs.UsageError("use --redis-mode replay or file", "unknown redis mode %q", o.RedisMode)
	}
	conns, kc, err := g.connections(ctx)
	if err != nil {
		return nil, nil, err
	}
	r, err := g.openRepository(ctx, false)
	if err != nil {
		return nil, nil, err
	}
	id, err := r.ResolveID(ctx, o.Snapshot)
	if err != nil {
		return nil, nil, err
	}
	m, err := r.LoadManifest(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if kc != nil && m.Component("secrets") != nil && len(conns.Errs) > 0 {
		// A namespace that lost its secrets: find the data targets through
		// the snapshot's secrets, which the restore re-creates first.
		sec, err := snapshotSecrets(ctx, r, m)
		if err != nil {
			return nil, nil, err
		}
		if conns, err = config.ResolveWithFallback(ctx, kc, conns.Namespace, g.Overrides, sec); err != nil {
			return nil, nil, err
		}
	}
	if !o.DryRun {
		lock, err := r.Lock(ctx, "restore", o.UnlockStale)
		if err != nil {
			return nil, nil, err
		}
		defer lock.Release(context.WithoutCancel(ctx))
	}

	selected := o.Components
	if len(selected) == 0 {
		selected = m.ComponentNames()
	}
	// The journal belongs to this snapshot and this target: the namespace,
	// or with --local the servers the flags point at.
	jkey := conns.Namespace
	if jkey == "" {
		var t []string
		for _, name := range selected {
			t = append(t, name+"="+targetOf(name, conns))
		}
		sort.Strings(t)
		sum := sha256.Sum256([]byte(strings.Join(t, "\n")))
		jkey = "local-" + hex.EncodeToString(sum[:6])
	}
	jopts := map[string]string{"redis-mode": o.RedisMode, "skip-queues": fmt.Sprint(o.SkipQueues), "no-quiesce": fmt.Sprint(o.NoQuiesce)}

	// An interrupted restore filled some targets itself: resuming it may
	// replace their contents again (and only theirs) without --drop-existing.
	j, found, err := restore.LoadJournal(ctx, r, id, jkey)
	if err != nil {
		return nil, nil, err
	}
	started := map[string]bool{}
	if found && o.Resume && !j.Finished {
		if len(j.Options) > 0 && !maps.Equal(j.Options, jopts) {
			return nil, nil, errs.UsageError("resume with the options of the interrupted run", "the interrupted restore of %s ran with %v, not %v", id, j.Options, jopts)
		}
		for _, st := range j.Steps {
			if st.Status != restore.Pending {
				started[st.Name] = true
			}
		}
	}
	eopts := engines.Options{SkipQueues: o.SkipQueues, DropExisting: o.DropExisting, RedisMode: o.RedisMode, WithGrants: o.WithGrants, Logger: g.Log}
	var fileSteps []*restore.JournalSteps
	if o.RedisMode == "file" {
		if kc == nil {
			return nil, nil, errs.UsageError("use --redis-mode replay with --local", "--redis-mode file works on the Redis pods and needs Kubernetes")
		}
		eopts.RedisFile, eopts.RedisJournal = map[string]rdb.FileModeTarget{}, map[string]rdb.Journal{}
		for comp, rc := range map[string]config.Redis{"backend-redis": conns.BackendRedis, "system-redis": conns.SystemRedis} {
			ro, err := rc.Options()
			if err != nil {
				continue // the engine reports the connection problem if the component is selected
			}
			eopts.RedisFile[comp] = &restore.KubeRedisTarget{KC: kc, Namespace: conns.Namespace, Workload: comp,
				Scaler: scale.New(kc, conns.Namespace), Redis: ro, Timeout: o.Timeout}
			js := &restore.JournalSteps{Key: comp}
			eopts.RedisJournal[comp] = js
			fileSteps = append(fileSteps, js)
		}
	}
	engs := map[string]restore.Engine{}
	targets := map[string]string{}
	for _, name := range selected {
		if name == "verify" {
			continue
		}
		eo := eopts
		eo.DropExisting = eo.DropExisting || started[name]
		e, err := engines.Build(name, conns, kc, eo)
		if err != nil {
			return nil, nil, fmt.Errorf("component %s: %w", name, err)
		}
		engs[name] = e
		targets[name] = targetOf(name, conns)
	}
	snap := &restore.RepoSnapshot{Repo: r, Manifest: m}
	opts := restore.Options{Snapshot: snap, Namespace: conns.Namespace, Components: o.Components, Engines: engs,
		NoQuiesce: o.NoQuiesce, NoBackendSync: o.NoBackendSync, Timeout: o.Timeout, Targets: targets}
	if kc != nil {
		opts.Cluster = kubeCluster(g, kc, conns)
		if conns.Errs[config.SystemStorage] == nil && conns.SystemStorage.Kind == "pod" {
			opts.PodSteps = map[string]string{config.SystemStorage: "system-app"}
		}
	}
	if !o.NoVerify {
		opts.Verify = func(ctx context.Context, task *progress.Task) (restore.Result, error) {
			probes := m.Component("verify") != nil
			vr, err := runVerify(ctx, conns, r, id, !probes, false, task)
			if err != nil {
				return restore.Result{}, err
			}
			return restore.Result{Items: int64(vr.Probes), Summary: vr.Summary(), Mismatch: !vr.Passed, Detail: map[string]any{"verify": vr}}, nil
		}
	}
	plan, err := restore.BuildPlan(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	if !g.JSON() {
		g.printf("%s", plan.Text())
	}
	if kc != nil {
		target, _ := kubeobjects.InstallVersion(ctx, kc, conns.Namespace)
		if msg := versionChange(m.ThreescaleVersion, target); msg != "" {
			g.warnf("%s", msg)
			if !o.DryRun && !o.AllowVersionChange {
				return nil, plan, errs.UsageError("restore into a 3scale of the snapshot's version, or run again with --allow-version-change; nothing was changed", "%s", msg)
			}
		}
	}
	skip, err := restore.SkipSteps(plan, o.SkipSteps)
	if err != nil {
		return nil, plan, err
	}
	if o.DryRun {
		return nil, plan, nil
	}
	switch {
	case found && !j.Finished && !o.Resume:
		return nil, plan, errs.UsageError("continue it with --resume (or start over: `3scale-ops restore --abandon "+id+"`)",
			"an unfinished restore of %s into %s exists (started %s)", id, targetName(conns.Namespace), j.Started.Format(time.RFC3339))
	case !found || j.Finished:
		if o.Resume && !found {
			g.warnf("no interrupted restore of %s found: starting from the beginning", id)
		}
		j = &restore.Journal{Snapshot: id, Namespace: jkey, Options: jopts}
	}
	if err := confirm(g, o.Yes, plan); err != nil {
		return nil, plan, err
	}

	tr := &progress.Tracker{}
	runner := &restore.Runner{Store: r, Log: g.Log, Tracker: tr, Skip: skip}
	for _, js := range fileSteps {
		js.J, js.Save = j, func() error { return runner.Checkpoint(ctx, j) }
	}
	if kc != nil {
		runner.Mirror = func(ctx context.Context, j *restore.Journal) error { return mirrorJournal(ctx, kc, j) }
	}
	stop := startProgress(g, tr, false)
	rep, err := runner.Run(ctx, plan, j)
	stop()
	if rep != nil && !g.JSON() {
		printRestoreReport(g, rep)
	}
	if err != nil {
		return rep, plan, err
	}
	if rep.Mismatch {
		return rep, plan, errs.New(errs.Mismatch, "see the verify step above; the data was restored",
			"restore of %s finished but verification found differences", id)
	}
	return rep, plan, nil
}

// snapshotSecrets reads the Secrets the snapshot holds.
func snapshotSecrets(ctx context.Context, r *repo.Repository, m *repo.Manifest) ([]corev1.Secret, error) {
	src, err := r.Source(m, "secrets")
	if err != nil {
		return nil, err
	}
	files := src.Files()
	if len(files) == 0 {
		return nil, nil
	}
	rc, err := src.Open(ctx, files[0].Name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var list struct {
		Items []corev1.Secret `json:"items"`
	}
	if err := json.NewDecoder(rc).Decode(&list); err != nil {
		return nil, fmt.Errorf("snapshot %s: secrets: %w", m.ID, err)
	}
	for _, s := range list.Items {
		redact.SecretData(s.Data)
	}
	return list.Items, nil
}

func targetName(ns string) string {
	if ns == "" {
		return "the --local targets"
	}
	return "namespace " + ns
}

func targetOf(name string, c *config.Connections) string {
	if t, _, ok := c.Target(name); ok {
		return t
	}
	return name + " in namespace " + c.Namespace
}

func kubeCluster(g *globals, kc *kube.Clients, conns *config.Connections) *restore.KubeCluster {
	s := scale.New(kc, conns.Namespace)
	s.Log = g.Log
	kcl := &restore.KubeCluster{KC: kc, Namespace: conns.Namespace, Scaler: s, Output: &logWriter{g: g, prefix: "zync resync: "}}
	if conns.Errs[config.SystemDB] == nil && conns.SystemDB.Kind == "mysql" {
		kcl.SystemDB = func(context.Context) (*sql.DB, error) { return conns.SystemDB.OpenMySQL() }
	}
	return kcl
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

// journalAnnotation mirrors a restore's progress on the namespace.
const journalAnnotation = "3scale-ops.3scale.net/restore"

func mirrorJournal(ctx context.Context, kc *kube.Clients, j *restore.Journal) error {
	last := ""
	for _, s := range j.Steps {
		if s.Status != restore.Pending {
			last = s.Name + "=" + s.Status
		}
	}
	val := fmt.Sprintf("snapshot=%s step=%s finished=%t updated=%s", j.Snapshot, last, j.Finished, j.Updated.Format(time.RFC3339))
	return kc.AnnotateNamespace(ctx, j.Namespace, journalAnnotation, val)
}

// versionChange says how the snapshot's 3scale release differs from the
// target's in its minor version ("2.14" vs "2.15"); empty when they agree
// or either is unknown.
func versionChange(snapshot, target string) string {
	minor := func(v string) string {
		parts := strings.SplitN(v, ".", 3)
		if len(parts) < 2 {
			return v
		}
		return parts[0] + "." + parts[1]
	}
	if snapshot == "" || target == "" || minor(snapshot) == minor(target) {
		return ""
	}
	return fmt.Sprintf("the snapshot is of 3scale %s, the target runs 3scale %s: its database schema and data may not match", snapshot, target)
}
