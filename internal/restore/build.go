package restore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/component"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
)

// Engine restores one component of a snapshot (the SQL, Redis, storage
// and Kubernetes-object engines all have this method set).
type Engine interface {
	Name() string
	Preflight(ctx context.Context, src artifact.Source) error
	Restore(ctx context.Context, src artifact.Source, task *progress.Task) (artifact.Result, error)
}

// Snapshot is the snapshot being restored.
type Snapshot interface {
	ID() string
	Components() []string
	Source(ctx context.Context, component string) (artifact.Source, error)
	// Verify re-reads and re-hashes every file of the components but
	// those in done (per component); any difference is an error (exit 3)
	// naming the file.
	Verify(ctx context.Context, components []string, done map[string][]string) error
	// Verified returns the files of a Source from Source that were read
	// to their end with every size and hash checked.
	Verified(src artifact.Source) []string
}

// Cluster is what the runbook needs from Kubernetes. It is nil in --local
// mode, where quiesce, scale-back, rollout and zync resync do not apply.
type Cluster interface {
	// Kind is operator, template or deployments.
	Kind(ctx context.Context) (string, error)
	// DownAll scales every 3scale workload to 0 (through the APIManager CR
	// when operator-based), records the previous replicas in annotations,
	// waits until their pods are gone, and returns them.
	DownAll(ctx context.Context, timeout time.Duration) (map[string]int32, error)
	// ScaleTo sets replicas and waits until they are ready.
	ScaleTo(ctx context.Context, replicas map[string]int32, timeout time.Duration) error
	// ScaleBack returns to the replicas quiesce recorded, clears the
	// records and waits until ready.
	ScaleBack(ctx context.Context, replicas map[string]int32, timeout time.Duration) error
	// Rollout starts a new rollout of each workload and waits for it.
	Rollout(ctx context.Context, names []string, timeout time.Duration) error
	// ZyncResync runs rake zync:resync:domains in system-sidekiq and checks routes.
	ZyncResync(ctx context.Context, task *progress.Task) (Result, error)
	// BackendSync runs rake backend:storage:enqueue_rewrite in a
	// system-sidekiq (or system-app) pod: System, the source of truth,
	// rewrites its configuration into backend-redis (guide §7.5.6).
	BackendSync(ctx context.Context, task *progress.Task) (Result, error)
	// SearchEngine names the search workload: "system-searchd"
	// (Manticore, 3scale 2.14.1+), "system-sphinx" (2.13 and older) or ""
	// when there is none.
	SearchEngine(ctx context.Context) (string, error)
	// Reindex runs rake searchd:optimal_index in a system-sidekiq (or
	// system-app) pod and waits for it: the search index is rebuilt from
	// the restored system database.
	Reindex(ctx context.Context, task *progress.Task) (Result, error)
	// AwaitOperator waits until the operator has built the workloads of
	// the APIManager the restore created, scales them to 0 and returns
	// the replicas recorded for scale-back.
	AwaitOperator(ctx context.Context, timeout time.Duration, task *progress.Task) (map[string]int32, error)
}

// Options describe one restore.
type Options struct {
	Snapshot   Snapshot
	Namespace  string
	Components []string // empty: every component of the snapshot
	Engines    map[string]Engine
	Cluster    Cluster                                                        // nil: --local
	Verify     func(ctx context.Context, task *progress.Task) (Result, error) // nil: --no-verify, or VerifySkipped
	// VerifySkipped says why the verification cannot run ("needs
	// backend-redis (…)"); the plan then shows "verify: skipped, needs …"
	// instead of the step.
	VerifySkipped string
	NoQuiesce     bool
	// Fresh: 3scale does not run in the namespace yet (the cluster is
	// gone) and the snapshot's APIManager is restored held at zero
	// replicas, for the operator to build 3scale on the restored secrets.
	Fresh bool
	// FreshTemplate: 3scale does not run in the namespace yet and the
	// snapshot is of a template install (guide §7.5.1): after the secrets
	// and configmaps, DeployTemplate pauses the restore for `oc new-app`,
	// and the resumed run quiesces what the template created.
	FreshTemplate  bool
	DeployTemplate func(ctx context.Context, j *Journal, task *progress.Task) (Result, error)
	// NoBackendSync leaves out the backend configuration rewrite after
	// backend-redis (restore --skip-backend-sync).
	NoBackendSync bool
	// NoReindex leaves out the search index rebuild after system-mysql
	// (restore --skip-reindex).
	NoReindex bool
	Timeout   time.Duration     // per wait for readiness (default 10m)
	Targets   map[string]string // component → redacted target, for the plan
	// Connections say which connection keys of the namespace's secrets
	// the restore sets to name its targets (nil: none).
	Connections *ConnPlan
	// SetConnections applies the keys of Connections.Live (the
	// connections step); nil without a cluster.
	SetConnections func(ctx context.Context, changes []KeyChange, task *progress.Task) (Result, error)
	// PodSteps names, per component, the workload whose pod the engine
	// works through (system-storage in pod mode: system-app). While
	// quiesced, that workload runs one replica for the step's duration.
	PodSteps map[string]string
}

// FreshOperator is the install kind of a plan into a namespace where the
// operator builds 3scale from the restored APIManager.
const FreshOperator = "operator, new (built by the operator from the restored APIManager)"

// freshKey marks, in the journal's Values, a restore that created the
// APIManager in a namespace without 3scale.
const freshKey = "fresh-namespace"

// dataOrder is the runbook order of the restorable components.
var dataOrder = component.Restorable()

// metaComponents hold no restorable data of their own.
var metaComponents = map[string]bool{component.Verify: true}

// rolloutAfterRestore are the workloads the guide rolls out after a restore.
var rolloutAfterRestore = []string{"backend-worker", "system-app", "system-sidekiq", "system-sphinx", "system-searchd"}

// BuildPlan turns a snapshot and the chosen components into the ordered
// steps of the runbook. It fails, before anything runs, when a selected
// component is not in the snapshot or has no restore engine.
func BuildPlan(ctx context.Context, o Options) (*Plan, error) {
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Minute
	}
	have := o.Snapshot.Components()
	selected := o.Components
	if len(selected) == 0 {
		for _, c := range have {
			if !metaComponents[c] {
				selected = append(selected, c)
			}
		}
	}
	for _, c := range selected {
		if !slices.Contains(have, c) {
			return nil, errs.UsageError("choose from: "+strings.Join(have, ", "), "snapshot %s has no component %q", o.Snapshot.ID(), c)
		}
		if !slices.Contains(dataOrder, c) {
			return nil, errs.UsageError("choose from: "+strings.Join(dataOrder, ", "), "component %q cannot be restored", c)
		}
		if o.Engines[c] == nil {
			return nil, errs.New(errs.Failure, "restore this component by hand (see the snapshot's README.txt) or leave it out with --components",
				"no restore engine is available for component %q in this build or mode", c)
		}
	}
	sort.SliceStable(selected, func(i, j int) bool {
		return slices.Index(dataOrder, selected[i]) < slices.Index(dataOrder, selected[j])
	})

	p := &Plan{Snapshot: o.Snapshot.ID(), Namespace: o.Namespace, Components: selected, InstallKind: "local"}
	if o.Cluster != nil {
		kind, err := o.Cluster.Kind(ctx)
		switch {
		case o.FreshTemplate:
			p.InstallKind = FreshTemplate
			p.Warnings = append(p.Warnings, "no 3scale in namespace "+o.Namespace+": after the secrets and configmaps the restore pauses for 3scale to be deployed from the template with parameters read from them (oc new-app, guide §7.5.1); `restore --resume` then scales it to 0, restores the data and scales it back")
		case o.Fresh:
			p.InstallKind = FreshOperator
			p.Warnings = append(p.Warnings, "no 3scale in namespace "+o.Namespace+": the APIManager is created at 0 replicas after the secrets and configmaps, the operator builds 3scale on them, and the data is restored before 3scale starts (guide §7.5.2)")
		case err != nil && kubeOnly(selected):
			// An empty namespace (the cluster is gone): the guide restores
			// the secrets and configmaps before 3scale is deployed on them.
			p.InstallKind = "no 3scale yet"
			p.Warnings = append(p.Warnings, "no 3scale workloads in namespace "+o.Namespace+": only Kubernetes objects are restored, nothing is scaled; deploy 3scale on them, then restore the data (runbook 7.1)")
			o.Cluster = nil
		case err != nil:
			return nil, errs.Wrap(errs.Code(err), fmt.Errorf("detect how 3scale is deployed in namespace %s: %w", o.Namespace, err),
				"into an empty namespace, restore the secrets and configmaps first (--components secrets,configmaps), deploy 3scale on them, then restore the data (docs/runbook.md 7.1); a snapshot of an operator install restores there in one run when the apimanager component is included")
		default:
			p.InstallKind = kind
		}
	} else {
		p.Warnings = append(p.Warnings, "--local: nothing is scaled down or rolled out and zync is not resynced; stop 3scale's writers yourself")
	}
	local := o.Cluster == nil && p.InstallKind == "local"

	sources := map[string]artifact.Source{}
	// Into a namespace without 3scale, a component restored through a pod
	// is checked at its step: the pod exists only once the operator has
	// built it from the restored APIManager.
	deferred := func(c string) bool { return (o.Fresh || o.FreshTemplate) && o.PodSteps[c] != "" }
	p.Steps = append(p.Steps, &Step{Name: StepPreflight, Always: true,
		Target: strings.Join(selected, ", "),
		Action: "verify every artifact (size, sha256, decryption), connect to every target, check versions and that targets are empty",
		Run: func(ctx context.Context, j *Journal, task *progress.Task) (Result, error) {
			var checked []string
			for _, c := range selected {
				if j.state(c).Status != Skipped {
					checked = append(checked, c)
				}
			}
			// The engines' checks come first: a check that reads a file to
			// its end (the strict RDB parse, the tar scan, the SQL schema
			// check) verifies its sizes and sha256 on the way, and the
			// verification after it reads only the files no check read.
			// Neither changes anything.
			var problems []error
			done := map[string][]string{}
			for _, c := range checked {
				task.SetPhase("check " + c)
				src, err := o.Snapshot.Source(ctx, c)
				if err != nil {
					return Result{}, fmt.Errorf("open component %s: %w", c, err)
				}
				sources[c] = src
				if deferred(c) {
					continue // checked at its step, once the operator has built the pod
				}
				if err := o.Engines[c].Preflight(ctx, src); err != nil {
					problems = append(problems, fmt.Errorf("%s: %w", c, err))
				}
				done[c] = o.Snapshot.Verified(src)
			}
			task.SetPhase("verify artifacts")
			if err := o.Snapshot.Verify(ctx, checked, done); err != nil {
				problems = append([]error{err}, problems...)
			}
			if len(problems) > 0 {
				return Result{}, errs.Wrap(errs.Code(problems[0]), errors.Join(problems...), errs.Hint(problems[0]))
			}
			sum := fmt.Sprintf("%d components verified and checked", len(checked))
			if n := len(selected) - len(checked); n > 0 {
				sum += fmt.Sprintf(" (%d skipped)", n)
			}
			return Result{Summary: sum}, nil
		}})

	quiesce := &Step{Name: StepQuiesce, Target: "every 3scale workload in " + o.Namespace,
		Action: "record replicas (annotations + journal) and scale to 0" + map[bool]string{true: " through the APIManager CR", false: ""}[p.InstallKind == "operator"] + "; wait for pods to stop",
		Run: func(ctx context.Context, j *Journal, task *progress.Task) (Result, error) {
			rep, err := o.Cluster.DownAll(ctx, o.Timeout)
			if err != nil {
				return Result{}, err
			}
			// A resumed quiesce sees 0 replicas everywhere: keep the
			// counts the first run recorded.
			if len(j.Replicas) == 0 {
				j.Replicas = rep
			}
			return Result{Items: int64(len(rep)), Summary: fmt.Sprintf("%d workloads scaled to 0", len(rep)), Detail: map[string]any{"replicas": j.Replicas}}, nil
		}}
	fresh := o.Fresh || o.FreshTemplate
	if o.Cluster != nil && !o.NoQuiesce && !fresh {
		p.Steps = append(p.Steps, quiesce)
	} else if o.Cluster != nil && !fresh {
		p.Warnings = append(p.Warnings, "--no-quiesce: 3scale keeps running and writing while its data is replaced")
	}

	cp := o.Connections
	if cp != nil && len(cp.InSecrets)+len(cp.Live)+len(cp.Stale) > 0 {
		p.Connections = cp
	}
	p.Warnings = append(p.Warnings, cp.Warnings()...)
	connStep := cp != nil && len(cp.Live) > 0 && o.SetConnections != nil
	for _, c := range selected {
		c := c
		eng := o.Engines[c]
		if info, _ := component.Lookup(c); connStep && info.Class != component.Kube {
			connStep = false
			p.Steps = append(p.Steps, &Step{Name: StepConnections, Target: "secrets " + bySecret(cp.Live), Destructive: true,
				Action: "point 3scale at the servers this restore writes to: set the connection keys of secrets it does not restore",
				Run: func(ctx context.Context, _ *Journal, task *progress.Task) (Result, error) {
					return o.SetConnections(ctx, cp.Live, task)
				}})
		}
		action := actionOf(c)
		if a, ok := eng.(interface{ PlanAction() string }); ok {
			action = a.PlanAction() // an engine other than the component's usual one says what it does
		}
		if c == StepAPIManager && o.Fresh {
			action += ", the APIManager held at 0 replicas (the counts recorded for scale-back)"
		}
		if c == StepSecrets && cp != nil && len(cp.InSecrets) > 0 {
			action += "; connection keys " + describeSet(cp.InSecrets)
		}
		p.Steps = append(p.Steps, &Step{Name: c, Target: o.Targets[c], Destructive: true, Action: action,
			Run: func(ctx context.Context, j *Journal, task *progress.Task) (Result, error) {
				src := sources[c]
				if src == nil {
					var err error
					if src, err = o.Snapshot.Source(ctx, c); err != nil {
						return Result{}, err
					}
				}
				if w := o.PodSteps[c]; w != "" && o.Cluster != nil && !o.NoQuiesce {
					task.SetPhase("starting " + w)
					if err := o.Cluster.ScaleTo(ctx, map[string]int32{w: 1}, o.Timeout); err != nil {
						return Result{}, fmt.Errorf("start one %s pod for the %s restore: %w", w, c, err)
					}
					// Stop it again whatever happens: it must not serve from a
					// half-restored installation.
					defer func() {
						sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.Timeout)
						defer cancel()
						_ = o.Cluster.ScaleTo(sctx, map[string]int32{w: 0}, o.Timeout)
					}()
				}
				if deferred(c) {
					task.SetPhase("check " + c)
					if err := eng.Preflight(ctx, src); err != nil {
						return Result{}, err
					}
				}
				er, err := eng.Restore(ctx, src, task)
				if err != nil {
					return Result{}, err
				}
				if c == StepAPIManager && o.Fresh {
					// A resume must plan the same: the namespace is not empty any more.
					if j.Values == nil {
						j.Values = map[string]string{}
					}
					j.Values[freshKey] = "operator"
				} else if c == StepAPIManager && o.Cluster != nil && !o.NoQuiesce && !o.FreshTemplate {
					// The restored CR carries the snapshot's replicas: hold
					// the operator at 0 again until scale-back.
					if _, err := o.Cluster.DownAll(ctx, o.Timeout); err != nil {
						return Result{}, fmt.Errorf("keep 3scale scaled down after restoring the APIManager: %w", err)
					}
				}
				return Result{Items: er.Items, Summary: er.Summary, Detail: er.Detail}, nil
			}})
		if o.FreshTemplate && o.Cluster != nil && c == lastKube(selected) {
			p.Steps = append(p.Steps, &Step{Name: StepDeployTemplate, Target: "namespace " + o.Namespace + " (oc new-app, by you)",
				Action: "pause: write the amp.yml parameters read from the restored secrets and configmaps to a 0600 file and print `oc new-app --file amp.yml --param-file FILE`; on --resume check that the template's workloads exist",
				Run:    o.DeployTemplate})
			if !o.NoQuiesce {
				quiesce.Target = "the workloads the template created in " + o.Namespace
				p.Steps = append(p.Steps, quiesce)
			}
		}
		if c == StepAPIManager && o.Fresh && o.Cluster != nil {
			p.Steps = append(p.Steps, &Step{Name: StepAwait, Target: "3scale operator, namespace " + o.Namespace,
				Action: "wait until the operator has built 3scale's workloads from the APIManager (held at 0 replicas), record the snapshot's replicas for scale-back",
				Run: func(ctx context.Context, j *Journal, task *progress.Task) (Result, error) {
					rep, err := o.Cluster.AwaitOperator(ctx, o.Timeout, task)
					if err != nil {
						return Result{}, err
					}
					if len(j.Replicas) == 0 {
						j.Replicas = rep
					}
					return Result{Items: int64(len(rep)), Summary: fmt.Sprintf("the operator built %d workloads; held at 0 until scale-back", len(rep)),
						Detail: map[string]any{"replicas": j.Replicas}}, nil
				}})
		}
	}

	if o.Cluster != nil && (!o.NoQuiesce || fresh) {
		p.Steps = append(p.Steps, &Step{Name: StepScaleBack, Target: "every 3scale workload in " + o.Namespace,
			Action: "scale back to the recorded replicas and wait until ready",
			Run: func(ctx context.Context, j *Journal, task *progress.Task) (Result, error) {
				if err := o.Cluster.ScaleBack(ctx, j.Replicas, o.Timeout); err != nil {
					return Result{}, err
				}
				return Result{Items: int64(len(j.Replicas)), Summary: fmt.Sprintf("%d workloads back to their replicas", len(j.Replicas))}, nil
			}})
	}
	if o.Cluster != nil {
		p.Steps = append(p.Steps, &Step{Name: StepRollout, Target: strings.Join(rolloutAfterRestore, ", "),
			Action: "roll out so every process reloads the restored data, and wait for readiness",
			Run: func(ctx context.Context, _ *Journal, task *progress.Task) (Result, error) {
				if err := o.Cluster.Rollout(ctx, rolloutAfterRestore, o.Timeout); err != nil {
					return Result{}, err
				}
				return Result{Summary: "rolled out " + strings.Join(rolloutAfterRestore, ", ")}, nil
			}})
		p.Steps = append(p.Steps, &Step{Name: StepZyncResync, Target: "system-sidekiq pod, routes",
			Action: "bundle exec rake zync:resync:domains, then compare expected hosts with zync's routes",
			Run: func(ctx context.Context, _ *Journal, task *progress.Task) (Result, error) {
				return o.Cluster.ZyncResync(ctx, task)
			}})
	}
	if slices.Contains(selected, StepBackendRedis) {
		switch {
		case o.Cluster == nil && local:
			p.Warnings = append(p.Warnings, "--local: after backend-redis, run `bundle exec rake backend:storage:enqueue_rewrite` in a system-sidekiq pod so backend-redis gets System's configuration (guide §7.5.6)")
		case o.NoBackendSync:
			p.Warnings = append(p.Warnings, "--skip-backend-sync: backend-redis keeps the snapshot's configuration; System's is not rewritten into it (guide §7.5.6)")
		default:
			p.Steps = append(p.Steps, &Step{Name: StepBackendSync, Target: "system-sidekiq (or system-app) pod",
				Action: "bundle exec rake backend:storage:enqueue_rewrite: System, the source of truth, rewrites its configuration into backend-redis (§7.5.6)",
				Run: func(ctx context.Context, _ *Journal, task *progress.Task) (Result, error) {
					return o.Cluster.BackendSync(ctx, task)
				}})
		}
	}
	if slices.Contains(selected, StepSystemMySQL) {
		if err := reindexStep(ctx, o, p, local); err != nil {
			return nil, err
		}
	}
	if w := partialWarning(have, selected); w != "" {
		p.Warnings = append(p.Warnings, w)
	}
	if o.Verify != nil {
		p.Steps = append(p.Steps, &Step{Name: StepVerify, Target: "restored data", Always: true,
			Action: "replay recorded probes against the embedded backend and through the embedded gateway; check System ↔ backend-redis consistency",
			Run: func(ctx context.Context, _ *Journal, task *progress.Task) (Result, error) {
				return o.Verify(ctx, task)
			}})
	} else if o.VerifySkipped != "" {
		p.VerifySkipped = o.VerifySkipped
	} else {
		p.Warnings = append(p.Warnings, "--no-verify: the restore will not be proven")
	}
	return p, nil
}

func actionOf(c string) string {
	switch c {
	case StepSecrets, StepConfigMaps:
		return "create or update each object; report changed keys (names only)"
	case StepAPIManager:
		return "apply the APIManager CR and capability objects"
	case StepSystemMySQL:
		return "load the schema, data in parallel, then indexes, triggers and routines; compare row counts"
	case StepZyncPostgres:
		return "load the schema, COPY data in parallel, then constraints, indexes and sequences; compare row counts"
	case StepStorage:
		return "extract the files tree (paths, modes, mtimes, symlinks)"
	case StepBackendRedis, StepSystemRedis:
		return "AOF-safe restore: save points off, flush, RESTORE every key (the AOF logs each), fsync the AOF, compare key counts"
	}
	return "restore"
}

// partialWarning names the data stores a partial restore leaves at another
// point in time than the restored ones ("" when every store is restored).
func partialWarning(have, selected []string) string {
	var restored, others []string
	for _, c := range have {
		info, ok := component.Lookup(c)
		if !ok || info.Class != component.Data {
			continue
		}
		if slices.Contains(selected, c) {
			restored = append(restored, c)
		} else {
			others = append(others, c)
		}
	}
	if len(restored) == 0 || len(others) == 0 {
		return ""
	}
	component.Sort(restored)
	component.Sort(others)
	return fmt.Sprintf("partial restore: %s will hold the snapshot's point in time, while %s keep their current data (another point in time); references between them (applications, keys, usage, routes) may disagree until those are restored too",
		strings.Join(restored, ", "), strings.Join(others, ", "))
}

// lastKube is the last Kubernetes-objects component of selected ("" if none).
func lastKube(selected []string) string {
	last := ""
	for _, c := range selected {
		if info, ok := component.Lookup(c); ok && info.Class == component.Kube {
			last = c
		}
	}
	return last
}

// kubeOnly reports whether every selected component is Kubernetes objects.
func kubeOnly(selected []string) bool {
	for _, c := range selected {
		if info, ok := component.Lookup(c); !ok || info.Class != component.Kube {
			return false
		}
	}
	return len(selected) > 0
}

// reindexStep plans the search index rebuild after system-mysql: on
// system-searchd (Manticore) the index lives on its own volume and still
// holds the old database's records; system-sphinx (2.13 and older) is
// rolled out instead, which re-indexes from the database.
func reindexStep(ctx context.Context, o Options, p *Plan, local bool) error {
	if o.Cluster == nil {
		if local {
			p.Warnings = append(p.Warnings, "--local: after system-mysql, rebuild the search index: `bundle exec rake searchd:optimal_index` in a system-sidekiq pod (3scale 2.14.1+, system-searchd)")
		}
		return nil
	}
	engine, err := o.Cluster.SearchEngine(ctx)
	if err != nil {
		hint := errs.Hint(err)
		if hint == "" {
			hint = "check that your role may get and list deployments and deploymentconfigs (3scale-ops manifests rbac), or leave the rebuild out with --skip-reindex"
		}
		return errs.Wrap(errs.Code(err), fmt.Errorf("find the search workload (system-searchd or system-sphinx) in namespace %s: %w", o.Namespace, err), hint)
	}
	switch {
	case engine != Searchd:
		return nil
	case o.NoReindex:
		p.Warnings = append(p.Warnings, "--skip-reindex: system-searchd keeps the index of the old database until `bundle exec rake searchd:optimal_index` runs in a system-sidekiq pod; searches may miss or show stale records")
		return nil
	}
	p.Steps = append(p.Steps, &Step{Name: StepReindex, Target: "system-sidekiq (or system-app) pod, system-searchd",
		Action: "bundle exec rake searchd:optimal_index: rebuild the search index from the restored system database, and wait for it",
		Run: func(ctx context.Context, _ *Journal, task *progress.Task) (Result, error) {
			return o.Cluster.Reindex(ctx, task)
		}})
	return nil
}
