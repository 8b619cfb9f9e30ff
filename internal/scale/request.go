package scale

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
)

// Request is one `scale` run: exactly one of Targets, DownAll or Resume.
type Request struct {
	Targets map[string]int32 // COMPONENT=N (ParseTargets)
	DownAll bool             // record replicas and scale every quiesced component to 0
	Resume  bool             // back to the replicas DownAll recorded
	Wait    bool             // wait until the changed components are ready
	Timeout time.Duration    // of the wait (0: Wait's default)
}

// Result is what a Request changed.
type Result struct {
	// Action says what was done: "scaled", "scaled to 0 (recorded
	// replicas)" or "resumed"; its first word is the action's name.
	Action   string
	Replicas map[string]int32 // component → replicas set
	Waited   bool
}

// Components are the changed components, sorted.
func (r Result) Components() []string { return slices.Sorted(maps.Keys(r.Replicas)) }

// ParseTargets parses COMPONENT=N arguments (N ≥ 0).
func ParseTargets(args []string) (map[string]int32, error) {
	out := map[string]int32{}
	for _, a := range args {
		name, n, ok := strings.Cut(a, "=")
		v, err := strconv.ParseInt(n, 10, 32)
		if !ok || err != nil || v < 0 {
			return nil, errs.UsageError("write COMPONENT=N, e.g. apicast-production=3", "invalid argument %q", a)
		}
		out[name] = int32(v)
	}
	return out, nil
}

// Check refuses a request that is not exactly one of COMPONENT=N,
// --down-all and --resume; it touches nothing.
func (r Request) Check() error {
	modes := 0
	for _, on := range []bool{r.DownAll, r.Resume, len(r.Targets) > 0} {
		if on {
			modes++
		}
	}
	if modes != 1 {
		return errs.UsageError("give COMPONENT=N …, --down-all or --resume (or `scale status`)", "scale needs exactly one of COMPONENT=N, --down-all, --resume")
	}
	return nil
}

// Run does the request and, with Wait, waits for the changed components
// (task, may be nil, follows the ready replicas).
func (s *Scaler) Run(ctx context.Context, r Request, task *progress.Task) (Result, error) {
	if err := r.Check(); err != nil {
		return Result{}, err
	}
	var res Result
	var err error
	switch {
	case r.DownAll:
		res.Action = "scaled to 0 (recorded replicas)"
		res.Replicas, err = s.DownAll(ctx)
	case r.Resume:
		res.Action = "resumed"
		res.Replicas, err = s.Resume(ctx)
	default:
		res.Action = "scaled"
		res.Replicas, err = r.Targets, s.Scale(ctx, r.Targets)
	}
	if err != nil {
		return res, err
	}
	if names := res.Components(); r.Wait && len(names) > 0 {
		if err := s.Wait(ctx, names, r.Timeout, task); err != nil {
			return res, err
		}
	}
	res.Waited = r.Wait
	return res, nil
}
