package repo

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"

	"github.com/3scale-ops/3scale-ops/internal/errs"
)

// ErrReadOnly is wrapped when the repository refuses a write: a read-only
// filesystem or directory, or S3 credentials without write permission.
var ErrReadOnly = errors.New("the repository is read-only for this run")

// readOnly reports whether err is a refused write.
func readOnly(err error) bool {
	return errors.Is(err, syscall.EROFS) || errors.Is(err, fs.ErrPermission) || errors.Is(err, ErrReadOnly)
}

// UseStateDir keeps this run's locks and restore journals in the local
// directory dir (under a subdirectory named by the repository's id)
// instead of the repository, so that a read-only repository can be
// restored from. The repository's own locks are still checked (read).
func (r *Repository) UseStateDir(dir string) error {
	be, err := NewLocal(filepath.Join(dir, r.cfg.ID))
	if err != nil {
		return errs.Wrap(errs.Usage, fmt.Errorf("--state-dir %s: %w", dir, err), "give a writable local directory")
	}
	r.state = be
	return nil
}

// stateBE is where locks and restore journals are written.
func (r *Repository) stateBE() Backend {
	if r.state != nil {
		return r.state
	}
	return r.be
}

// StateLocation says where locks and journals are kept.
func (r *Repository) StateLocation() string { return r.stateBE().Location() }

// readOnlyError is the error of a refused write of a lock or journal.
func (r *Repository) readOnlyError(what, operation string, err error) error {
	hint := "restore from a read-only repository with --state-dir DIR (a local directory for the restore's lock and journal)"
	if operation != "restore" {
		hint = operation + " writes into the repository: give it credentials or a directory it may write"
	}
	return errs.Wrap(errs.Usage, fmt.Errorf("repository %s cannot be written (%s): %w: %w", r.Location(), what, ErrReadOnly, err), hint)
}
