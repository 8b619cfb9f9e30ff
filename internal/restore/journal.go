package restore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/redact"
	"github.com/3scale-ops/3scale-ops/internal/repo"
	"github.com/3scale-ops/3scale-ops/internal/scale"
)

// Step states in the journal.
const (
	Pending = "pending"
	Running = "running"
	Done    = "done"
	Failed  = "failed"
	// Skipped: left out on purpose (restore --skip-step); recorded in the
	// journal and the report, and named by the verification step.
	Skipped = "skipped"
	// Paused: stopped on purpose for the user to act (deploy-template);
	// --resume runs the step again.
	Paused = "paused"
)

// stepStates are every state a journal may give a step; a journal with
// any other is refused.
var stepStates = []string{Pending, Running, Done, Failed, Skipped, Paused}

// StepState is the journal entry of one step.
type StepState struct {
	Name     string         `json:"name"`
	Status   string         `json:"status"`
	Started  time.Time      `json:"started,omitempty"`
	Ended    time.Time      `json:"ended,omitempty"`
	Attempts int            `json:"attempts"`
	Items    int64          `json:"items,omitempty"`
	Summary  string         `json:"summary,omitempty"`
	Error    string         `json:"error,omitempty"`
	Detail   map[string]any `json:"detail,omitempty"`
	Mismatch bool           `json:"mismatch,omitempty"`
}

// Journal is the durable record of one restore. Steps keep state across
// runs in it: the replicas recorded by quiesce are read by scale-back even
// when the two run in different processes.
type Journal struct {
	Snapshot  string            `json:"snapshot"`
	Namespace string            `json:"namespace,omitempty"` // or local-<hash of the --local targets>
	Started   time.Time         `json:"started"`
	Updated   time.Time         `json:"updated"`
	Finished  bool              `json:"finished"`
	Steps     []StepState       `json:"steps"`
	Replicas  map[string]int32  `json:"replicas,omitempty"` // recorded by quiesce
	Values    map[string]string `json:"values,omitempty"`   // small facts steps hand to later steps
	Options   map[string]string `json:"options,omitempty"`  // the run's options; a resume must use the same
	// Targets are where each component is restored (redacted); a resume
	// must write to the same.
	Targets map[string]string `json:"targets,omitempty"`
}

// Name is the journal's object name in the repository (restores/<name>.json).
func (j *Journal) Name() string { return JournalName(j.Snapshot, j.Namespace) }

// JournalName names the journal of restoring snapshot into namespace.
func JournalName(snapshot, namespace string) string {
	if namespace == "" {
		namespace = "local"
	}
	return snapshot + "-" + namespace
}

func (j *Journal) state(name string) *StepState {
	for i := range j.Steps {
		if j.Steps[i].Name == name {
			return &j.Steps[i]
		}
	}
	j.Steps = append(j.Steps, StepState{Name: name, Status: Pending})
	return &j.Steps[len(j.Steps)-1]
}

// Store keeps journals durable; the repository implements it.
type Store interface {
	PutRestoreJournal(ctx context.Context, name string, v any) error
	GetRestoreJournal(ctx context.Context, name string, v any) error
}

// LoadJournal reads the journal of a previous run; found is false when
// there is none. A journal that is not the one of restoring snapshot into
// the target key (copied from another restore, or forged) is refused.
func LoadJournal(ctx context.Context, s Store, snapshot, namespace string) (j *Journal, found bool, err error) {
	var raw json.RawMessage
	err = s.GetRestoreJournal(ctx, JournalName(snapshot, namespace), &raw)
	if errors.Is(err, artifact.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		hint := ""
		if errs.Code(err) == errs.Mismatch {
			hint = "remove the damaged journal with `3scale-ops restore --abandon " + snapshot + "` (and -n NAMESPACE) and restore from the beginning"
		}
		return nil, false, errs.Wrap(errs.Code(err), fmt.Errorf("read restore journal %s: %w", JournalName(snapshot, namespace), err), hint)
	}
	j, err = DecodeJournal(snapshot, namespace, raw)
	if err != nil {
		return nil, false, err
	}
	return j, true, nil
}

// maxReplicas bounds the replicas a journal may ask scale-back for.
const maxReplicas = 1000

// DecodeJournal parses the journal of restoring snapshot into the target
// key (the namespace, or local-<hash of the --local targets>). Journals
// are not authenticated (docs/repository-format.md, "Threat model"): what
// one can do is bounded here to skipping or redoing steps of that very
// restore. A journal of another snapshot or target, an unknown step
// state, or replicas for workloads that are not 3scale's are refused
// (exit 2), never acted on.
func DecodeJournal(snapshot, key string, raw []byte) (*Journal, error) {
	name := JournalName(snapshot, key)
	refuse := func(format string, a ...any) error {
		return errs.New(errs.Usage,
			"the journal was copied from another restore or changed by someone who can write the repository: check who writes it, then remove it with `3scale-ops restore --abandon "+snapshot+"` (and -n NAMESPACE) and restore from the beginning",
			"restore journal restores/%s.json "+format, append([]any{name}, a...)...)
	}
	if len(raw) > repo.MaxJournalSize {
		return nil, refuse("is larger than %d bytes", repo.MaxJournalSize)
	}
	var j Journal
	if err := repo.StrictJSON(raw, &j); err != nil {
		return nil, refuse("is not valid: %v", err)
	}
	if j.Snapshot != snapshot {
		return nil, refuse("is the journal of snapshot %q, not of %s", j.Snapshot, snapshot)
	}
	if JournalName(j.Snapshot, j.Namespace) != name || j.Namespace != key {
		return nil, refuse("is the journal of a restore into %q, not into %q", j.Namespace, key)
	}
	seen := map[string]bool{}
	for _, st := range j.Steps {
		if !slices.Contains(stepStates, st.Status) {
			return nil, refuse("gives step %q the unknown state %q", st.Name, st.Status)
		}
		if seen[st.Name] {
			return nil, refuse("lists step %q twice", st.Name)
		}
		seen[st.Name] = true
	}
	for w, n := range j.Replicas {
		if _, ok := scale.Lookup(w); !ok {
			return nil, refuse("records replicas for %q, which is not a 3scale workload", w)
		}
		if n < 0 || n > maxReplicas {
			return nil, refuse("records %d replicas for %s", n, w)
		}
	}
	return &j, nil
}

// Runner executes a plan against a journal.
type Runner struct {
	Store   Store
	Tracker *progress.Tracker
	Log     *slog.Logger
	// Mirror, when set, is called after every journal change (the CLI
	// mirrors the state into a namespace annotation). Its errors are logged.
	Mirror func(ctx context.Context, j *Journal) error
	// Skip names steps to leave out, with the reason recorded for each
	// (restore --skip-step). A skipped step stays skipped on later resumes.
	Skip map[string]string
	// Hooks for tests: called before and after each step runs.
	BeforeStep, AfterStep func(name string)
	now                   func() time.Time
}

// Report is the outcome of a run.
type Report struct {
	Snapshot string      `json:"snapshot"`
	Steps    []StepState `json:"steps"`
	Mismatch bool        `json:"mismatch"`
	Resumed  bool        `json:"resumed"`
	// Skipped lists the steps left out with --skip-step.
	Skipped []string `json:"skipped,omitempty"`
	// VerifySkipped says why the restore was not verified (the plan's
	// "verify: skipped, needs …"); empty when it was, or with --no-verify.
	VerifySkipped string `json:"verify_skipped,omitempty"`
	// Paused says where the restore stopped for the user to act and how
	// to continue (nil: it did not pause).
	Paused *Pause `json:"paused,omitempty"`

	// Plan is what Run planned (nil when planning failed); DryRun: it
	// stopped there.
	Plan   *Plan `json:"-"`
	DryRun bool  `json:"-"`
	ran    bool
}

// Ran reports whether steps ran (Steps then holds their states).
func (r *Report) Ran() bool { return r != nil && r.ran }

func (r *Runner) clock() time.Time {
	if r.now != nil {
		return r.now()
	}
	return time.Now().UTC()
}

func (r *Runner) save(ctx context.Context, j *Journal) error {
	j.Updated = r.clock()
	// The journal must survive a cancelled context: save with a fresh one.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := r.Store.PutRestoreJournal(sctx, j.Name(), j); err != nil {
		return fmt.Errorf("save restore journal %s: %w", j.Name(), err)
	}
	if r.Mirror != nil {
		if err := r.Mirror(sctx, j); err != nil && r.Log != nil {
			r.Log.Warn("could not mirror the restore journal", "err", err)
		}
	}
	return nil
}

// Checkpoint saves the journal now (steps that record sub-steps call it).
func (r *Runner) Checkpoint(ctx context.Context, j *Journal) error { return r.save(ctx, j) }

// Run executes the plan's steps in order, skipping those the journal
// records as done (except Always steps). The first failing step stops the
// run; its error names the step, and `restore --resume` continues from it.
func (r *Runner) Run(ctx context.Context, p *Plan, j *Journal) (*Report, error) {
	resumed := false
	for _, s := range p.Steps {
		if st := j.state(s.Name); st.Status != Pending {
			resumed = true
		}
	}
	// Skipped steps are recorded before anything runs, so preflight leaves
	// out the checks of the components they would have restored.
	for _, s := range p.Steps {
		st := j.state(s.Name)
		if reason, ok := r.Skip[s.Name]; ok && st.Status != Done && st.Status != Skipped {
			now := r.clock()
			st.Status, st.Started, st.Ended, st.Error, st.Summary = Skipped, now, now, "", "skipped: "+reason
			if r.Log != nil {
				r.Log.Warn("restore step skipped", "step", s.Name, "reason", reason)
			}
		}
	}
	if j.Started.IsZero() {
		j.Started = r.clock()
	}
	if err := r.save(ctx, j); err != nil {
		return nil, err
	}
	rep := &Report{Snapshot: p.Snapshot, Resumed: resumed}
	for _, s := range p.Steps {
		st := j.state(s.Name)
		if (st.Status == Done && !s.Always) || st.Status == Skipped {
			continue
		}
		if err := ctx.Err(); err != nil {
			return r.finish(j, rep), err
		}
		st.Status, st.Started, st.Ended, st.Error = Running, r.clock(), time.Time{}, ""
		st.Attempts++
		if err := r.save(ctx, j); err != nil {
			return r.finish(j, rep), err
		}
		if r.BeforeStep != nil {
			r.BeforeStep(s.Name)
		}
		task := r.Tracker.Start(s.Name)
		res, err := s.Run(ctx, j, task)
		task.Done()
		st = j.state(s.Name)
		st.Ended = r.clock()
		var pause *PauseError
		if errors.As(err, &pause) {
			st.Status, st.Summary = Paused, redact.String(pause.Error())
			if serr := r.save(ctx, j); serr != nil {
				return r.finish(j, rep), serr
			}
			rep = r.finish(j, rep)
			rep.Paused = &pause.Pause
			return rep, err
		}
		if err != nil {
			st.Status, st.Error = Failed, redact.String(err.Error())
			if serr := r.save(ctx, j); serr != nil && r.Log != nil {
				r.Log.Error("could not save the restore journal", "err", serr)
			}
			return r.finish(j, rep), stepError(s.Name, err)
		}
		if s.Name == StepVerify {
			// The verification says what it could not vouch for.
			if sk := skippedSteps(j); len(sk) > 0 {
				res.Summary += "; not restored by this run (skipped): " + strings.Join(sk, ", ")
				if res.Detail == nil {
					res.Detail = map[string]any{}
				}
				res.Detail["skipped_steps"] = sk
			}
		}
		st.Status, st.Items, st.Summary, st.Detail, st.Mismatch = Done, res.Items, res.Summary, res.Detail, res.Mismatch
		if err := r.save(ctx, j); err != nil {
			return r.finish(j, rep), err
		}
		if r.AfterStep != nil {
			r.AfterStep(s.Name)
		}
	}
	j.Finished = true
	if err := r.save(ctx, j); err != nil {
		return r.finish(j, rep), err
	}
	return r.finish(j, rep), nil
}

// skippedSteps lists the steps of j left out with --skip-step.
func skippedSteps(j *Journal) []string {
	var out []string
	for _, s := range j.Steps {
		if s.Status == Skipped {
			out = append(out, s.Name)
		}
	}
	return out
}

func (r *Runner) finish(j *Journal, rep *Report) *Report {
	rep.Steps = append([]StepState(nil), j.Steps...)
	rep.Skipped = skippedSteps(j)
	for _, s := range j.Steps {
		if s.Mismatch {
			rep.Mismatch = true
		}
	}
	return rep
}

func stepError(step string, err error) error {
	code := errs.Code(err)
	hint := errs.Hint(err)
	if step != StepPreflight {
		extra := "fix the cause, then run the same restore again with --resume to continue from step " + step +
			" (or leave the step out with --resume --skip-step " + step + "; the verification then names it)"
		if hint == "" {
			hint = extra
		} else {
			hint += "; then " + extra
		}
	}
	return errs.Wrap(code, fmt.Errorf("restore step %s: %w", step, err), hint)
}

// SkipSteps checks names against the plan's steps and returns the Runner's
// Skip map. Preflight cannot be skipped: its checks guard every later step.
func SkipSteps(p *Plan, names []string) (map[string]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	var have []string
	for _, s := range p.Steps {
		if s.Name != StepPreflight {
			have = append(have, s.Name)
		}
	}
	out := map[string]string{}
	for _, n := range names {
		if n == StepPreflight {
			return nil, errs.UsageError("preflight's checks guard every later step; fix what it reports", "--skip-step preflight is not allowed")
		}
		if !slices.Contains(have, n) {
			return nil, errs.UsageError("choose from the plan's steps: "+strings.Join(have, ", "), "--skip-step %s: the plan has no such step", n)
		}
		out[n] = "left out with --skip-step"
	}
	return out, nil
}
