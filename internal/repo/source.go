package repo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"

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

	mu       sync.Mutex
	verified map[string]bool // read to EOF, every check passed
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
			v, err := s.r.openVerified(ctx, s.snap, f)
			if err != nil {
				return nil, err
			}
			return &trackedReader{verifyReader: v, done: func() { s.markVerified(name) }}, nil
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

func (s *source) markVerified(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.verified == nil {
		s.verified = map[string]bool{}
	}
	s.verified[name] = true
}

// Verified returns the files read to their end through this source, so
// with their stored and plain sizes and sha256 checked against the
// manifest: a verification that follows need not read them again.
func (s *source) Verified() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for n := range s.verified {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// VerifiedFiles returns what Verified returns for a Source of this
// package, and nothing for any other.
func VerifiedFiles(src artifact.Source) []string {
	if s, ok := src.(*source); ok {
		return s.Verified()
	}
	return nil
}

// trackedReader reports a file whose verifying reader returned io.EOF:
// it does so only after every size and hash matched.
type trackedReader struct {
	*verifyReader
	done func()
}

func (t *trackedReader) Read(p []byte) (int, error) {
	n, err := t.verifyReader.Read(p)
	if err == io.EOF { // exactly: a wrapped EOF is a failure
		t.done()
	}
	return n, err
}
