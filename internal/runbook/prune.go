package runbook

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/purge"
	"github.com/3scale-ops/3scale-ops/internal/repo"
)

// PruneRequest is one prune of the repository.
type PruneRequest struct {
	Policy        repo.Policy
	DryRun        bool
	ForgetDamaged bool
	UnlockStale   bool
}

// CheckPolicy refuses a policy that would keep everything, or a negative count.
func CheckPolicy(p repo.Policy) error {
	if p.Empty() {
		return errs.UsageError("give at least one of --keep-last, --keep-hourly, --keep-daily, --keep-weekly, --keep-monthly",
			"no retention policy: prune would keep everything")
	}
	if p.Last < 0 || p.Hourly < 0 || p.Daily < 0 || p.Weekly < 0 || p.Monthly < 0 {
		return errs.UsageError("use counts of 0 or more", "negative retention count")
	}
	return nil
}

// Prune removes snapshots by the policy under the repository's prune lock
// (no lock for a dry run). The result is returned also with an error that
// came after the decisions were made.
func Prune(ctx context.Context, r *repo.Repository, req PruneRequest) (*repo.PruneResult, error) {
	if err := CheckPolicy(req.Policy); err != nil {
		return nil, err
	}
	if !req.DryRun {
		lock, err := r.Lock(ctx, "prune", req.UnlockStale)
		if err != nil {
			return nil, err
		}
		defer lock.Release(context.WithoutCancel(ctx))
	}
	return r.Prune(ctx, req.Policy, repo.PruneOptions{DryRun: req.DryRun, ForgetDamaged: req.ForgetDamaged})
}

// ParsePruneArgs reads a prune given as `backups prune` options
// ("--keep-daily 7 --keep-weekly 4"), the form the schedule's prune-args
// setting takes.
func ParsePruneArgs(args string) (PruneRequest, error) {
	var req PruneRequest
	fs := flag.NewFlagSet("prune-args", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.IntVar(&req.Policy.Last, "keep-last", 0, "")
	fs.IntVar(&req.Policy.Hourly, "keep-hourly", 0, "")
	fs.IntVar(&req.Policy.Daily, "keep-daily", 0, "")
	fs.IntVar(&req.Policy.Weekly, "keep-weekly", 0, "")
	fs.IntVar(&req.Policy.Monthly, "keep-monthly", 0, "")
	fs.BoolVar(&req.DryRun, "dry-run", false, "")
	fs.BoolVar(&req.ForgetDamaged, "forget-damaged", false, "")
	fs.BoolVar(&req.UnlockStale, "unlock-stale", false, "")
	hint := "write prune-args as `backups prune` options: --keep-last/--keep-hourly/--keep-daily/--keep-weekly/--keep-monthly N, --forget-damaged, --unlock-stale"
	if err := fs.Parse(strings.Fields(args)); err != nil {
		return req, errs.UsageError(hint, "prune-args %q: %v", args, err)
	}
	if fs.NArg() > 0 {
		return req, errs.UsageError(hint, "prune-args %q: unexpected %q", args, fs.Arg(0))
	}
	if err := CheckPolicy(req.Policy); err != nil {
		return req, errs.Wrap(errs.Usage, fmt.Errorf("prune-args %q: %w", args, err), hint)
	}
	return req, nil
}

// CheckBatch refuses a purge batch size out of range.
func CheckBatch(batch int) error {
	if batch < 1 || batch > purge.MaxBatch {
		return errs.UsageError(fmt.Sprintf("use a --batch-size between 1 and %d", purge.MaxBatch), "batch size %d out of range", batch)
	}
	return nil
}

// OpenPurger connects to the resolved system database for purging.
func OpenPurger(conns *config.Connections, age purge.Age, batch int, log *slog.Logger) (*purge.Purger, error) {
	if err := CheckBatch(batch); err != nil {
		return nil, err
	}
	if err := conns.Require(config.SystemDB); err != nil {
		return nil, err
	}
	db := conns.SystemDB
	var dsn string
	var err error
	switch db.Kind {
	case "mysql":
		dsn, err = db.MySQLDSN()
	case "postgresql":
		dsn, err = db.PostgresDSN()
	}
	if err != nil {
		return nil, err
	}
	p, err := purge.Open(db.Kind, dsn, age)
	if err != nil {
		return nil, err
	}
	p.BatchSize, p.Log = batch, log
	return p, nil
}
