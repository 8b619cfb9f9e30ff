// Package drill is the disaster-recovery drill as a library: back up the
// source (or take an existing snapshot), restore it into a scratch target
// with the restore runbook, which verifies it, and return a typed verdict.
// It calls runbook.Backup and restore.Run in-process with the two sides'
// resolved connections; it never rebuilds a command line, never parses
// the tool's output, and never prints (the CLI renders the Report as
// text, JSON or JUnit).
package drill

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/component"
	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/redact"
	"github.com/3scale-ops/3scale-ops/internal/repo"
	"github.com/3scale-ops/3scale-ops/internal/restore"
	"github.com/3scale-ops/3scale-ops/internal/runbook"
)

// Step names of the drill.
const (
	StepBackup  = "backup"
	StepRestore = "restore+verify"
)

// Side is one end of the drill: its resolved connections.
type Side struct {
	Conns *config.Connections
	Kube  *kube.Clients // nil: no Kubernetes
	// Override is re-applied when the restore finds the target through
	// the snapshot's secrets (a target namespace that lost its own).
	Override config.Overrides
	// Components limits what the side can take (scratch servers: those
	// a URL was given for); nil: no limit.
	Components []string
	// Rewrite is the restore's RewriteConnections: a scratch namespace
	// whose servers the --target-* flags replace gets its restored secrets
	// pointed at those.
	Rewrite string
	Desc    string
}

// Request is one drill.
type Request struct {
	// Snapshot restore-tests this snapshot (id or latest); empty: a new
	// backup of Source is taken first.
	Snapshot   string
	Components []string // drill only these (empty: all)
	// RequireAll fails the drill when a component of the snapshot is
	// neither restored nor verified.
	RequireAll bool

	Repo   *repo.Repository
	Source Side
	Target Side

	Log    *slog.Logger
	Warn   func(msg string) // warnings for the user (nil: logged)
	Output io.Writer        // the zync resync task's output (nil: discarded)
	Now    func() time.Time // the clock for step durations (nil: time.Now)
}

// Step is one phase of a drill.
type Step struct {
	Name     string  `json:"name"`
	Passed   bool    `json:"passed"`
	Seconds  float64 `json:"seconds"`
	Detail   string  `json:"detail,omitempty"`
	ExitCode int     `json:"exit_code"`
}

// Skip is a component of the snapshot the drill left out.
type Skip struct {
	Component string `json:"component"`
	Reason    string `json:"reason"`
}

// Report is the drill's verdict.
type Report struct {
	Snapshot string              `json:"snapshot"`
	Source   string              `json:"source"`
	Target   string              `json:"target"`
	Passed   bool                `json:"passed"`
	Seconds  float64             `json:"seconds"`
	Steps    []Step              `json:"steps"`
	Restore  []restore.StepState `json:"restore_steps,omitempty"`
	// Restored are the components the restore took.
	Restored []string `json:"restored_components,omitempty"`
	// Skipped are the components the snapshot holds that this drill did
	// not restore (and so did not verify), each with the reason.
	Skipped []Skip `json:"skipped_components,omitempty"`
}

// Last is the last step that ran (the failed one when the drill failed).
func (r *Report) Last() Step {
	if len(r.Steps) == 0 {
		return Step{}
	}
	return r.Steps[len(r.Steps)-1]
}

// Run runs the drill. A request that cannot be drilled (no target, a
// target that is the source) is refused before anything runs, with no
// report. Otherwise the report is returned, and an error carrying the
// failed step's exit code when the drill did not pass.
func Run(ctx context.Context, req Request) (*Report, error) {
	if req.Log == nil {
		req.Log = slog.Default()
	}
	if req.Warn == nil {
		req.Warn = func(msg string) { req.Log.Warn(msg) }
	}
	now := req.Now
	if now == nil {
		now = time.Now
	}
	if req.Repo == nil || req.Target.Conns == nil {
		return nil, fmt.Errorf("drill: a repository and the target's connections are required")
	}
	restoreComps := Components(req.Components, req.Target.Components)
	if err := NotTheSource(req.Source.Conns, req.Target.Conns, restoreComps); err != nil {
		return nil, err
	}
	start := now()
	rep := &Report{Snapshot: req.Snapshot, Source: req.Source.Desc, Target: req.Target.Desc}
	finish := func() (*Report, error) {
		rep.Seconds = now().Sub(start).Seconds()
		rep.Passed = len(rep.Steps) > 0
		for _, s := range rep.Steps {
			rep.Passed = rep.Passed && s.Passed
		}
		if rep.Passed {
			return rep, nil
		}
		last := rep.Last()
		code := last.ExitCode
		if code == 0 {
			code = errs.Failure
		}
		return rep, errs.New(code, "see the failed step above", "drill failed at step %s", last.Name)
	}
	step := func(name string, t0 time.Time, err error) Step {
		s := Step{Name: name, Passed: err == nil, Seconds: now().Sub(t0).Seconds()}
		if err != nil {
			s.ExitCode, s.Detail = errs.Code(err), redact.String(err.Error())
		}
		req.Log.Info("drill step finished", "step", name, "passed", s.Passed, "seconds", fmt.Sprintf("%.1f", s.Seconds))
		return s
	}

	if req.Snapshot == "" {
		if req.Source.Conns == nil {
			return nil, fmt.Errorf("drill: the source's connections are required to take a backup")
		}
		var backupComps []string
		if len(req.Components) > 0 {
			backupComps = append(slices.Clone(req.Components), component.Verify)
		}
		t0 := now()
		m, err := runbook.Backup(ctx, runbook.BackupRequest{Conns: req.Source.Conns, Kube: req.Source.Kube, Components: backupComps,
			Repo: func(context.Context) (*repo.Repository, error) { return req.Repo, nil }, Warn: req.Warn, Log: req.Log})
		rep.Steps = append(rep.Steps, step(StepBackup, t0, err))
		if err != nil {
			return finish()
		}
		rep.Snapshot = m.ID
	}

	t0 := now()
	rr, err := restore.Run(ctx, restore.Request{Snapshot: rep.Snapshot, Repo: req.Repo, Conns: req.Target.Conns, Kube: req.Target.Kube,
		Override: req.Target.Override, Components: restoreComps, DropExisting: true, RewriteConnections: req.Target.Rewrite, Log: req.Log, Warn: req.Warn, Output: req.Output})
	st := step(StepRestore, t0, err)
	if rr != nil && rr.Snapshot != "" {
		rep.Snapshot = rr.Snapshot
	}
	if rr != nil && rr.Plan != nil {
		for _, name := range rr.Plan.Components {
			if info, ok := component.Lookup(name); ok && info.Class != component.Meta {
				rep.Restored = append(rep.Restored, name)
			}
		}
		rep.Skipped = skipped(ctx, req.Repo, rep.Snapshot, rr.Plan.Components, req.Components)
		if req.RequireAll && len(rep.Skipped) > 0 && st.Passed {
			st.Passed, st.ExitCode = false, errs.Mismatch
			st.Detail = fmt.Sprintf("--require-all: %d component(s) of the snapshot not restored (see skipped)", len(rep.Skipped))
		}
	}
	if rr.Ran() {
		rep.Restore = rr.Steps
		if st.Detail == "" {
			for _, s := range rr.Steps {
				if s.Name == restore.StepVerify {
					st.Detail = s.Summary
				}
			}
		}
	}
	rep.Steps = append(rep.Steps, st)
	return finish()
}

// Components is what the restore takes: the chosen components (all when
// none were chosen), limited to those the target can take (no limit when
// target is nil).
func Components(chosen, target []string) []string {
	if len(target) == 0 {
		return chosen
	}
	if len(chosen) == 0 {
		return target
	}
	var out []string
	for _, c := range chosen {
		if slices.Contains(target, c) {
			out = append(out, c)
		}
	}
	return out
}

// NotTheSource refuses a target whose connection for a restored component
// (all, when comps is empty) is the source's own. Only servers given by
// address are compared (scratch servers, or --target-* flags for a
// namespace): a service name in a namespace is another server than the
// same name in the source's.
func NotTheSource(src, dst *config.Connections, comps []string) error {
	if src == nil || dst == nil {
		return nil
	}
	if len(comps) == 0 {
		comps = config.Components
	}
	if slices.Contains(comps, config.BackendRedis) {
		comps = append(slices.Clone(comps), config.BackendRedisQueues) // restored with it
	}
	for _, name := range comps {
		if src.Errs[name] != nil || dst.Errs[name] != nil {
			continue
		}
		s, _, ok1 := src.Target(name)
		d, how, ok2 := dst.Target(name)
		if dst.Namespace != "" && !strings.HasPrefix(how, "flag ") {
			continue
		}
		if ok1 && ok2 && s != "" && s == d {
			return errs.UsageError("point the drill's --target-* flags at scratch servers",
				"the drill target for %s is the source's own %s: a drill must not restore into its source", name, s)
		}
	}
	return nil
}

// skipped lists the restorable components of the snapshot the restore
// did not take, with the reason.
func skipped(ctx context.Context, r *repo.Repository, snapshot string, restored, chosen []string) []Skip {
	id, err := r.ResolveID(ctx, snapshot)
	if err != nil {
		return nil
	}
	m, err := r.LoadManifest(ctx, id)
	if err != nil {
		return nil
	}
	var out []Skip
	for _, name := range m.ComponentNames() {
		if info, ok := component.Lookup(name); !ok || info.Class == component.Meta || slices.Contains(restored, name) {
			continue
		}
		reason := "no --target-* flag points at a scratch target for it"
		if len(chosen) > 0 && !slices.Contains(chosen, name) {
			reason = "left out with --components"
		}
		out = append(out, Skip{Component: name, Reason: reason})
	}
	return out
}
