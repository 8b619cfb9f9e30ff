// Package restore is the chapter-7 runbook of "Operating 3scale",
// automated: it turns a snapshot into an ordered plan of idempotent steps
// (preflight, quiesce, secrets and configmaps, system-mysql,
// system-storage, zync-postgres, the Redis servers, scale back and roll
// out, zync resync, verification), shows it, runs it, and records every
// step in a journal so that an interrupted restore resumes where it
// stopped.
//
// It never performs a destructive step before preflight has passed, and it
// never talks to a terminal: progress goes through package progress, the
// plan and report are data for the CLI to print.
package restore

import (
	"context"
	"fmt"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/component"
	"github.com/3scale-ops/3scale-ops/internal/progress"
)

// Step names, in the order of the runbook.
const (
	StepPreflight    = "preflight"
	StepQuiesce      = "quiesce"
	StepSecrets      = component.Secrets
	StepConfigMaps   = component.ConfigMaps
	StepAPIManager   = component.APIManager
	StepConnections  = "connections"
	StepAwait        = "await-operator"
	StepSystemMySQL  = component.SystemMySQL
	StepStorage      = component.SystemStorage
	StepZyncPostgres = component.ZyncPostgres
	StepBackendRedis = component.BackendRedis
	StepSystemRedis  = component.SystemRedis
	StepScaleBack    = "scale-back"
	StepRollout      = "rollout"
	StepZyncResync   = "zync-resync"
	StepBackendSync  = "backend-sync"
	StepReindex      = "searchd-reindex"
	StepVerify       = "verify"
)

// Order is the runbook order of every step this package knows.
var Order = []string{StepPreflight, StepQuiesce, StepSecrets, StepConfigMaps, StepAPIManager, StepAwait, StepDeployTemplate, StepConnections,
	StepSystemMySQL, StepStorage, StepZyncPostgres, StepBackendRedis, StepSystemRedis,
	StepScaleBack, StepRollout, StepZyncResync, StepBackendSync, StepReindex, StepVerify}

// Result is what a step reports when it ends.
type Result struct {
	Items   int64          // rows, keys, files or objects restored
	Summary string         // one line for the report
	Detail  map[string]any // machine-readable detail (JSON report)
	// Mismatch marks a step that completed but found differences (the
	// verification step); the restore then exits 3.
	Mismatch bool
}

// Step is one idempotent step of the plan. Running it again after a crash
// must reach the same end state.
type Step struct {
	Name        string
	Target      string // what it touches (redacted)
	Action      string // what it does, for the plan
	Destructive bool   // replaces or removes data
	// Always steps run again on resume even when the journal says done
	// (preflight: checks must hold for the rest of the run).
	Always bool
	Run    func(ctx context.Context, j *Journal, task *progress.Task) (Result, error)
}

// Plan is the ordered list of steps for one snapshot.
type Plan struct {
	Snapshot    string   `json:"snapshot"`
	Namespace   string   `json:"namespace,omitempty"`
	InstallKind string   `json:"install_kind"` // operator, template, deployments, local
	Components  []string `json:"components"`
	Warnings    []string `json:"warnings,omitempty"`
	// Connections are the secret keys the restore sets to name its
	// targets, and those it leaves naming other servers (warned).
	Connections *ConnPlan `json:"connections,omitempty"`
	// VerifySkipped says why the plan has no verification step ("needs
	// backend-redis (--backend-redis-url is not set)"); empty otherwise.
	VerifySkipped string  `json:"verify_skipped,omitempty"`
	Steps         []*Step `json:"-"`
}

// PlanStep is the printable form of a step.
type PlanStep struct {
	N           int    `json:"n"`
	Name        string `json:"name"`
	Target      string `json:"target"`
	Action      string `json:"action"`
	Destructive bool   `json:"destructive"`
}

// Describe returns the steps in printable form.
func (p *Plan) Describe() []PlanStep {
	out := make([]PlanStep, len(p.Steps))
	for i, s := range p.Steps {
		out[i] = PlanStep{N: i + 1, Name: s.Name, Target: s.Target, Action: s.Action, Destructive: s.Destructive}
	}
	return out
}

// Text renders the plan for a terminal.
func (p *Plan) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Restore plan for snapshot %s", p.Snapshot)
	if p.Namespace != "" {
		fmt.Fprintf(&b, " into namespace %s", p.Namespace)
	}
	fmt.Fprintf(&b, " (%s installation)\n", p.InstallKind)
	for _, s := range p.Describe() {
		mark := "  "
		if s.Destructive {
			mark = "! "
		}
		fmt.Fprintf(&b, "%s%2d. %-15s %s\n", mark, s.N, s.Name, s.Action)
		if s.Target != "" {
			fmt.Fprintf(&b, "       %-15s target: %s\n", "", s.Target)
		}
	}
	if p.VerifySkipped != "" {
		fmt.Fprintf(&b, "    verify: skipped, %s\n", p.VerifySkipped)
	}
	b.WriteString("Steps marked ! replace data on the target.\n")
	for _, w := range p.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	return b.String()
}

// Destructive reports whether any step replaces data.
func (p *Plan) Destructive() bool {
	for _, s := range p.Steps {
		if s.Destructive {
			return true
		}
	}
	return false
}
