package scale

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/progress"
)

// doneFunc reports whether a component has reached its goal, given the
// current state; when not, it says why.
type doneFunc func(st *state, c Component, w kube.Workload) (bool, string)

// settled: the workload runs the replicas that stick, all updated and ready.
func settled(st *state, c Component, w kube.Workload) (bool, string) {
	want := st.desired(c, w)
	if w.Desired != want {
		return false, fmt.Sprintf("waiting for the operator to apply %d replicas (deployment has %d)", want, w.Desired)
	}
	switch {
	case w.Settled():
	case w.ObservedGeneration < w.Generation:
		return false, "waiting for the controller to see the change"
	case w.Replicas > want:
		return false, fmt.Sprintf("%d replicas still running, want %d", w.Replicas, want)
	default:
		return false, fmt.Sprintf("%d/%d ready", w.Ready, want)
	}
	return true, ""
}

// Wait waits until every named component runs the replicas that stick, all
// ready. task counts ready replicas against the desired total. timeout 0
// means DefaultTimeout.
func (s *Scaler) Wait(ctx context.Context, names []string, timeout time.Duration, task *progress.Task) error {
	return s.wait(ctx, names, timeout, task, map[string]doneFunc{}, "ready")
}

func (s *Scaler) wait(ctx context.Context, names []string, timeout time.Duration, task *progress.Task, goals map[string]doneFunc, what string) error {
	var bad []string
	for _, n := range names {
		if _, ok := Lookup(n); !ok {
			bad = append(bad, n)
		}
	}
	if len(bad) > 0 {
		return unknown(bad)
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	deadline := time.Now().Add(timeout)
	poll := s.Poll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	var reported int64
	for {
		st, err := s.load(ctx)
		if err != nil {
			return err
		}
		var pending []string
		var ready, total int64
		for _, name := range names {
			c, _ := Lookup(name)
			w, ok := st.workloads[name]
			if !ok {
				return fmt.Errorf("%s: no Deployment or DeploymentConfig in namespace %s (deleted while waiting?)", name, s.ns)
			}
			goal := goals[name]
			if goal == nil {
				goal = settled
			}
			want := st.desired(c, w)
			total += int64(want)
			ready += int64(min(w.Ready, want))
			if done, why := goal(st, c, w); !done {
				pending = append(pending, name+": "+why)
			}
		}
		task.SetTotal(0, total)
		task.AddItems(ready - reported)
		reported = ready
		if len(pending) == 0 {
			task.Done()
			return nil
		}
		sort.Strings(pending)
		if !time.Now().Before(deadline) {
			return errs.New(errs.Failure, "look at the pods' events (oc describe pod -l deployment=NAME, or deploymentconfig=NAME) and raise --timeout if they are just slow",
				"timed out after %s waiting for %s to be %s: %s", timeout, strings.Join(names, ", "), what, strings.Join(pending, "; "))
		}
		t := time.NewTimer(min(poll, time.Until(deadline)+time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Rollout triggers a new rollout of every named component and waits until
// each has rolled out: a Deployment gets a restart annotation on its pod
// template; a DeploymentConfig is instantiated when the server offers
// deploymentconfigs/instantiate (OpenShift), else gets the same annotation,
// which its ConfigChange trigger turns into a new version. Done means the
// controller saw the change (and, for a DeploymentConfig, latestVersion
// moved) and every replica is updated and ready.
func (s *Scaler) Rollout(ctx context.Context, names []string, timeout time.Duration, task *progress.Task) error {
	if len(names) == 0 {
		return errs.UsageError("name at least one component, e.g. 3scale-ops rollout system-app", "no component to roll out")
	}
	var bad []string
	for _, n := range names {
		if _, ok := Lookup(n); !ok {
			bad = append(bad, n)
		}
	}
	if len(bad) > 0 {
		return unknown(bad)
	}
	st, err := s.load(ctx)
	if err != nil {
		return err
	}
	goals := map[string]doneFunc{}
	for _, name := range names {
		w, ok := st.workloads[name]
		if !ok {
			return errs.New(errs.Failure, "run `3scale-ops scale status` to see the components of this namespace",
				"%s: no Deployment or DeploymentConfig named %s in namespace %s", name, name, s.ns)
		}
		before, err := s.kc.RestartWorkload(ctx, s.ns, w.Kind, w.Name, s.Now())
		if err != nil {
			return err
		}
		after, err := s.kc.GetWorkloadKind(ctx, s.ns, w.Kind, w.Name)
		if err != nil {
			return err
		}
		gen, latest := after.Generation, before.LatestVersion
		s.Log.Info("rollout triggered", "component", name, "kind", w.Kind, "generation", gen)
		goals[name] = func(st *state, c Component, w kube.Workload) (bool, string) {
			if w.ObservedGeneration < gen {
				return false, "waiting for the controller to see the change"
			}
			if w.Kind == kube.KindDeploymentConfig && w.LatestVersion <= latest {
				return false, fmt.Sprintf("waiting for version %d", latest+1)
			}
			return settled(st, c, w)
		}
	}
	err = s.wait(ctx, names, timeout, task, goals, "rolled out")
	if errors.Is(err, context.DeadlineExceeded) {
		return errs.Wrap(errs.Failure, err, "raise --timeout")
	}
	return err
}
