package repo

import (
	"context"
	"fmt"
)

// PruneResult reports what Prune kept and removed.
type PruneResult struct {
	DryRun     bool          `json:"dry_run"`
	Decisions  []Decision    `json:"decisions"`
	Incomplete []SnapshotRef `json:"incomplete"` // snapshot directories without a manifest
	Removed    []string      `json:"removed"`
}

// Prune applies the policy to the committed snapshots and removes those it
// does not keep, and removes snapshot directories that have no manifest
// (backups that never completed). The caller must hold the exclusive lock
// unless dryRun is set.
func (r *Repository) Prune(ctx context.Context, p Policy, dryRun bool) (*PruneResult, error) {
	snaps, err := r.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	res := &PruneResult{DryRun: dryRun, Removed: []string{}, Incomplete: []SnapshotRef{}}
	var complete []SnapshotRef
	for _, s := range snaps {
		if s.Complete {
			complete = append(complete, s)
		} else {
			res.Incomplete = append(res.Incomplete, s)
		}
	}
	res.Decisions = ApplyPolicy(complete, p)
	if dryRun {
		return res, nil
	}
	for _, d := range res.Decisions {
		if d.Keep {
			continue
		}
		if err := r.DeleteSnapshot(ctx, d.ID); err != nil {
			return res, fmt.Errorf("prune: %w", err)
		}
		res.Removed = append(res.Removed, d.ID)
	}
	for _, s := range res.Incomplete {
		if err := r.deletePrefix(ctx, snapshotsDir+s.ID+"/"); err != nil {
			return res, fmt.Errorf("prune: remove incomplete snapshot %s: %w", s.ID, err)
		}
		res.Removed = append(res.Removed, s.ID)
	}
	return res, nil
}
