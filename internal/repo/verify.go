package repo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
)

// Problem is one difference found by Verify.
type Problem struct {
	Snapshot string `json:"snapshot"`
	File     string `json:"file,omitempty"`
	Problem  string `json:"problem"`
}

// VerifyResult is the outcome of verifying one snapshot.
type VerifyResult struct {
	Snapshot string    `json:"snapshot"`
	Files    int       `json:"files"`
	Bytes    int64     `json:"bytes"` // stored bytes checked
	ReadData bool      `json:"read_data"`
	Problems []Problem `json:"problems"`
}

// Verify checks a snapshot. Without readData every file must exist with
// its recorded stored size; with readData every file is downloaded,
// decrypted and decompressed, and its stored and plain sizes and sha256
// compared with the manifest. Differences are returned as Problems; the
// error is for failures to check at all (repository unreachable, no key).
func (r *Repository) Verify(ctx context.Context, id string, readData bool, task *progress.Task) (VerifyResult, error) {
	return r.VerifyComponents(ctx, id, nil, readData, task)
}

// VerifyComponents is Verify limited to the named components (all when
// names is empty): a restore of some components does not depend on the
// others being intact, nor pays for reading them.
func (r *Repository) VerifyComponents(ctx context.Context, id string, names []string, readData bool, task *progress.Task) (VerifyResult, error) {
	return r.VerifyComponentsExcept(ctx, id, names, nil, readData, task)
}

// VerifyComponentsExcept is VerifyComponents that leaves out the files
// done names per component: files already read to their end through a
// Source of this snapshot (VerifiedFiles), whose every size and sha256
// was checked then. They count in Files, not in Bytes.
func (r *Repository) VerifyComponentsExcept(ctx context.Context, id string, names []string, done map[string][]string, readData bool, task *progress.Task) (VerifyResult, error) {
	res := VerifyResult{Snapshot: id, ReadData: readData, Problems: []Problem{}}
	m, err := r.LoadManifest(ctx, id)
	if err != nil {
		if errors.Is(err, artifact.ErrCorrupt) {
			res.Problems = append(res.Problems, Problem{Snapshot: id, File: "manifest", Problem: err.Error()})
			return res, nil
		}
		return res, err
	}
	if len(names) == 0 {
		// A full verification also checks the restore instructions.
		ps, err := r.checkReadme(ctx, m)
		if err != nil {
			return res, err
		}
		res.Problems = append(res.Problems, ps...)
	}
	if len(names) > 0 {
		keep := m.Components[:0:0]
		for _, c := range m.Components {
			if slices.Contains(names, c.Name) {
				keep = append(keep, c)
			}
		}
		m.Components = keep
	}
	var total int64
	for _, c := range m.Components {
		for _, f := range c.Files {
			if !slices.Contains(done[c.Name], f.Name) {
				total += f.Size
			}
		}
	}
	task.SetTotal(total, 0)
	for _, c := range m.Components {
		for _, f := range c.Files {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			res.Files++
			if slices.Contains(done[c.Name], f.Name) {
				continue
			}
			path := id + "/" + f.Path
			if !readData {
				st, err := r.be.Stat(ctx, snapshotsDir+path)
				switch {
				case errors.Is(err, ErrNotFound):
					res.Problems = append(res.Problems, Problem{id, path, "missing from the repository"})
				case err != nil:
					return res, err
				case st.Size != f.Size:
					res.Problems = append(res.Problems, Problem{id, path, fmt.Sprintf("stored size: expected %d bytes, got %d", f.Size, st.Size)})
				default:
					res.Bytes += st.Size
				}
				task.AddBytes(f.Size)
				task.AddItems(1)
				continue
			}
			n, err := r.readFile(ctx, id, f, task)
			res.Bytes += n
			task.AddItems(1)
			if errors.Is(err, artifact.ErrCorrupt) {
				res.Problems = append(res.Problems, Problem{id, path, strings.TrimPrefix(strings.TrimSuffix(err.Error(), ": "+artifact.ErrCorrupt.Error()), path+": ")})
			} else if err != nil {
				return res, err
			}
		}
	}
	task.Done()
	return res, nil
}

func (r *Repository) readFile(ctx context.Context, id string, f FileEntry, task *progress.Task) (int64, error) {
	v, err := r.openVerified(ctx, id, f)
	if err != nil {
		return 0, err
	}
	defer v.Close()
	before := int64(0)
	buf := make([]byte, 256<<10)
	for {
		_, err := v.Read(buf)
		task.AddBytes(v.stored.n - before)
		before = v.stored.n
		if err == io.EOF {
			return v.stored.n, nil
		}
		if err != nil {
			return v.stored.n, err
		}
	}
}

// MismatchError turns verification problems into an errs.Mismatch error
// (exit 3) naming the first few; nil when there are none.
func MismatchError(results []VerifyResult) error {
	var all []Problem
	for _, r := range results {
		all = append(all, r.Problems...)
	}
	if len(all) == 0 {
		return nil
	}
	var b strings.Builder
	for i, p := range all {
		if i == 5 {
			fmt.Fprintf(&b, "; and %d more", len(all)-5)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		if p.File != "" {
			fmt.Fprintf(&b, "%s: %s", p.File, p.Problem)
		} else {
			fmt.Fprintf(&b, "%s: %s", p.Snapshot, p.Problem)
		}
	}
	return errs.New(errs.Mismatch, "do not restore from a damaged snapshot: use another snapshot (`3scale-ops backups list`), and check the storage that holds the repository",
		"verification found %d problem(s): %s", len(all), b.String())
}
