package zync

import (
	"context"
	"database/sql"
	"fmt"
	"io"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
)

// Request is one `zync resync`: the rake task (unless CheckOnly), then the
// route check against the system database.
type Request struct {
	Kube      *kube.Clients
	Namespace string
	SystemDB  *sql.DB
	DBName    string // the system database as shown in errors (redacted)
	CheckOnly bool   // compare hosts with routes, do not run the task
	Output    io.Writer
}

// Run runs the resync and the route check. It returns the pod the task
// ran in ("" with CheckOnly) and the report; findings are an error with
// the mismatch exit code (3), after the report is complete.
func Run(ctx context.Context, r Request) (*RouteReport, string, error) {
	pod := ""
	if !r.CheckOnly {
		out := r.Output
		if out == nil {
			out = io.Discard
		}
		var err error
		if pod, err = Resync(ctx, r.Kube, r.Namespace, out); err != nil {
			return nil, pod, err
		}
	}
	exp, err := ExpectedHosts(ctx, r.SystemDB)
	if err != nil {
		return nil, pod, fmt.Errorf("system database %s: %w", r.DBName, err)
	}
	rep, err := CheckRoutes(ctx, r.Kube, r.Namespace, exp)
	if err != nil {
		return rep, pod, err
	}
	return rep, pod, rep.Err(r.Namespace)
}

// Err is nil without findings, otherwise a mismatch (exit 3) that counts
// them.
func (r *RouteReport) Err(namespace string) error {
	if r == nil || len(r.Findings) == 0 {
		return nil
	}
	return errs.New(errs.Mismatch, "run the FIX of each finding", "%d route findings in namespace %s", len(r.Findings), namespace)
}
