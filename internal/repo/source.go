package repo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
)

// Source returns the artifact.Source of one component of a committed
// snapshot. Reading a file to EOF checks its stored and plain sizes and
// sha256 against the manifest.
func (r *Repository) Source(m *Manifest, component string) (artifact.Source, error) {
	c := m.Component(component)
	if c == nil {
		return nil, fmt.Errorf("snapshot %s has no component %q (it has %v): %w", m.ID, component, m.ComponentNames(), artifactNotFound)
	}
	if m.Encrypted {
		if err := r.needKey("snapshot " + m.ID); err != nil {
			return nil, err
		}
	}
	return &source{r: r, snap: m.ID, c: c}, nil
}

type source struct {
	r    *Repository
	snap string
	c    *Component
}

func (s *source) Files() []artifact.FileInfo {
	out := make([]artifact.FileInfo, len(s.c.Files))
	for i, f := range s.c.Files {
		out[i] = artifact.FileInfo{Name: f.Name, Format: f.Format, RawSize: f.RawSize, Count: f.Count}
	}
	return out
}

func (s *source) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	for _, f := range s.c.Files {
		if f.Name == name {
			return s.r.openVerified(ctx, s.snap, f)
		}
	}
	return nil, fmt.Errorf("snapshot %s, component %s: no file %q: %w", s.snap, s.c.Name, name, artifactNotFound)
}

func (s *source) Get(key string, v any) error {
	b, ok := s.c.Meta[key]
	if !ok {
		return fmt.Errorf("snapshot %s, component %s: metadata %q: %w", s.snap, s.c.Name, key, artifactNotFound)
	}
	return json.Unmarshal(b, v)
}
