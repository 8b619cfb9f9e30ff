package restore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/component"
	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/3scale-ops/3scale-ops/internal/engines"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/kubeobjects"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/rdb"
	"github.com/3scale-ops/3scale-ops/internal/repo"
	"github.com/3scale-ops/3scale-ops/internal/scale"
	"github.com/3scale-ops/3scale-ops/internal/targetlock"
	"github.com/3scale-ops/3scale-ops/internal/verify"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Request is one restore as the user asked for it.
type Request struct {
	Snapshot string // an id or "latest"
	Repo     *repo.Repository
	Conns    *config.Connections
	Kube     *kube.Clients    // nil: --local
	Override config.Overrides // re-applied when the targets are found through the snapshot's secrets

	Components []string // empty: every component of the snapshot
	DryRun     bool
	Resume     bool
	RedisMode  string // replay (default) or file
	SkipQueues bool
	NoQuiesce  bool
	NoVerify   bool
	// RequireVerify makes a restore whose verification cannot run (the
	// stores it reads are neither restored nor reachable) a failure,
	// before anything is changed; without it the plan says "verify:
	// skipped, needs …" and the restore succeeds unverified.
	RequireVerify bool
	DropExisting  bool
	SkipBinlog    bool // system-mysql: the load is not written to the target's binary log
	UnlockStale   bool
	WithGrants    bool     // zync-postgres: apply the recorded GRANT/REVOKE statements
	SkipSteps     []string // steps to leave out (--skip-step); preflight cannot be
	NoBackendSync bool     // no backend configuration rewrite after backend-redis
	// RewriteConnections: RewriteAuto, RewriteOn or RewriteOff (restore
	// --rewrite-connections): whether the connection keys of the restored
	// secrets are set to the servers the restore writes to.
	RewriteConnections string
	NoReindex          bool // no search index rebuild after system-mysql
	// AllowVersionChange lets a snapshot of another 3scale minor version
	// than the target's restore (it is always warned about).
	AllowVersionChange bool
	Timeout            time.Duration // per wait for readiness (default 10m)
	// ParamDir is where a restore into a namespace without 3scale from a
	// template snapshot writes the amp.yml parameter file (ParamDir(--state-dir)).
	ParamDir string
	// ShowSecrets puts the parameters' values in the report of that pause
	// (restore --show-secrets); otherwise only their names leave the file.
	ShowSecrets bool

	Log     *slog.Logger
	Warn    func(msg string)  // warnings for the user (nil: logged)
	Tracker *progress.Tracker // where step progress is reported (nil: not reported)
	Output  io.Writer         // the zync resync task's output (nil: discarded)
	// Planned is called with the plan as soon as it is built (dry runs
	// included), for the caller to show it.
	Planned func(*Plan)
	// Confirm is called before the first step runs; an error stops the
	// restore with nothing changed. Nil: go ahead.
	Confirm func(*Plan) error
}

// CheckRedisMode refuses a Redis restore mode other than replay and file
// ("" is replay).
func CheckRedisMode(mode string) error {
	if mode != "" && mode != "replay" && mode != "file" {
		return errs.UsageError("use --redis-mode replay or file", "unknown redis mode %q", mode)
	}
	return nil
}

// Run plans the restore of one snapshot and, unless a dry run, executes it
// under the repository's restore lock, recording every step in the
// snapshot's journal for the targets (so that --resume continues an
// interrupted run with the same options). The report carries the plan
// even when the run fails.
func Run(ctx context.Context, req Request) (_ *Report, retErr error) {
	if req.RedisMode == "" {
		req.RedisMode = "replay"
	}
	if err := CheckRedisMode(req.RedisMode); err != nil {
		return nil, err
	}
	if req.Log == nil {
		req.Log = slog.Default()
	}
	if req.Warn == nil {
		req.Warn = func(msg string) { req.Log.Warn(msg) }
	}
	if req.Tracker == nil {
		req.Tracker = &progress.Tracker{}
	}
	if req.ParamDir == "" {
		req.ParamDir = ParamDir("")
	}
	r, conns, kc := req.Repo, req.Conns, req.Kube
	id, err := r.ResolveID(ctx, req.Snapshot)
	if err != nil {
		return nil, err
	}
	m, err := r.LoadManifest(ctx, id)
	if err != nil {
		return nil, err
	}
	if kc == nil && req.RewriteConnections == RewriteOn {
		return nil, errs.UsageError("drop --rewrite-connections (with --local no secret is restored), or drop --local",
			"--rewrite-connections sets keys of the namespace's secrets and needs Kubernetes")
	}
	var snapSecrets []corev1.Secret
	if kc != nil && m.Component(component.Secrets) != nil {
		if snapSecrets, err = SnapshotSecrets(ctx, r, m); err != nil {
			return nil, err
		}
	}
	if kc != nil && m.Component(component.Secrets) != nil && len(conns.Errs) > 0 {
		// A namespace that lost its secrets: find the data targets through
		// the snapshot's secrets, which the restore re-creates first.
		if conns, err = config.ResolveWithFallback(ctx, kc, conns.Namespace, req.Override, snapSecrets); err != nil {
			return nil, err
		}
	}
	if len(req.Components) == 0 || slices.Contains(req.Components, component.APIManager) {
		// Plan time, before any lock or object is written.
		if err := CheckOperatorCRDs(ctx, kc, r, m); err != nil {
			return nil, err
		}
	}
	if !req.DryRun {
		lock, err := r.Lock(ctx, "restore", req.UnlockStale)
		if err != nil {
			return nil, err
		}
		defer lock.Release(context.WithoutCancel(ctx))
	}

	selected := req.Components
	if len(selected) == 0 {
		selected = m.ComponentNames()
	}
	if !req.DryRun {
		// The repository lock protects the repository; these protect the
		// targets from a restore out of another copy of it.
		tl, err := TargetLocks(ctx, conns, kc, selected, req.Warn)
		if err != nil {
			return nil, err
		}
		lctx, held, err := targetlock.Acquire(ctx, tl, targetlock.NewHolder("restore", id), targetlock.Options{Logger: req.Log})
		if err != nil {
			if errs.Code(err) == errs.Failure {
				// Nothing was changed: the target could not be reached to lock it.
				err = errs.Wrap(errs.Failure, err, "nothing was changed; check that the server is up and that the connection flags or the namespace's secrets name it, then run the restore again")
			}
			return nil, err
		}
		defer held.Release(context.WithoutCancel(ctx))
		ctx = lctx
		defer func() {
			// A lost target lock stopped the run: say so, not "canceled".
			if cause := context.Cause(lctx); errs.Code(cause) == errs.Locked && retErr != nil {
				retErr = errs.Wrap(errs.Locked, fmt.Errorf("%w (%v)", cause, retErr), errs.Hint(cause))
			}
		}()
	}
	jkey := JournalKey(conns, selected)
	jopts := map[string]string{"redis-mode": req.RedisMode, "skip-queues": fmt.Sprint(req.SkipQueues), "no-quiesce": fmt.Sprint(req.NoQuiesce)}
	targets := map[string]string{}
	for _, name := range selected {
		if name != component.Verify {
			targets[name] = targetOf(name, conns)
		}
	}
	j, found, err := LoadJournal(ctx, r, id, jkey)
	if err != nil {
		return nil, err
	}
	if req.Resume && found && !j.Finished {
		if d := targetDiff(j.Targets, targets); len(d) > 0 {
			return nil, resumeRefusal(id, d)
		}
	}
	if req.Resume && !found && conns.Namespace == "" {
		// --local journals are keyed by their targets: other servers find
		// no journal, and would silently start over.
		if err := otherLocalRun(ctx, r, id, targets); err != nil {
			return nil, err
		}
	}
	// An interrupted restore filled some targets itself: resuming it may
	// replace their contents again (and only theirs) without --drop-existing.
	started := map[string]bool{}
	if found && req.Resume && !j.Finished {
		if len(j.Options) > 0 && !maps.Equal(j.Options, jopts) {
			return nil, errs.UsageError("resume with the options of the interrupted run", "the interrupted restore of %s ran with %v, not %v", id, j.Options, jopts)
		}
		for _, st := range j.Steps {
			if st.Status != Pending {
				started[st.Name] = true
			}
		}
	}
	// The decision about an unfinished journal is reported after the plan
	// is shown; the journal the run uses is known now.
	var unfinished error
	switch {
	case found && !j.Finished && !req.Resume:
		unfinished = errs.UsageError("continue it with --resume (or start over: `3scale-ops restore --abandon "+id+"`)",
			"an unfinished restore of %s into %s exists (started %s)", id, targetName(conns.Namespace), j.Started.Format(time.RFC3339))
	case !found || j.Finished:
		if req.Resume && !found && !req.DryRun {
			req.Warn(fmt.Sprintf("no interrupted restore of %s found: starting from the beginning", id) + mirrorHint(ctx, kc, conns.Namespace, id))
		}
		j = &Journal{Snapshot: id, Namespace: jkey, Options: jopts}
	}
	if len(j.Targets) == 0 {
		j.Targets = targets
	}
	// The cluster is gone (§7.5.2): into a namespace without 3scale, an
	// operator snapshot's APIManager is created held at zero replicas after
	// the secrets, and the operator builds 3scale before the data steps.
	fresh := false
	if kc != nil && slices.Contains(selected, component.APIManager) && SnapshotHasAPIManager(m) {
		if j.Values[freshKey] == "operator" && !j.Finished {
			fresh = true
		} else if _, derr := scale.New(kc, conns.Namespace).Detect(ctx); errors.Is(derr, scale.ErrNotDeployed) {
			fresh = true
		}
	}
	// The same for a template install (§7.5.1): the restore pauses after
	// the secrets and configmaps for `oc new-app`, and --resume continues.
	freshTemplate := false
	if kc != nil && !fresh && slices.Contains(selected, component.Secrets) && !kubeOnly(selected) && !SnapshotHasAPIManager(m) {
		if j.Values[freshKey] == "template" && !j.Finished {
			freshTemplate = true
		} else if _, derr := scale.New(kc, conns.Namespace).Detect(ctx); errors.Is(derr, scale.ErrNotDeployed) {
			freshTemplate = true
		}
	}
	runner := &Runner{Store: r, Log: req.Log, Tracker: req.Tracker}
	if kc != nil {
		runner.Mirror = func(ctx context.Context, j *Journal) error { return MirrorJournal(ctx, kc, j) }
	}

	cplan, err := PlanConnections(ctx, kc, conns, req.Override, req.RewriteConnections, selected, snapSecrets)
	if err != nil {
		return nil, err
	}
	eopts := engines.Options{SkipQueues: req.SkipQueues, DropExisting: req.DropExisting, SkipBinlog: req.SkipBinlog, RedisMode: req.RedisMode, WithGrants: req.WithGrants,
		Logger: req.Log, SecretKeys: cplan.SecretKeys()}
	if fresh {
		eopts.APIManagerTransform = func(o *unstructured.Unstructured) {
			if o.GetKind() == "APIManager" {
				scale.HoldAtZero(o)
			}
		}
	}
	if req.RedisMode == "file" {
		if kc == nil {
			return nil, errs.UsageError("use --redis-mode replay with --local", "--redis-mode file works on the Redis pods and needs Kubernetes")
		}
		eopts.RedisFile, eopts.RedisJournal = map[string]rdb.FileModeTarget{}, map[string]rdb.Journal{}
		for comp, rc := range map[string]config.Redis{component.BackendRedis: conns.BackendRedis, component.SystemRedis: conns.SystemRedis} {
			ro, err := rc.Options()
			if err != nil {
				continue // the engine reports the connection problem if the component is selected
			}
			eopts.RedisFile[comp] = &KubeRedisTarget{KC: kc, Namespace: conns.Namespace, Workload: comp,
				Scaler: scale.New(kc, conns.Namespace), Redis: ro, Timeout: req.Timeout}
			eopts.RedisJournal[comp] = &JournalSteps{J: j, Key: comp, Save: func() error { return runner.Checkpoint(ctx, j) }}
		}
	}
	engs := map[string]Engine{}
	for _, name := range selected {
		if name == component.Verify {
			continue
		}
		eo := eopts
		eo.DropExisting = eo.DropExisting || started[name]
		e, err := engines.Build(name, conns, kc, eo)
		if err != nil {
			return nil, fmt.Errorf("component %s: %w", name, err)
		}
		engs[name] = e
	}
	opts := Options{Snapshot: &RepoSnapshot{Repo: r, Manifest: m}, Namespace: conns.Namespace, Components: req.Components,
		Engines: engs, NoQuiesce: req.NoQuiesce, NoBackendSync: req.NoBackendSync, NoReindex: req.NoReindex, Timeout: req.Timeout, Targets: targets, Connections: cplan, Fresh: fresh,
		FreshTemplate: freshTemplate}
	if freshTemplate {
		opts.DeployTemplate = deployTemplate(kc, conns.Namespace, id, req.ParamDir, req.ShowSecrets)
	}
	if kc != nil {
		opts.SetConnections = func(ctx context.Context, changes []KeyChange, task *progress.Task) (Result, error) {
			return applyLive(ctx, kc, conns.Namespace, changes, task)
		}
		opts.Cluster = newKubeCluster(kc, conns, req)
		if conns.Errs[config.SystemStorage] == nil && conns.SystemStorage.Kind == "pod" {
			opts.PodSteps = map[string]string{config.SystemStorage: "system-app"}
		}
	}
	if req.NoVerify && req.RequireVerify {
		return nil, errs.UsageError("give one of them", "--no-verify and --require-verify exclude each other")
	}
	if !req.NoVerify {
		opts.VerifySkipped = VerifyLacks(conns)
	}
	if !req.NoVerify && opts.VerifySkipped == "" {
		opts.Verify = func(ctx context.Context, task *progress.Task) (Result, error) {
			var probes artifact.Source
			if m.Component(verify.Component) != nil {
				if probes, err = r.Source(m, verify.Component); err != nil {
					return Result{}, err
				}
			}
			vr, err := engines.Verify(ctx, conns, probes, false, task)
			if err != nil {
				return Result{}, err
			}
			return Result{Items: int64(vr.Probes), Summary: vr.Summary(), Mismatch: !vr.Passed, Detail: map[string]any{"verify": vr}}, nil
		}
	}
	plan, err := BuildPlan(ctx, opts)
	if err != nil {
		return nil, err
	}
	rep := &Report{Snapshot: id, Plan: plan, DryRun: req.DryRun}
	if req.Planned != nil {
		req.Planned(plan)
	}
	if kc != nil {
		target, _ := kubeobjects.InstallVersion(ctx, kc, conns.Namespace)
		if msg := VersionChange(m.ThreescaleVersion, target); msg != "" {
			req.Warn(msg)
			if !req.DryRun && !req.AllowVersionChange {
				return rep, errs.UsageError("restore into a 3scale of the snapshot's version, or run again with --allow-version-change; nothing was changed", "%s", msg)
			}
		}
	}
	if runner.Skip, err = SkipSteps(plan, req.SkipSteps); err != nil {
		return rep, err
	}
	if opts.Verify != nil && m.Component(verify.Component) != nil {
		// A verification that will fail for want of probes fails now,
		// before anything is changed.
		probes, err := r.Source(m, verify.Component)
		if err != nil {
			return rep, err
		}
		if reason := verify.NotRecorded(probes); reason != "" {
			return rep, fmt.Errorf("snapshot %s: %w", id, verify.NotRecordedError(reason))
		}
	}
	if plan.VerifySkipped != "" && req.RequireVerify {
		return rep, errs.UsageError("give the connections the verification reads, or drop --require-verify; nothing was changed",
			"--require-verify: the restore of %s cannot be verified: verify %s", id, plan.VerifySkipped)
	}
	if req.DryRun {
		return rep, nil
	}
	if unfinished != nil {
		return rep, unfinished
	}
	if req.Confirm != nil {
		if err := req.Confirm(plan); err != nil {
			return rep, err
		}
	}
	ran, err := runner.Run(ctx, plan, j)
	if ran != nil {
		ran.Plan, ran.ran = plan, true
		rep = ran
	}
	var pause *PauseError
	if errors.As(err, &pause) {
		return rep, nil // stopped on purpose: the report says how to continue
	}
	if err != nil {
		return rep, err
	}
	if plan.VerifySkipped != "" {
		// Not a step: nothing ran. The report says so in the step table.
		rep.VerifySkipped = plan.VerifySkipped
		rep.Steps = append(rep.Steps, StepState{Name: StepVerify, Status: Skipped, Summary: "verify skipped: " + plan.VerifySkipped})
		req.Warn("verify skipped: " + plan.VerifySkipped + "; the restored data is not proven (run `3scale-ops verify` once those stores are reachable, or restore with --require-verify to make this a failure)")
	}
	if rep.Mismatch {
		msg := fmt.Sprintf("restore of %s finished but verification found differences", id)
		for _, s := range rep.Steps {
			if s.Name == StepVerify && s.Mismatch && s.Summary != "" {
				msg += ": " + s.Summary
			}
		}
		return rep, errs.New(errs.Mismatch, "see the verify step above; the data was restored", "%s", msg)
	}
	return rep, nil
}

// VerifyLacks says what the verification step lacks ("" when it can
// run): "needs X (why), Y (why)" for each store it reads (component.
// VerifyNeeds) that has no connection. A restored store always has one,
// so this is exactly "neither restored nor reachable".
func VerifyLacks(conns *config.Connections) string {
	var lacks []string
	for _, n := range component.VerifyNeeds() {
		err := conns.Errs[n]
		if err == nil {
			continue
		}
		why := strings.TrimSuffix(err.Error(), ": "+errs.ErrNotConfigured.Error())
		lacks = append(lacks, n+" ("+why+")")
	}
	if len(lacks) == 0 {
		return ""
	}
	return "needs " + strings.Join(lacks, ", ")
}

// VersionChange says how the snapshot's 3scale release differs from the
// target's in its minor version ("2.14" vs "2.15"); empty when they agree
// or either is unknown.
func VersionChange(snapshot, target string) string {
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

// JournalKey names the target of a restore's journal: the namespace, or
// in --local mode a hash of the servers the selected components go to.
func JournalKey(conns *config.Connections, selected []string) string {
	if conns.Namespace != "" {
		return conns.Namespace
	}
	var t []string
	for _, name := range selected {
		t = append(t, name+"="+targetOf(name, conns))
	}
	sort.Strings(t)
	sum := sha256.Sum256([]byte(strings.Join(t, "\n")))
	return "local-" + hex.EncodeToString(sum[:6])
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

func newKubeCluster(kc *kube.Clients, conns *config.Connections, req Request) *KubeCluster {
	s := scale.New(kc, conns.Namespace)
	s.Log = req.Log
	kcl := &KubeCluster{KC: kc, Namespace: conns.Namespace, Scaler: s, Output: req.Output}
	if conns.Errs[config.SystemDB] == nil && conns.SystemDB.Kind != "oracle" {
		kcl.SystemDB = func(context.Context) (*sql.DB, error) { return conns.SystemDB.Open() }
	}
	return kcl
}

// mirrorHint says what the namespace records of an unfinished restore that
// the repository has no journal of ("" when it records none).
func mirrorHint(ctx context.Context, kc *kube.Clients, ns, id string) string {
	if kc == nil || ns == "" {
		return ""
	}
	m, ok, err := ReadMirror(ctx, kc, ns)
	if err != nil || !ok || m.Finished {
		return ""
	}
	if m.Snapshot != id {
		return fmt.Sprintf("; namespace %s records an unfinished restore of %s (last step %s, %s; %s): to continue that one, run `3scale-ops restore %s --resume`",
			ns, m.Snapshot, m.Step, m.Updated, m.Source, m.Snapshot)
	}
	return fmt.Sprintf("; namespace %s records an unfinished restore of it (last step %s, %s; %s) whose journal is not in this repository: check -r", ns, m.Step, m.Updated, m.Source)
}
