package artifact

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"sync"
)

// Memory is an in-memory Sink and Source. It is meant for engine tests and
// small tools; snapshots go through the repository, which streams.
type Memory struct {
	mu    sync.Mutex
	files []*memFile
	meta  map[string]json.RawMessage
}

type memFile struct {
	info FileInfo
	buf  bytes.Buffer
	done bool
	m    *Memory
}

// NewMemory returns an empty Memory.
func NewMemory() *Memory { return &Memory{meta: map[string]json.RawMessage{}} }

// Create implements Sink.
func (m *Memory) Create(_ context.Context, name, format string) (File, error) {
	if name == "" {
		return nil, fmt.Errorf("artifact: empty file name")
	}
	return &memFile{info: FileInfo{Name: name, Format: format}, m: m}, nil
}

func (f *memFile) Write(p []byte) (int, error) { return f.buf.Write(p) }
func (f *memFile) SetCount(n int64)            { f.info.Count = n }
func (f *memFile) Close() error {
	if f.done {
		return nil
	}
	f.done = true
	f.info.RawSize = int64(f.buf.Len())
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	for i, g := range f.m.files {
		if g.info.Name == f.info.Name {
			f.m.files[i] = f
			return nil
		}
	}
	f.m.files = append(f.m.files, f)
	return nil
}

// Set implements Sink.
func (m *Memory) Set(key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("artifact: metadata %q: %w", key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.meta[key] = b
	return nil
}

// Files implements Source.
func (m *Memory) Files() []FileInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]FileInfo, len(m.files))
	for i, f := range m.files {
		out[i] = f.info
	}
	return out
}

// Open implements Source.
func (m *Memory) Open(_ context.Context, name string) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range m.files {
		if f.info.Name == name {
			return io.NopCloser(bytes.NewReader(f.buf.Bytes())), nil
		}
	}
	return nil, fmt.Errorf("artifact %q: %w", name, ErrNotFound)
}

// Get implements Source.
func (m *Memory) Get(key string, v any) error {
	m.mu.Lock()
	b, ok := m.meta[key]
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("metadata %q: %w", key, ErrNotFound)
	}
	return json.Unmarshal(b, v)
}

// Keys lists the metadata keys, sorted.
func (m *Memory) Keys() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	ks := make([]string, 0, len(m.meta))
	for k := range m.meta {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Bytes returns a file's content (nil if absent), for tests.
func (m *Memory) Bytes(name string) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range m.files {
		if f.info.Name == name {
			return f.buf.Bytes()
		}
	}
	return nil
}
