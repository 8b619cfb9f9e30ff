package restore

import (
	"context"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
)

// A step that keeps failing (zync resync with no sidekiq pod) can be left
// out on resume: it is recorded as skipped in the journal and the report,
// later resumes keep it skipped, and verify names it.
func TestResumeSkipStep(t *testing.T) {
	ctx := context.Background()
	store := testRepo(t)
	runs := map[string]int{}
	ok := func(name string) *Step {
		return &Step{Name: name, Always: name == StepPreflight || name == StepVerify, Run: func(context.Context, *Journal, *progress.Task) (Result, error) {
			runs[name]++
			return Result{Summary: name + " ok"}, nil
		}}
	}
	failing := &Step{Name: StepZyncResync, Run: func(context.Context, *Journal, *progress.Task) (Result, error) {
		runs[StepZyncResync]++
		return Result{}, errs.New(errs.Failure, "", "no running system-sidekiq pod")
	}}
	plan := &Plan{Snapshot: "20261123T020000Z-5c1e9a", Steps: []*Step{ok(StepPreflight), ok(StepSystemMySQL), failing, ok(StepVerify)}}
	j := &Journal{Snapshot: plan.Snapshot, Namespace: "ns"}
	_, err := (&Runner{Store: store}).Run(ctx, plan, j)
	if err == nil || !strings.Contains(errs.Hint(err), "--skip-step zync-resync") {
		t.Fatalf("failing step: %v (hint %q)", err, errs.Hint(err))
	}

	for _, bad := range []string{StepPreflight, "no-such-step"} {
		if _, err := SkipSteps(plan, []string{bad}); errs.Code(err) != errs.Usage {
			t.Fatalf("--skip-step %s: %v", bad, err)
		}
	}
	skip, err := SkipSteps(plan, []string{StepZyncResync})
	if err != nil {
		t.Fatal(err)
	}
	j2, _, _ := LoadJournal(ctx, store, plan.Snapshot, "ns")
	rep, err := (&Runner{Store: store, Skip: skip}).Run(ctx, plan, j2)
	if err != nil {
		t.Fatal(err)
	}
	if runs[StepZyncResync] != 1 || runs[StepSystemMySQL] != 1 {
		t.Fatalf("runs: %v", runs)
	}
	if len(rep.Skipped) != 1 || rep.Skipped[0] != StepZyncResync {
		t.Fatalf("report skipped: %v", rep.Skipped)
	}
	var verify StepState
	for _, s := range rep.Steps {
		if s.Name == StepZyncResync && (s.Status != Skipped || !strings.Contains(s.Summary, "--skip-step")) {
			t.Fatalf("skipped step in the report: %+v", s)
		}
		if s.Name == StepVerify {
			verify = s
		}
	}
	if !strings.Contains(verify.Summary, "skipped): zync-resync") {
		t.Fatalf("verify does not name the skipped step: %q", verify.Summary)
	}
	j3, _, _ := LoadJournal(ctx, store, plan.Snapshot, "ns")
	if !j3.Finished || j3.state(StepZyncResync).Status != Skipped {
		t.Fatalf("journal: %+v", j3.Steps)
	}
}
