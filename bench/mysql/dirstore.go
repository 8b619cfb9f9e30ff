package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/klauspost/compress/zstd"
)

// dirStore is a minimal artifact.Sink/Source over a local directory that
// compresses every file with zstd, like the repository does; it stands in
// for internal/repo so that the benchmark measures the engine plus the
// compression a real backup pays.
type dirStore struct {
	dir   string
	mu    sync.Mutex
	files []artifact.FileInfo
	meta  map[string]json.RawMessage
}

func newDirStore(dir string) *dirStore {
	return &dirStore{dir: dir, meta: map[string]json.RawMessage{}}
}

type dirFile struct {
	s    *dirStore
	f    *os.File
	enc  *zstd.Encoder
	info artifact.FileInfo
}

func (s *dirStore) Create(_ context.Context, name, format string) (artifact.File, error) {
	p := filepath.Join(s.dir, filepath.FromSlash(name)+".zst")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(p)
	if err != nil {
		return nil, err
	}
	enc, err := zstd.NewWriter(f, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithWindowSize(1<<20))
	if err != nil {
		return nil, err
	}
	return &dirFile{s: s, f: f, enc: enc, info: artifact.FileInfo{Name: name, Format: format}}, nil
}

func (d *dirFile) Write(p []byte) (int, error) {
	n, err := d.enc.Write(p)
	d.info.RawSize += int64(n)
	return n, err
}
func (d *dirFile) SetCount(n int64) { d.info.Count = n }
func (d *dirFile) Close() error {
	if err := d.enc.Close(); err != nil {
		return err
	}
	if err := d.f.Close(); err != nil {
		return err
	}
	d.s.mu.Lock()
	d.s.files = append(d.s.files, d.info)
	d.s.mu.Unlock()
	return nil
}

func (s *dirStore) Set(key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.meta[key] = b
	s.mu.Unlock()
	return nil
}

// save writes the index (files and metadata) after a backup.
func (s *dirStore) save() error {
	b, err := json.Marshal(struct {
		Files []artifact.FileInfo
		Meta  map[string]json.RawMessage
	}{s.files, s.meta})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.dir, "index.json"), b, 0o644)
}

func loadDirStore(dir string) (*dirStore, error) {
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return nil, err
	}
	var idx struct {
		Files []artifact.FileInfo
		Meta  map[string]json.RawMessage
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, err
	}
	return &dirStore{dir: dir, files: idx.Files, meta: idx.Meta}, nil
}

func (s *dirStore) Files() []artifact.FileInfo { return s.files }

type decReader struct {
	f   *os.File
	dec *zstd.Decoder
}

func (d decReader) Read(p []byte) (int, error) { return d.dec.Read(p) }
func (d decReader) Close() error {
	d.dec.Close()
	return d.f.Close()
}

func (s *dirStore) Open(_ context.Context, name string) (io.ReadCloser, error) {
	f, err := os.Open(filepath.Join(s.dir, filepath.FromSlash(name)+".zst"))
	if err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
	if err != nil {
		f.Close()
		return nil, err
	}
	return decReader{f, dec}, nil
}

func (s *dirStore) Get(key string, v any) error {
	b, ok := s.meta[key]
	if !ok {
		return fmt.Errorf("metadata %q: %w", key, artifact.ErrNotFound)
	}
	return json.Unmarshal(b, v)
}

// size is the compressed size of the directory.
func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}
