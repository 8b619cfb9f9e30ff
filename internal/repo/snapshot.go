package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"filippo.io/age"
	"github.com/3scale-ops/3scale-ops/internal/artifact"
)

// SnapshotWriter builds one snapshot. Components write through their
// ComponentSink concurrently; Commit writes README.txt and then the
// manifest (the commit point); Abort removes everything written.
type SnapshotWriter struct {
	r     *Repository
	ctx   context.Context
	id    string
	start time.Time

	mu    sync.Mutex
	comps map[string]*ComponentSink
	done  bool
}

// NewSnapshot starts a snapshot. ctx bounds every upload of the snapshot:
// cancelling it aborts the files being written.
func (r *Repository) NewSnapshot(ctx context.Context) *SnapshotWriter {
	now := r.opts.now().UTC()
	return &SnapshotWriter{r: r, ctx: ctx, id: NewSnapshotID(now), start: now, comps: map[string]*ComponentSink{}}
}

// ID is the snapshot id.
func (s *SnapshotWriter) ID() string { return s.id }

// Component returns the sink of a component (created on first use).
func (s *SnapshotWriter) Component(name string) (*ComponentSink, error) {
	if err := cleanName(name); err != nil {
		return nil, fmt.Errorf("component name: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.comps[name]; c != nil {
		return c, nil
	}
	c := &ComponentSink{s: s, comp: Component{Name: name, Start: s.r.opts.now().UTC(), Meta: map[string]json.RawMessage{}}}
	s.comps[name] = c
	return c, nil
}

// ComponentSink is the artifact.Sink of one component. It is safe for
// concurrent use.
type ComponentSink struct {
	s        *SnapshotWriter
	mu       sync.Mutex
	comp     Component
	order    []*sinkFile
	finished bool
}

var _ artifact.Sink = (*ComponentSink)(nil)

type sinkFile struct {
	c      *ComponentSink
	p      *pipeWriter
	name   string
	state  int // 0 open, 1 stored, 2 failed
	count  int64
	closed bool
}

// Create implements artifact.Sink.
func (c *ComponentSink) Create(ctx context.Context, name, format string) (artifact.File, error) {
	if err := cleanName(name); err != nil {
		return nil, fmt.Errorf("component %s: file name: %w", c.comp.Name, err)
	}
	c.mu.Lock()
	if c.finished {
		c.mu.Unlock()
		return nil, fmt.Errorf("component %s: file %s created after the component finished", c.comp.Name, name)
	}
	for _, f := range c.order {
		if f.name == name && f.state != 2 {
			c.mu.Unlock()
			return nil, fmt.Errorf("component %s: file %s created twice", c.comp.Name, name)
		}
	}
	c.mu.Unlock()
	r := c.s.r
	enc := "none"
	path := c.comp.Name + "/" + name + suffix(r.opts.Compression)
	if r.Encrypted() {
		enc, path = "age", path+ageSuffix
	}
	// Uploads follow the snapshot's context: an engine's per-call ctx
	// ending early must not cut a file it still writes.
	p, err := r.newPipeWriter(mergeCancel(c.s.ctx, ctx), snapshotsDir+c.s.id+"/"+path)
	if err != nil {
		return nil, fmt.Errorf("component %s: file %s: %w", c.comp.Name, name, err)
	}
	p.entry = FileEntry{Name: name, Path: path, Format: format, Compression: r.opts.Compression, Encryption: enc}
	f := &sinkFile{c: c, p: p, name: name}
	c.mu.Lock()
	c.order = append(c.order, f)
	c.mu.Unlock()
	return f, nil
}

// mergeCancel returns the snapshot context; the engine's ctx cancelling
// also cancels it for this upload.
func mergeCancel(base, extra context.Context) context.Context {
	if extra == nil || extra == base {
		return base
	}
	ctx, cancel := context.WithCancelCause(base)
	stop := context.AfterFunc(extra, func() { cancel(context.Cause(extra)) })
	context.AfterFunc(ctx, func() { stop() })
	return ctx
}

func (f *sinkFile) Write(p []byte) (int, error) {
	if f.closed {
		return 0, fmt.Errorf("component %s: write to closed file %s", f.c.comp.Name, f.name)
	}
	n, err := f.p.Write(p)
	if err != nil {
		err = fmt.Errorf("component %s: store %s: %w", f.c.comp.Name, f.name, err)
	}
	return n, err
}

func (f *sinkFile) SetCount(n int64) { f.count = n }

func (f *sinkFile) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	err := f.p.finish()
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	if err != nil {
		f.state = 2
		return fmt.Errorf("component %s: store %s: %w", f.c.comp.Name, f.name, err)
	}
	f.state = 1
	f.p.entry.Count = f.count
	return nil
}

// abort stops an unfinished file's upload.
func (f *sinkFile) abort() {
	if !f.closed {
		f.closed = true
		_ = f.p.abort(context.Canceled)
		f.state = 2
	}
}

// Set implements artifact.Sink.
func (c *ComponentSink) Set(key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("component %s: metadata %q: %w", c.comp.Name, key, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.comp.Meta[key] = b
	return nil
}

// Finish marks the component done: every file must have been closed.
func (c *ComponentSink) Finish() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.finished = true
	c.comp.End = c.s.r.opts.now().UTC()
	c.comp.Duration = c.comp.End.Sub(c.comp.Start).Round(time.Millisecond).String()
	c.comp.Files = c.comp.Files[:0]
	for _, f := range c.order {
		switch f.state {
		case 0:
			return fmt.Errorf("component %s: file %s was never closed", c.comp.Name, f.name)
		case 1:
			c.comp.Files = append(c.comp.Files, f.p.entry)
		}
	}
	return nil
}

// SnapshotInfo is what the orchestration knows about the snapshot.
type SnapshotInfo struct {
	Namespace         string
	ThreescaleVersion string
	Tags              map[string]string
}

// Commit writes README.txt and then the manifest; only then is the
// snapshot visible. Every component must have finished.
func (s *SnapshotWriter) Commit(ctx context.Context, info SnapshotInfo) (*Manifest, error) {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return nil, fmt.Errorf("snapshot %s: already committed or aborted", s.id)
	}
	s.done = true
	m := &Manifest{Format: FormatVersion, ID: s.id, ToolVersion: s.r.opts.ToolVersion, Namespace: info.Namespace,
		ThreescaleVersion: info.ThreescaleVersion, Start: s.start, Tags: info.Tags,
		Encrypted: s.r.Encrypted(), Compression: s.r.opts.Compression, ReadmeFormat: ReadmeFormat}
	for _, c := range s.comps {
		c.mu.Lock()
		if !c.finished {
			c.mu.Unlock()
			s.mu.Unlock()
			return nil, fmt.Errorf("snapshot %s: component %s has not finished", s.id, c.comp.Name)
		}
		m.Components = append(m.Components, c.comp)
		c.mu.Unlock()
	}
	s.mu.Unlock()
	sort.Slice(m.Components, func(i, j int) bool { return m.Components[i].Name < m.Components[j].Name })
	m.End = s.r.opts.now().UTC()
	dir := snapshotsDir + s.id + "/"
	if err := s.r.putReadme(ctx, m); err != nil {
		return nil, fmt.Errorf("snapshot %s: write README.txt: %w", s.id, err)
	}
	if err := s.r.signManifest(m); err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", s.id, err)
	}
	body, name := marshal(m), dir+manifestPlain
	if s.r.Encrypted() {
		var buf bytes.Buffer
		w, err := age.Encrypt(&buf, s.r.rcpts...)
		if err != nil {
			return nil, err
		}
		_, _ = w.Write(body)
		if err := w.Close(); err != nil {
			return nil, err
		}
		body, name = buf.Bytes(), dir+manifestAged
	}
	if err := s.r.be.Put(ctx, name, bytes.NewReader(body)); err != nil {
		return nil, fmt.Errorf("snapshot %s: write manifest: %w", s.id, err)
	}
	return m, nil
}

// Abort stops unfinished uploads and removes every file of the snapshot.
// Use a fresh context: the snapshot's own may be cancelled already.
func (s *SnapshotWriter) Abort(ctx context.Context) error {
	s.mu.Lock()
	s.done = true
	comps := make([]*ComponentSink, 0, len(s.comps))
	for _, c := range s.comps {
		comps = append(comps, c)
	}
	s.mu.Unlock()
	for _, c := range comps {
		c.mu.Lock()
		files := append([]*sinkFile(nil), c.order...)
		c.finished = true
		c.mu.Unlock()
		for _, f := range files {
			f.abort()
		}
	}
	if err := s.r.deletePrefix(ctx, snapshotsDir+s.id+"/"); err != nil {
		return fmt.Errorf("snapshot %s: remove partial files: %w (`3scale-ops backups prune` removes them later)", s.id, err)
	}
	return nil
}
