package storage_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/storage"
)

// eofSource records the files whose reader returned io.EOF: those a
// repository source counts as verified.
type eofSource struct {
	artifact.Source
	ended map[string]bool
}

func (s *eofSource) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	rc, err := s.Source.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	return &eofReader{ReadCloser: rc, end: func() { s.ended[name] = true }}, nil
}

type eofReader struct {
	io.ReadCloser
	end func()
}

func (r *eofReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		r.end()
	}
	return n, err
}

// TestPreflightReadsTheArchiveToItsEnd: the preflight's scan reads the
// archive past tar's end blocks to the end of the file, so a restore's
// verification need not read it again.
func TestPreflightReadsTheArchiveToItsEnd(t *testing.T) {
	mem, _ := backup(t, dirEngine(makeTree(t), storage.Options{}))
	src := &eofSource{Source: mem, ended: map[string]bool{}}
	if err := dirEngine(filepath.Join(t.TempDir(), "empty"), storage.Options{}).Preflight(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	if !src.ended[storage.FileName] {
		t.Fatalf("the preflight did not read %s to its end", storage.FileName)
	}
}
