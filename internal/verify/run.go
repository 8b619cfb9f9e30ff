package verify

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/redis/go-redis/v9"
)

// Inputs are what a verification needs; Probes nil skips the replay,
// SkipConsistency skips the checks.
type Inputs struct {
	SystemDB        *sql.DB
	BackendRedis    *redis.Client
	ZyncDB          *sql.DB         // zync's PostgreSQL; nil skips the zync ↔ System checks
	Probes          artifact.Source // the snapshot's verify component
	SkipConsistency bool
}

// Report is the verdict of one verification.
type Report struct {
	Probes     int        `json:"probes"`
	Gateway    int        `json:"gateway_requests"` // probes sent as API traffic through the embedded gateway
	Mismatches []Mismatch `json:"mismatches"`
	Checks     []Check    `json:"checks"`
	Passed     bool       `json:"passed"`
}

// Failures counts mismatches and failed checks.
func (r *Report) Failures() int {
	n := len(r.Mismatches)
	for _, c := range r.Checks {
		if !c.Passed {
			n++
		}
	}
	return n
}

// Summary is one line for a report table.
func (r *Report) Summary() string {
	failed := 0
	for _, c := range r.Checks {
		if !c.Passed {
			failed++
		}
	}
	return fmt.Sprintf("%d probes (%d through the gateway), %d mismatches; %d checks, %d failed", r.Probes, r.Gateway, len(r.Mismatches), len(r.Checks), failed)
}

// Run replays the probes and runs the consistency checks.
func Run(ctx context.Context, in Inputs, task *progress.Task) (*Report, error) {
	rep := &Report{Mismatches: []Mismatch{}, Checks: []Check{}}
	if in.Probes != nil {
		task.SetPhase("probes")
		probes, err := Load(ctx, in.Probes)
		if err != nil {
			return nil, fmt.Errorf("load probes: %w", err)
		}
		rep.Probes = len(probes)
		if rep.Mismatches, err = Replay(ctx, in.BackendRedis, probes, task); err != nil {
			return nil, err
		}
		if in.SystemDB != nil {
			task.SetPhase("gateway")
			gm, sent, err := ReplayGateway(ctx, in.SystemDB, in.BackendRedis, probes, task)
			if err != nil {
				return nil, err
			}
			rep.Gateway = sent
			rep.Mismatches = append(rep.Mismatches, gm...)
		}
		if rep.Mismatches == nil {
			rep.Mismatches = []Mismatch{}
		}
	}
	if !in.SkipConsistency {
		task.SetPhase("consistency")
		checks, err := Consistency(ctx, in.SystemDB, in.BackendRedis, task)
		if err != nil {
			return nil, err
		}
		rep.Checks = checks
		if in.ZyncDB != nil {
			zc, err := ZyncConsistency(ctx, in.SystemDB, in.ZyncDB, task)
			if err != nil {
				return nil, err
			}
			rep.Checks = append(rep.Checks, zc...)
		}
	}
	rep.Passed = rep.Failures() == 0
	return rep, nil
}
