package restore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/repo"
)

func testRepo(t testing.TB) *repo.Repository {
	t.Helper()
	ctx := context.Background()
	be, err := repo.OpenBackend(ctx, t.TempDir(), repo.BackendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Init(ctx, be, repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRunnerResumesFromTheFirstUnfinishedStep runs a plan whose third step
// fails once, then runs it again as --resume does: finished steps are not
// repeated, Always steps are, and state recorded by earlier steps (the
// replicas) is seen by later ones in the second run.
func TestRunnerResumesFromTheFirstUnfinishedStep(t *testing.T) {
	ctx := context.Background()
	store := testRepo(t)
	runs := map[string]int{}
	failOnce := true
	var seenReplicas map[string]int32
	step := func(name string, always bool, fn func(j *Journal) error) *Step {
		return &Step{Name: name, Always: always, Run: func(ctx context.Context, j *Journal, task *progress.Task) (Result, error) {
			runs[name]++
			task.AddItems(1)
			if fn != nil {
				if err := fn(j); err != nil {
					return Result{}, err
				}
			}
			return Result{Items: 1, Summary: name + " ok"}, nil
		}}
	}
	plan := &Plan{Snapshot: "20261123T020000Z-abcdef", Steps: []*Step{
		step(StepPreflight, true, nil),
		step(StepQuiesce, false, func(j *Journal) error { j.Replicas = map[string]int32{"system-app": 2}; return nil }),
		step(StepSystemMySQL, false, func(j *Journal) error {
			if failOnce {
				failOnce = false
				return errs.New(errs.Failure, "", "connection lost")
			}
			return nil
		}),
		step(StepScaleBack, false, func(j *Journal) error { seenReplicas = j.Replicas; return nil }),
	}}
	r := &Runner{Store: store}
	j := &Journal{Snapshot: plan.Snapshot, Namespace: "ns1"}
	_, err := r.Run(ctx, plan, j)
	if err == nil || !strings.Contains(err.Error(), "restore step system-mysql: connection lost") || !strings.Contains(errs.Hint(err), "--resume") {
		t.Fatalf("first run: %v (hint %q)", err, errs.Hint(err))
	}

	// A new process: load the journal from the repository and run again.
	j2, found, err := LoadJournal(ctx, store, plan.Snapshot, "ns1")
	if err != nil || !found {
		t.Fatalf("journal: %v found=%v", err, found)
	}
	if j2.Replicas["system-app"] != 2 || j2.Steps[2].Status != Failed {
		t.Fatalf("journal after failure: %+v", j2)
	}
	rep, err := (&Runner{Store: store}).Run(ctx, plan, j2)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{StepPreflight: 2, StepQuiesce: 1, StepSystemMySQL: 2, StepScaleBack: 1}
	for k, v := range want {
		if runs[k] != v {
			t.Errorf("%s ran %d times, want %d", k, runs[k], v)
		}
	}
	if seenReplicas["system-app"] != 2 {
		t.Errorf("scale-back saw replicas %v", seenReplicas)
	}
	if !rep.Resumed || len(rep.Steps) != 4 {
		t.Errorf("report: %+v", rep)
	}
	j3, _, _ := LoadJournal(ctx, store, plan.Snapshot, "ns1")
	if !j3.Finished {
		t.Error("journal not marked finished")
	}
	if _, found, _ := LoadJournal(ctx, store, plan.Snapshot, "other"); found {
		t.Error("journal of another namespace found")
	}
}

func TestRunnerStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	store := testRepo(t)
	ran := 0
	plan := &Plan{Snapshot: "20261123T020000Z-000001", Steps: []*Step{
		{Name: "a", Run: func(context.Context, *Journal, *progress.Task) (Result, error) { ran++; cancel(); return Result{}, nil }},
		{Name: "b", Run: func(context.Context, *Journal, *progress.Task) (Result, error) { ran++; return Result{}, nil }},
	}}
	_, err := (&Runner{Store: store}).Run(ctx, plan, &Journal{Snapshot: plan.Snapshot})
	if !errors.Is(err, context.Canceled) || ran != 1 {
		t.Fatalf("err %v, ran %d", err, ran)
	}
}

// A journal is not authenticated: anyone who can write the repository can
// copy one restore's journal over another's, or write one. Such a journal
// is refused with a clear error (exit 2), never resumed from: one of
// another snapshot, one of another target, and one that asks scale-back
// for something quiesce never recorded.
func TestLoadJournalRefusesAJournalOfAnotherRestore(t *testing.T) {
	ctx := context.Background()
	store := testRepo(t)
	const a, b = "20261123T020000Z-abcdef", "20261124T020000Z-123456"
	plan := &Plan{Snapshot: a, Steps: []*Step{{Name: StepPreflight, Run: func(context.Context, *Journal, *progress.Task) (Result, error) {
		return Result{Summary: "ok"}, nil
	}}, {Name: StepQuiesce, Run: func(_ context.Context, j *Journal, _ *progress.Task) (Result, error) {
		j.Replicas = map[string]int32{"system-app": 2}
		return Result{}, errs.New(errs.Failure, "", "interrupted")
	}}}}
	if _, err := (&Runner{Store: store}).Run(ctx, plan, &Journal{Snapshot: a, Namespace: "ns1"}); err == nil {
		t.Fatal("the plan should stop at quiesce")
	}
	j, found, err := LoadJournal(ctx, store, a, "ns1")
	if err != nil || !found {
		t.Fatalf("the journal's own restore: %v found=%v", err, found)
	}
	// Copies of it under the names of other restores.
	if err := store.PutRestoreJournal(ctx, JournalName(b, "ns1"), j); err != nil {
		t.Fatal(err)
	}
	if err := store.PutRestoreJournal(ctx, JournalName(a, "local-0123456789ab"), j); err != nil {
		t.Fatal(err)
	}
	forged := *j
	forged.Replicas = map[string]int32{"kube-apiserver": 3}
	if err := store.PutRestoreJournal(ctx, JournalName(a, "ns2"), &Journal{Snapshot: a, Namespace: "ns2", Replicas: forged.Replicas}); err != nil {
		t.Fatal(err)
	}
	if err := store.PutRestoreJournal(ctx, JournalName(a, "ns3"), &Journal{Snapshot: a, Namespace: "ns3", Replicas: map[string]int32{"system-app": 100000}}); err != nil {
		t.Fatal(err)
	}
	if err := store.PutRestoreJournal(ctx, JournalName(a, "ns4"), &Journal{Snapshot: a, Namespace: "ns4", Steps: []StepState{{Name: StepQuiesce, Status: "done-ish"}}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ snap, key, want string }{
		{b, "ns1", `is the journal of snapshot "` + a + `", not of ` + b},
		{a, "local-0123456789ab", `is the journal of a restore into "ns1", not into "local-0123456789ab"`},
		{a, "ns2", `"kube-apiserver", which is not a 3scale workload`},
		{a, "ns3", "100000 replicas for system-app"},
		{a, "ns4", `unknown state "done-ish"`},
	} {
		_, found, err := LoadJournal(ctx, store, c.snap, c.key)
		if found || errs.Code(err) != errs.Usage || !strings.Contains(err.Error(), c.want) || !strings.Contains(errs.Hint(err), "--abandon "+c.snap) {
			t.Errorf("journal of %s into %s: found=%v, exit %d, %v (hint %q); want exit 2 with %q", c.snap, c.key, found, errs.Code(err), err, errs.Hint(err), c.want)
		}
	}
	// Every state the runner writes loads again (a paused restore resumes).
	for i, st := range stepStates {
		key := fmt.Sprintf("state%d", i)
		if err := store.PutRestoreJournal(ctx, JournalName(a, key), &Journal{Snapshot: a, Namespace: key, Steps: []StepState{{Name: StepQuiesce, Status: st}}}); err != nil {
			t.Fatal(err)
		}
		if _, found, err := LoadJournal(ctx, store, a, key); !found || err != nil {
			t.Errorf("a journal with a %s step: found=%v %v", st, found, err)
		}
	}
	// A damaged one is refused too, with exit 3.
	if err := store.Backend().Put(ctx, "restores/"+JournalName(a, "ns5")+".json", strings.NewReader(`{"snapshot":`)); err != nil {
		t.Fatal(err)
	}
	if _, found, err := LoadJournal(ctx, store, a, "ns5"); found || errs.Code(err) != errs.Mismatch || !strings.Contains(errs.Hint(err), "--abandon") {
		t.Errorf("truncated journal: found=%v exit %d %v", found, errs.Code(err), err)
	}
}
