package engines

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/component"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/rdb"
	"github.com/3scale-ops/3scale-ops/internal/repo"
	"github.com/3scale-ops/3scale-ops/internal/storage"
)

// CheckContent reads the artifact of component name as its restore's
// preflight does, without any target: Redis files parsed strictly (every
// value's encoding, CRC64) and compared with the manifest's key counts;
// the system-storage archive scanned entry by entry and its file count
// compared. Components without such a check return nil.
func CheckContent(ctx context.Context, name string, src artifact.Source) error {
	switch name {
	case component.BackendRedis, component.SystemRedis:
		return rdb.Check(ctx, name, src)
	case component.SystemStorage:
		return storage.Check(ctx, src)
	}
	return nil
}

// VerifyContent runs CheckContent on every component of snapshot id that
// has no problem yet (known: what the hash check found) and returns what
// it found as verification problems (`backups verify --read-data`). The
// error is for failures to check at all.
func VerifyContent(ctx context.Context, r *repo.Repository, id string, known []repo.Problem) ([]repo.Problem, error) {
	m, err := r.LoadManifest(ctx, id)
	if err != nil {
		if errors.Is(err, artifact.ErrCorrupt) {
			return nil, nil // already reported by the hash check
		}
		return nil, err
	}
	var out []repo.Problem
	for _, name := range m.ComponentNames() {
		if slices.ContainsFunc(known, func(p repo.Problem) bool { return p.File == "manifest" || strings.HasPrefix(p.File, id+"/"+name+"/") }) {
			continue
		}
		src, err := r.Source(m, name)
		if err != nil {
			return nil, err
		}
		err = CheckContent(ctx, name, src)
		switch {
		case err == nil:
		case errs.Code(err) == errs.Mismatch || errors.Is(err, artifact.ErrCorrupt):
			out = append(out, repo.Problem{Snapshot: id, File: id + "/" + name, Problem: strings.TrimPrefix(err.Error(), name+"/")})
		default:
			return nil, err
		}
	}
	return out, nil
}
