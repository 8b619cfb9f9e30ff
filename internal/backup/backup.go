// Package backup takes one snapshot of a 3scale installation: it runs the
// component engines concurrently, each writing into its own sink of a new
// repository snapshot, and commits the snapshot only when every component
// succeeded. On any failure or cancellation nothing is committed and the
// partial files are removed.
//
// It never prints (the CLI shows progress from the Tracker) and never
// knows how a component reads its source: engines plug in through the
// Component interface and the Registry.
package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/repo"
)

// Component is one part of the installation that can be backed up.
type Component interface {
	Name() string
	// Backup writes the component's files (and metadata with Sink.Set)
	// into sink, reporting progress to task (which may be nil).
	Backup(ctx context.Context, sink artifact.Sink, task *progress.Task) error
}

// Options tune Run.
type Options struct {
	Workers           int // components backed up at the same time (default 4)
	Tags              map[string]string
	Namespace         string
	ThreescaleVersion string
	UnlockStale       bool              // remove stale repository locks (each is logged)
	Tracker           *progress.Tracker // one task per component (nil: no progress)
	Logger            *slog.Logger
}

// SecretComponents hold credentials: backing them up into an unencrypted
// repository draws a warning.
var SecretComponents = map[string]bool{"secrets": true, "verify": true} // verify: probes carry application keys and service tokens

// Run takes the repository lock, backs up the components into a new
// snapshot and commits it. Any component failing, or ctx being cancelled,
// aborts the snapshot: every file written is removed, nothing becomes
// visible, and the error names the component and its cause.
func Run(ctx context.Context, r *repo.Repository, comps []Component, opts Options) (*repo.Manifest, error) {
	if err := r.CanWrite(); err != nil {
		return nil, err
	}
	if len(comps) == 0 {
		return nil, errs.UsageError("name components with --components", "nothing to back up")
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	seen := map[string]bool{}
	for _, c := range comps {
		if seen[c.Name()] {
			return nil, errs.UsageError("name each component once", "component %s given twice", c.Name())
		}
		seen[c.Name()] = true
		if SecretComponents[c.Name()] && !r.Encrypted() {
			log.Warn("secrets are being backed up into an unencrypted repository: anyone who can read " + r.Location() +
				" can read them; create an encrypted repository with `3scale-ops init --password-file FILE` or --recipient")
		}
	}
	lock, err := r.Lock(ctx, "backup", opts.UnlockStale)
	if err != nil {
		return nil, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := lock.Release(cctx); err != nil {
			log.Warn("could not release the repository lock", "err", err)
		}
	}()

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	snap := r.NewSnapshot(runCtx)
	log.Info("backup started", "snapshot", snap.ID(), "components", names(comps), "repository", r.Location())

	workers := opts.Workers
	if workers <= 0 {
		workers = 4
	}
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []error
	tasks := make([]*progress.Task, len(comps))
	for i, c := range comps {
		tasks[i] = opts.Tracker.Start(c.Name())
		tasks[i].SetPhase("waiting")
	}
	for i, c := range comps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-runCtx.Done():
				return
			}
			task := tasks[i]
			task.SetPhase("running")
			err := backupOne(runCtx, snap, c, task)
			task.Done()
			if err != nil {
				task.SetPhase("failed")
				mu.Lock()
				failures = append(failures, err)
				mu.Unlock()
				cancel(err)
				return
			}
			task.SetPhase("done")
		}()
	}
	wg.Wait()

	fail := firstFailure(ctx, failures)
	if fail == nil {
		m, err := snap.Commit(runCtx, repo.SnapshotInfo{Namespace: opts.Namespace, ThreescaleVersion: opts.ThreescaleVersion, Tags: opts.Tags})
		if err == nil {
			log.Info("backup committed", "snapshot", m.ID, "bytes", m.Size())
			return m, nil
		}
		fail = err
	}
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer ccancel()
	if aerr := snap.Abort(cctx); aerr != nil {
		log.Warn("could not remove the partial snapshot", "snapshot", snap.ID(), "err", aerr)
		return nil, withNote(fail, fmt.Sprintf("snapshot %s was not committed; its partial files could not all be removed (`3scale-ops backups prune` removes them)", snap.ID()))
	}
	return nil, withNote(fail, fmt.Sprintf("snapshot %s was not committed and its partial files were removed", snap.ID()))
}

func backupOne(ctx context.Context, snap *repo.SnapshotWriter, c Component, task *progress.Task) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("component %s: internal error: %v", c.Name(), p)
		}
	}()
	sink, err := snap.Component(c.Name())
	if err != nil {
		return err
	}
	if err := c.Backup(ctx, sink, task); err != nil {
		if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			return errCancelled{c.Name(), err}
		}
		return wrapComponent(c.Name(), err)
	}
	if err := sink.Finish(); err != nil {
		return wrapComponent(c.Name(), err)
	}
	return nil
}

// errCancelled is a component stopped because another failed or the user
// interrupted: never the cause worth reporting first.
type errCancelled struct {
	name string
	err  error
}

func (e errCancelled) Error() string { return "component " + e.name + ": cancelled" }
func (e errCancelled) Unwrap() error { return e.err }

func wrapComponent(name string, err error) error {
	if strings.Contains(err.Error(), name) {
		return errs.Wrap(errs.Code(err), fmt.Errorf("backup of %s failed: %w", name, err), errs.Hint(err))
	}
	return errs.Wrap(errs.Code(err), fmt.Errorf("backup of %s failed: component %s: %w", name, name, err), errs.Hint(err))
}

func firstFailure(ctx context.Context, failures []error) error {
	for _, f := range failures {
		var c errCancelled
		if !errors.As(f, &c) {
			return f
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("backup interrupted: %w", ctx.Err())
	}
	if len(failures) > 0 {
		return failures[0]
	}
	return nil
}

type noted struct {
	err  error
	note string
}

func (n noted) Error() string { return n.err.Error() + "; " + n.note }
func (n noted) Unwrap() error { return n.err }

func withNote(err error, note string) error {
	return errs.Wrap(errs.Code(err), noted{err, note}, errs.Hint(err))
}

func names(comps []Component) []string {
	out := make([]string, len(comps))
	for i, c := range comps {
		out[i] = c.Name()
	}
	sort.Strings(out)
	return out
}
