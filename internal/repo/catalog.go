package repo

import (
	"context"
	"errors"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/errs"
)

// SnapshotStatus is a committed snapshot as this reader sees it: either
// its manifest (readable), or why it cannot be read.
type SnapshotStatus struct {
	SnapshotRef
	Manifest *Manifest
	// Damage says why the manifest cannot be used (corrupt, truncated,
	// undecryptable, not authenticated, newer format); "" when readable.
	Damage string
	// NoKey is set for an encrypted repository opened without its key:
	// the manifest was not read at all.
	NoKey bool
}

// Readable reports whether the snapshot's manifest was read and verified.
func (s SnapshotStatus) Readable() bool { return s.Manifest != nil }

// Catalog reads every committed snapshot's manifest, oldest first. A
// manifest that is damaged does not fail the catalog: it is reported in
// its SnapshotStatus. Only failures to look at all (the storage cannot be
// listed or read, cancellation) are errors. Incomplete snapshot
// directories are returned separately.
func (r *Repository) Catalog(ctx context.Context) (snaps []SnapshotStatus, incomplete []SnapshotRef, err error) {
	refs, err := r.Snapshots(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, ref := range refs {
		if !ref.Complete {
			incomplete = append(incomplete, ref)
			continue
		}
		st, err := r.status(ctx, ref)
		if err != nil {
			return nil, nil, err
		}
		snaps = append(snaps, st)
	}
	return snaps, incomplete, nil
}

func (r *Repository) status(ctx context.Context, ref SnapshotRef) (SnapshotStatus, error) {
	st := SnapshotStatus{SnapshotRef: ref}
	if r.Encrypted() && len(r.ids) == 0 {
		st.NoKey = true
		return st, nil
	}
	m, err := r.LoadManifest(ctx, ref.ID)
	if err == nil {
		st.Manifest = m
		return st, nil
	}
	if reason, ok := damage(ctx, err); ok {
		st.Damage = reason
		return st, nil
	}
	return st, err
}

// damage tells whether a LoadManifest error is about the snapshot itself
// (and so makes only that snapshot unreadable), and the reason to show.
func damage(ctx context.Context, err error) (string, bool) {
	if ctx.Err() != nil {
		return "", false
	}
	if errors.Is(err, artifactCorrupt) || errors.Is(err, artifactNotFound) || errs.Code(err) == errs.Usage {
		return strings.TrimSuffix(err.Error(), ": "+artifactCorrupt.Error()), true
	}
	return "", false
}

// latestReadable returns the newest snapshot whose manifest reads and
// verifies; damaged newer ones are logged and passed over. Without the
// key of an encrypted repository it is the newest committed snapshot.
func (r *Repository) latestReadable(ctx context.Context, refs []SnapshotRef) (string, error) {
	for i := len(refs) - 1; i >= 0; i-- {
		if !refs[i].Complete {
			continue
		}
		st, err := r.status(ctx, refs[i])
		if err != nil {
			return "", err
		}
		if st.Readable() || st.NoKey {
			return st.ID, nil
		}
		r.log.Warn("latest: passing over a snapshot that cannot be read", "snapshot", st.ID, "reason", st.Damage)
	}
	return "", errs.New(errs.Usage, "run `3scale-ops backups list` to see the snapshots and why they cannot be read",
		"no readable snapshot in %s: %w", r.Location(), artifactNotFound)
}
