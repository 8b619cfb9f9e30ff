package repo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/errs"
)

// PruneOptions change how Prune treats what it finds.
type PruneOptions struct {
	DryRun bool
	// ForgetDamaged removes snapshots whose manifest cannot be read or
	// verified; without it, one such snapshot makes Prune remove nothing.
	ForgetDamaged bool
}

// DamagedSnapshot is a committed snapshot whose manifest cannot be used.
type DamagedSnapshot struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// ProtectedSnapshot is a snapshot kept by object lock retention.
type ProtectedSnapshot struct {
	ID    string    `json:"id"`
	Until time.Time `json:"until"`
}

// PruneResult reports what Prune kept and removed.
type PruneResult struct {
	DryRun     bool              `json:"dry_run"`
	Decisions  []Decision        `json:"decisions"`
	Damaged    []DamagedSnapshot `json:"damaged"`
	Incomplete []SnapshotRef     `json:"incomplete"` // snapshot directories without a manifest
	Removed    []string          `json:"removed"`
	// Protected are snapshots prune would remove that object lock
	// retention still protects; they are left alone.
	Protected []ProtectedSnapshot `json:"protected"`
	// Blocked says why nothing was removed; "" when prune went ahead.
	Blocked string `json:"blocked,omitempty"`
}

// Prune applies the policy to the readable snapshots (only they count as
// kept), removes those it does not keep, and removes snapshot directories
// that have no manifest (backups that never completed). While any
// committed snapshot is damaged it removes nothing and returns an
// errs.Mismatch error saying why, unless ForgetDamaged is set, which
// removes the damaged ones too. The caller must hold the exclusive lock
// unless DryRun is set.
func (r *Repository) Prune(ctx context.Context, p Policy, o PruneOptions) (*PruneResult, error) {
	if r.Encrypted() && len(r.ids) == 0 {
		return nil, errs.New(errs.Usage,
			"give the repository's passphrase (--password-file or THREESCALE_OPS_PASSWORD) or an age identity (--identity-file)",
			"repository %s is encrypted: prune needs its key to tell readable snapshots from damaged or forged ones", r.Location())
	}
	snaps, incomplete, err := r.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	res := &PruneResult{DryRun: o.DryRun, Removed: []string{}, Protected: []ProtectedSnapshot{}, Incomplete: []SnapshotRef{}, Damaged: []DamagedSnapshot{}}
	res.Incomplete = append(res.Incomplete, incomplete...)
	var readable []SnapshotRef
	for _, s := range snaps {
		if s.Readable() {
			readable = append(readable, s.SnapshotRef)
		} else {
			res.Damaged = append(res.Damaged, DamagedSnapshot{ID: s.ID, Reason: s.Damage})
		}
	}
	res.Decisions = ApplyPolicy(readable, p)
	if len(res.Damaged) > 0 && !o.ForgetDamaged {
		ids := make([]string, len(res.Damaged))
		for i, d := range res.Damaged {
			ids[i] = d.ID
		}
		res.Blocked = fmt.Sprintf("%d snapshot(s) cannot be read (%s): nothing is removed while a snapshot prune decides on is damaged",
			len(ids), strings.Join(ids, ", "))
		return res, errs.New(errs.Mismatch,
			"check the repository's storage and `3scale-ops backups verify`; to remove the damaged snapshots and prune the rest, run prune with --forget-damaged",
			"prune: %s", res.Blocked)
	}
	// A dry run decides exactly as prune does, retention included, and
	// removes nothing.
	if !o.DryRun {
		for _, d := range res.Damaged {
			if err := r.DeleteSnapshot(ctx, d.ID); err != nil {
				return res, fmt.Errorf("prune: remove damaged snapshot %s: %w", d.ID, err)
			}
			res.Removed = append(res.Removed, d.ID)
		}
	}
	for _, d := range res.Decisions {
		if d.Keep {
			continue
		}
		// A delete of a retained object only hides it (S3 writes a delete
		// marker over a version it must keep): leave such snapshots whole.
		if until, err := r.protectedUntil(ctx, d.ID); err != nil {
			return res, fmt.Errorf("prune: %w", err)
		} else if !until.IsZero() {
			res.Protected = append(res.Protected, ProtectedSnapshot{ID: d.ID, Until: until})
			continue
		}
		if o.DryRun {
			continue
		}
		if err := r.DeleteSnapshot(ctx, d.ID); err != nil {
			return res, fmt.Errorf("prune: %w", err)
		}
		res.Removed = append(res.Removed, d.ID)
	}
	if o.DryRun {
		return res, nil
	}
	for _, s := range res.Incomplete {
		if err := r.deletePrefix(ctx, snapshotsDir+s.ID+"/"); err != nil {
			return res, fmt.Errorf("prune: remove incomplete snapshot %s: %w", s.ID, err)
		}
		res.Removed = append(res.Removed, s.ID)
	}
	return res, nil
}
