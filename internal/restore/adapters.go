package restore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/repo"
	"github.com/3scale-ops/3scale-ops/internal/scale"
	"github.com/3scale-ops/3scale-ops/internal/zync"
)

// RepoSnapshot is a snapshot read from a repository.
type RepoSnapshot struct {
	Repo     *repo.Repository
	Manifest *repo.Manifest
}

func (s *RepoSnapshot) ID() string           { return s.Manifest.ID }
func (s *RepoSnapshot) Components() []string { return s.Manifest.ComponentNames() }

func (s *RepoSnapshot) Source(_ context.Context, c string) (artifact.Source, error) {
	return s.Repo.Source(s.Manifest, c)
}

// Verified returns the files of src read to their end, every check
// passed (src from Source).
func (s *RepoSnapshot) Verified(src artifact.Source) []string { return repo.VerifiedFiles(src) }

// Verify re-reads and re-hashes every file of the components (and the
// probes, which the verification step replays) but those in done.
func (s *RepoSnapshot) Verify(ctx context.Context, components []string, done map[string][]string) error {
	names := append(slices.Clone(components), "verify")
	res, err := s.Repo.VerifyComponentsExcept(ctx, s.Manifest.ID, names, done, true, nil)
	if err != nil {
		return fmt.Errorf("verify snapshot %s: %w", s.Manifest.ID, err)
	}
	return repo.MismatchError([]repo.VerifyResult{res})
}

// KubeCluster is the Cluster of a namespace, through package scale.
type KubeCluster struct {
	KC        *kube.Clients
	Namespace string
	Scaler    *scale.Scaler
	// SystemDB opens the system database for the route check (nil: the
	// check is skipped and said so).
	SystemDB func(ctx context.Context) (*sql.DB, error)
	Output   io.Writer // where the rake task's output goes
}

func (k *KubeCluster) Kind(ctx context.Context) (string, error) {
	kind, err := k.Scaler.Detect(ctx)
	return string(kind), err
}

func (k *KubeCluster) DownAll(ctx context.Context, timeout time.Duration) (map[string]int32, error) {
	rec, err := k.Scaler.DownAll(ctx)
	if err != nil {
		return nil, err
	}
	names := slices.Collect(maps.Keys(rec))
	if len(names) > 0 {
		if err := k.Scaler.Wait(ctx, names, timeout, nil); err != nil {
			return nil, fmt.Errorf("waiting for 3scale's pods to stop: %w", err)
		}
	}
	return rec, nil
}

func (k *KubeCluster) ScaleTo(ctx context.Context, replicas map[string]int32, timeout time.Duration) error {
	if len(replicas) == 0 {
		return nil
	}
	if err := k.Scaler.Scale(ctx, replicas); err != nil {
		return err
	}
	names := slices.Collect(maps.Keys(replicas))
	return k.Scaler.Wait(ctx, names, timeout, nil)
}

// ScaleBack returns every workload to the replicas quiesce recorded (from
// the journal, so lost annotations do not matter), clears the recorded
// annotations and waits until everything is ready.
func (k *KubeCluster) ScaleBack(ctx context.Context, replicas map[string]int32, timeout time.Duration) error {
	// Resume first (it applies and clears the annotations), then the
	// journal's counts, which win when the two differ (an APIManager
	// restored from the snapshot carries the snapshot's replicas).
	if _, err := k.Scaler.Resume(ctx); err != nil {
		return err
	}
	kind, err := k.Scaler.Detect(ctx)
	if err != nil {
		return err
	}
	enforce := map[string]int32{}
	for name, n := range replicas {
		// Under the operator, what the CR cannot scale (searchd) was
		// scaled directly and Resume has put it back from its annotation.
		if c, ok := scale.Lookup(name); ok && (kind != scale.Operator || c.CRPath != nil) {
			enforce[name] = n
		}
	}
	if err := k.Scaler.Scale(ctx, enforce); err != nil {
		return err
	}
	names := slices.Collect(maps.Keys(replicas))
	return k.Scaler.Wait(ctx, names, timeout, nil)
}

func (k *KubeCluster) Rollout(ctx context.Context, names []string, timeout time.Duration) error {
	st, err := k.Scaler.Status(ctx)
	if err != nil {
		return err
	}
	present := map[string]bool{}
	for _, s := range st {
		present[s.Component] = s.Desired > 0
	}
	var todo []string
	for _, n := range names {
		if present[n] {
			todo = append(todo, n)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	return k.Scaler.Rollout(ctx, todo, timeout, nil)
}

func (k *KubeCluster) ZyncResync(ctx context.Context, task *progress.Task) (Result, error) {
	out := k.Output
	if out == nil {
		out = io.Discard
	}
	pod, err := zync.Resync(ctx, k.KC, k.Namespace, out)
	if err != nil {
		return Result{}, err
	}
	res := Result{Summary: "rake zync:resync:domains ran in " + pod, Detail: map[string]any{"pod": pod}}
	if k.SystemDB == nil {
		res.Summary += "; route check skipped (no system database)"
		return res, nil
	}
	db, err := k.SystemDB(ctx)
	if err != nil {
		return Result{}, err
	}
	defer db.Close()
	exp, err := zync.ExpectedHosts(ctx, db)
	if err != nil {
		return Result{}, err
	}
	rep, err := zync.CheckRoutes(ctx, k.KC, k.Namespace, exp)
	if errors.Is(err, zync.ErrNoRoutes) {
		res.Summary += "; route check not applicable (no OpenShift Routes in this cluster)"
		return res, nil
	}
	if err != nil {
		return Result{}, err
	}
	res.Detail["routes"] = rep
	res.Items = int64(rep.OK)
	// Routes appear asynchronously (zync-que works through its queue), so
	// findings right after the resync are reported, not failed on.
	res.Summary += fmt.Sprintf("; routes: %d of %d expected hosts ok, %d findings (re-check with `zync resync --check`)", rep.OK, rep.Expected, len(rep.Findings))
	return res, nil
}

// AwaitOperator waits until the operator has built, from the APIManager
// the restore created, a workload for every component the CR scales (and
// the ones it always deploys), then scales all of them to 0 as quiesce
// would and returns the recorded replicas (the snapshot's, from the
// APIManager's record).
func (k *KubeCluster) AwaitOperator(ctx context.Context, timeout time.Duration, task *progress.Task) (map[string]int32, error) {
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	deadline := time.Now().Add(timeout)
	want := []string{"system-app", "system-sidekiq", "backend-listener", "backend-worker", "apicast-production", "apicast-staging"}
	for {
		ws, err := k.KC.ListWorkloads(ctx, k.Namespace)
		if err != nil {
			return nil, err
		}
		have := map[string]bool{}
		for _, w := range ws {
			have[w.Name] = true
		}
		var missing []string
		for _, w := range want {
			if !have[w] {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			break
		}
		task.SetPhase("waiting for the operator to create " + strings.Join(missing, ", "))
		if time.Now().After(deadline) {
			return nil, errs.New(errs.Failure, "check that the 3scale operator runs and watches this namespace (its logs name what stops it), then run the restore again with --resume",
				"the operator has not created %s in namespace %s within %s of the APIManager's creation", strings.Join(missing, ", "), k.Namespace, timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(k.Scaler.Poll):
		}
	}
	return k.DownAll(ctx, timeout)
}
