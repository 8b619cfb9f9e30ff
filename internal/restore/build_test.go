package restore

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/component"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
)

// planSnapshot is a snapshot that only has component names: BuildPlan
// reads nothing else of it (the steps open sources when they run).
type planSnapshot []string

func (s planSnapshot) ID() string           { return "20261123T020000Z-5c1e9a" }
func (s planSnapshot) Components() []string { return s }
func (s planSnapshot) Source(context.Context, string) (artifact.Source, error) {
	return nil, errors.New("not read while planning")
}
func (s planSnapshot) Verify(context.Context, []string, map[string][]string) error { return nil }
func (s planSnapshot) Verified(artifact.Source) []string                           { return nil }

// planEngine is an engine BuildPlan can be given; it is never run here.
type planEngine string

func (e planEngine) Name() string                                     { return string(e) }
func (e planEngine) Preflight(context.Context, artifact.Source) error { return nil }
func (e planEngine) Restore(context.Context, artifact.Source, *progress.Task) (artifact.Result, error) {
	return artifact.Result{}, nil
}

// planCluster answers Kind; the plan's steps call the rest only when run.
type planCluster struct {
	kind      string
	err       error
	search    string // the search workload SearchEngine names
	searchErr error
}

func (c planCluster) Kind(context.Context) (string, error) { return c.kind, c.err }
func (planCluster) DownAll(context.Context, time.Duration) (map[string]int32, error) {
	return nil, nil
}
func (planCluster) ScaleTo(context.Context, map[string]int32, time.Duration) error { return nil }
func (planCluster) AwaitOperator(context.Context, time.Duration, *progress.Task) (map[string]int32, error) {
	return nil, nil
}
func (planCluster) ScaleBack(context.Context, map[string]int32, time.Duration) error { return nil }
func (planCluster) Rollout(context.Context, []string, time.Duration) error           { return nil }
func (planCluster) ZyncResync(context.Context, *progress.Task) (Result, error)       { return Result{}, nil }
func (planCluster) BackendSync(context.Context, *progress.Task) (Result, error)      { return Result{}, nil }
func (c planCluster) SearchEngine(context.Context) (string, error)                   { return c.search, c.searchErr }
func (planCluster) Reindex(context.Context, *progress.Task) (Result, error)          { return Result{}, nil }

func planEngines(names ...string) map[string]Engine {
	out := map[string]Engine{}
	for _, n := range names {
		out[n] = planEngine(n)
	}
	return out
}

var (
	dataComponents = component.Names(component.Data)
	allComponents  = append(component.Restorable(), component.Verify)
	verifyFn       = func(context.Context, *progress.Task) (Result, error) { return Result{}, nil }
)

// TestBuildPlan checks, per installation kind and option, the steps the
// plan holds and their order, which are destructive or always run, the
// warnings, and the guards that refuse a plan before anything runs.
func TestBuildPlan(t *testing.T) {
	cases := []struct {
		name string
		have []string // the snapshot's components
		o    Options  // Snapshot and (when nil) Engines are filled in

		wantErr      int    // exit code of a refused plan (0: accepted)
		wantErrText  string // part of the refusal
		wantKind     string
		wantSteps    []string
		wantWarnings []string // parts of warnings, each must appear
		noWarnings   []string // parts that must not appear
		wantText     []string // parts of the plan's text
		verifySkip   string
	}{
		{
			name:     "local: the data stores in runbook order, then verify",
			have:     append(dataComponents, component.Verify),
			o:        Options{Verify: verifyFn},
			wantKind: "local",
			wantSteps: []string{StepPreflight, StepSystemMySQL, StepStorage, StepZyncPostgres,
				StepBackendRedis, StepSystemRedis, StepVerify},
			wantWarnings: []string{"--local: nothing is scaled down", "enqueue_rewrite", "searchd:optimal_index"},
			noWarnings:   []string{"partial restore", "--no-verify"},
		},
		{
			name:     "operator: quiesce through the CR, objects first, scale back, roll out, resync, sync backend, verify",
			have:     allComponents,
			o:        Options{Cluster: planCluster{kind: "operator", search: Searchd}, Verify: verifyFn, Namespace: "3scale"},
			wantKind: "operator",
			wantSteps: []string{StepPreflight, StepQuiesce, StepSecrets, StepConfigMaps, StepAPIManager,
				StepSystemMySQL, StepStorage, StepZyncPostgres, StepBackendRedis, StepSystemRedis,
				StepScaleBack, StepRollout, StepZyncResync, StepBackendSync, StepReindex, StepVerify},
			noWarnings: []string{"--local", "partial restore", "--no-quiesce", "--skip-reindex"},
		},
		{
			name:         "system-searchd with --skip-reindex: no rebuild, a warning",
			have:         allComponents,
			o:            Options{Cluster: planCluster{kind: "operator", search: Searchd}, Verify: verifyFn, NoReindex: true, Components: []string{StepSystemMySQL}},
			wantKind:     "operator",
			wantSteps:    []string{StepPreflight, StepQuiesce, StepSystemMySQL, StepScaleBack, StepRollout, StepZyncResync, StepVerify},
			wantWarnings: []string{"--skip-reindex: system-searchd keeps the index of the old database"},
		},
		{
			name:      "system-searchd without system-mysql: nothing to re-index",
			have:      allComponents,
			o:         Options{Cluster: planCluster{kind: "operator", search: Searchd}, Verify: verifyFn, Components: []string{StepSystemRedis}},
			wantKind:  "operator",
			wantSteps: []string{StepPreflight, StepQuiesce, StepSystemRedis, StepScaleBack, StepRollout, StepZyncResync, StepVerify},
		},
		{
			name:         "template with --no-quiesce: nothing scaled, still rolled out",
			have:         allComponents,
			o:            Options{Cluster: planCluster{kind: "template", search: Sphinx}, Verify: verifyFn, NoQuiesce: true, Components: []string{StepSystemMySQL}},
			wantKind:     "template",
			wantSteps:    []string{StepPreflight, StepSystemMySQL, StepRollout, StepZyncResync, StepVerify},
			wantWarnings: []string{"--no-quiesce", "partial restore: system-mysql will hold the snapshot's point in time"},
		},
		{
			name: "components given out of order are restored in runbook order",
			have: allComponents,
			o: Options{Cluster: planCluster{kind: "deployments"}, Verify: verifyFn, NoBackendSync: true,
				Components: []string{StepSystemRedis, StepBackendRedis, StepSecrets, StepSystemMySQL}},
			wantKind: "deployments",
			wantSteps: []string{StepPreflight, StepQuiesce, StepSecrets, StepSystemMySQL, StepBackendRedis, StepSystemRedis,
				StepScaleBack, StepRollout, StepZyncResync, StepVerify},
			wantWarnings: []string{"--skip-backend-sync"},
		},
		{
			name: "an empty namespace: Kubernetes objects only, nothing scaled",
			have: allComponents,
			o: Options{Cluster: planCluster{err: errors.New("no workloads")}, Verify: verifyFn, Namespace: "new",
				Components: []string{StepConfigMaps, StepSecrets}},
			wantKind:     "no 3scale yet",
			wantSteps:    []string{StepPreflight, StepSecrets, StepConfigMaps, StepVerify},
			wantWarnings: []string{"no 3scale workloads in namespace new"},
		},
		{
			name: "an empty namespace from a template snapshot: objects, pause for oc new-app, then quiesce, data, scale back (§7.5.1)",
			have: allComponents,
			o: Options{Cluster: planCluster{err: errors.New("no workloads"), search: Searchd}, Verify: verifyFn, Namespace: "new", FreshTemplate: true,
				DeployTemplate: func(context.Context, *Journal, *progress.Task) (Result, error) { return Result{}, nil }},
			wantKind: FreshTemplate,
			wantSteps: []string{StepPreflight, StepSecrets, StepConfigMaps, StepAPIManager, StepDeployTemplate, StepQuiesce,
				StepSystemMySQL, StepStorage, StepZyncPostgres, StepBackendRedis, StepSystemRedis,
				StepScaleBack, StepRollout, StepZyncResync, StepBackendSync, StepReindex, StepVerify},
			wantWarnings: []string{"pauses for 3scale to be deployed from the template", "oc new-app"},
			noWarnings:   []string{"no 3scale workloads in namespace"},
		},
		{
			name:    "an empty namespace with data selected is refused",
			have:    allComponents,
			o:       Options{Cluster: planCluster{err: errors.New("no workloads")}, Verify: verifyFn, Namespace: "new"},
			wantErr: errs.Failure, wantErrText: "detect how 3scale is deployed in namespace new",
		},
		{
			name: "verification that cannot run is left out and says why",
			have: allComponents,
			o: Options{VerifySkipped: "needs backend-redis (--backend-redis-url is not set)",
				Components: []string{StepSystemMySQL, StepZyncPostgres}},
			wantKind:   "local",
			wantSteps:  []string{StepPreflight, StepSystemMySQL, StepZyncPostgres},
			verifySkip: "needs backend-redis",
			noWarnings: []string{"--no-verify"},
		},
		{
			name:         "--no-verify is warned about",
			have:         allComponents,
			o:            Options{Components: []string{StepBackendRedis}},
			wantKind:     "local",
			wantSteps:    []string{StepPreflight, StepBackendRedis},
			wantWarnings: []string{"--no-verify"},
		},
		{
			name: "fresh operator: objects, the APIManager held at 0, the operator awaited, data, scale back",
			have: allComponents,
			o: Options{Cluster: planCluster{err: errors.New("no workloads"), search: Searchd}, Fresh: true, Verify: verifyFn, Namespace: "new",
				PodSteps: map[string]string{StepStorage: "system-app"}},
			wantKind: FreshOperator,
			wantSteps: []string{StepPreflight, StepSecrets, StepConfigMaps, StepAPIManager, StepAwait,
				StepSystemMySQL, StepStorage, StepZyncPostgres, StepBackendRedis, StepSystemRedis,
				StepScaleBack, StepRollout, StepZyncResync, StepBackendSync, StepReindex, StepVerify},
			wantWarnings: []string{"no 3scale in namespace new", "the operator builds 3scale on them"},
			noWarnings:   []string{"--no-quiesce", "partial restore", "only Kubernetes objects"},
			wantText:     []string{"the APIManager held at 0 replicas", "wait until the operator has built 3scale's workloads"},
		},
		{
			name:       "deployments, every component: quiesce directly, backend sync, no search engine to re-index",
			have:       allComponents,
			o:          Options{Cluster: planCluster{kind: "deployments"}, Verify: verifyFn, Namespace: "3scale"},
			wantKind:   "deployments",
			wantSteps:  []string{StepPreflight, StepQuiesce, StepSecrets, StepConfigMaps, StepAPIManager, StepSystemMySQL, StepStorage, StepZyncPostgres, StepBackendRedis, StepSystemRedis, StepScaleBack, StepRollout, StepZyncResync, StepBackendSync, StepVerify},
			noWarnings: []string{"--local", "partial restore", "--skip-reindex", "--skip-backend-sync"},
		},
		{
			name:       "template with system-sphinx: rolled out, not re-indexed by rake",
			have:       allComponents,
			o:          Options{Cluster: planCluster{kind: "template", search: Sphinx}, Verify: verifyFn},
			wantKind:   "template",
			wantSteps:  []string{StepPreflight, StepQuiesce, StepSecrets, StepConfigMaps, StepAPIManager, StepSystemMySQL, StepStorage, StepZyncPostgres, StepBackendRedis, StepSystemRedis, StepScaleBack, StepRollout, StepZyncResync, StepBackendSync, StepVerify},
			noWarnings: []string{"--skip-reindex", "searchd:optimal_index"},
		},
		{
			name:         "operator with --no-quiesce: nothing scaled down, so nothing scaled back",
			have:         allComponents,
			o:            Options{Cluster: planCluster{kind: "operator", search: Searchd}, Verify: verifyFn, NoQuiesce: true, Components: []string{StepBackendRedis}},
			wantKind:     "operator",
			wantSteps:    []string{StepPreflight, StepBackendRedis, StepRollout, StepZyncResync, StepBackendSync, StepVerify},
			wantWarnings: []string{"--no-quiesce", "partial restore: backend-redis"},
		},
		{
			name: "new servers: the connections step comes after the objects, before the first data store",
			have: allComponents,
			o: Options{Cluster: planCluster{kind: "operator"}, Verify: verifyFn, Components: []string{StepSecrets, StepSystemMySQL, StepBackendRedis},
				Connections:    &ConnPlan{Live: []KeyChange{{Secret: "backend-redis", Key: "REDIS_STORAGE_URL", Connection: component.BackendRedis, Origin: "flag"}}},
				SetConnections: func(context.Context, []KeyChange, *progress.Task) (Result, error) { return Result{}, nil }},
			wantKind: "operator",
			wantSteps: []string{StepPreflight, StepQuiesce, StepSecrets, StepConnections, StepSystemMySQL, StepBackendRedis,
				StepScaleBack, StepRollout, StepZyncResync, StepBackendSync, StepVerify},
			wantText: []string{"secrets backend-redis"},
		},
		{
			name:    "a search workload that cannot be read is refused before anything runs",
			have:    allComponents,
			o:       Options{Cluster: planCluster{kind: "operator", searchErr: errors.New("deployments.apps is forbidden")}, Verify: verifyFn, Namespace: "3scale"},
			wantErr: errs.Failure, wantErrText: "find the search workload (system-searchd or system-sphinx) in namespace 3scale",
		},
		{
			name:    "a component the snapshot lacks",
			have:    []string{component.SystemMySQL},
			o:       Options{Components: []string{component.ZyncPostgres}},
			wantErr: errs.Usage, wantErrText: `has no component "zync-postgres"`,
		},
		{
			name:    "the probes are not restorable",
			have:    allComponents,
			o:       Options{Components: []string{component.Verify}},
			wantErr: errs.Usage, wantErrText: `component "verify" cannot be restored`,
		},
		{
			name:    "a component without an engine in this mode",
			have:    allComponents,
			o:       Options{Components: []string{component.SystemMySQL}, Engines: planEngines(component.BackendRedis)},
			wantErr: errs.Failure, wantErrText: `no restore engine is available for component "system-mysql"`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := c.o
			o.Snapshot = planSnapshot(c.have)
			if o.Engines == nil {
				o.Engines = planEngines(component.Restorable()...)
			}
			p, err := BuildPlan(context.Background(), o)
			if c.wantErr != 0 {
				if err == nil || errs.Code(err) != c.wantErr || !strings.Contains(err.Error(), c.wantErrText) || errs.Hint(err) == "" {
					t.Fatalf("want a refusal (exit %d) containing %q with a hint, got %v (exit %d)", c.wantErr, c.wantErrText, err, errs.Code(err))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range p.Steps {
				names = append(names, s.Name)
				data := slices.Contains(component.Restorable(), s.Name) || s.Name == StepConnections
				if s.Destructive != data {
					t.Errorf("step %s: destructive=%v, want %v (only restoring a component, or rewriting the connection keys, replaces data)", s.Name, s.Destructive, data)
				}
				if always := s.Name == StepPreflight || s.Name == StepVerify; s.Always != always {
					t.Errorf("step %s: always=%v, want %v", s.Name, s.Always, always)
				}
				if s.Action == "" || s.Run == nil {
					t.Errorf("step %s has no action or no Run", s.Name)
				}
			}
			if !slices.Equal(names, c.wantSteps) {
				t.Errorf("steps:\n got %v\nwant %v", names, c.wantSteps)
			}
			if p.InstallKind != c.wantKind {
				t.Errorf("install kind %q, want %q", p.InstallKind, c.wantKind)
			}
			warnings := strings.Join(p.Warnings, "\n")
			for _, w := range c.wantWarnings {
				if !strings.Contains(warnings, w) {
					t.Errorf("no warning containing %q in:\n%s", w, warnings)
				}
			}
			for _, w := range c.noWarnings {
				if strings.Contains(warnings, w) {
					t.Errorf("unexpected warning containing %q in:\n%s", w, warnings)
				}
			}
			if !strings.Contains(p.VerifySkipped, c.verifySkip) || (c.verifySkip == "") != (p.VerifySkipped == "") {
				t.Errorf("verify skipped %q, want %q", p.VerifySkipped, c.verifySkip)
			}
			text := p.Text()
			for _, w := range c.wantText {
				if !strings.Contains(text, w) {
					t.Errorf("the plan does not say %q:\n%s", w, text)
				}
			}
			if c.verifySkip != "" && !strings.Contains(text, "verify: skipped, "+c.verifySkip) {
				t.Errorf("the plan does not say that verify is skipped:\n%s", text)
			}
			if c.o.Cluster != nil && c.wantKind == "operator" && !c.o.NoQuiesce && !strings.Contains(text, "through the APIManager CR") {
				t.Errorf("an operator install is not quiesced through its CR:\n%s", text)
			}
			if !p.Destructive() {
				t.Errorf("a plan that restores data is not destructive")
			}
		})
	}
}
