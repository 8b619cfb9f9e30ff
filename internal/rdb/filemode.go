package rdb

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
)

// FileModeTarget is the Redis server (pod) that file mode works on. The
// Kubernetes implementation edits the redis-config ConfigMap, rolls the
// deployment out and execs in the pod; tests use a local redis-server.
type FileModeTarget interface {
	// Persistence returns the save and appendonly settings the server is
	// configured with (what a restart will use).
	Persistence(ctx context.Context) (save string, appendonly bool, err error)
	// SetPersistence writes save and appendonly into the server's
	// configuration and restarts (rolls out) the server, returning once it
	// answers again.
	SetPersistence(ctx context.Context, save string, appendonly bool) error
	// Exec runs cmd next to the server's data (in the Redis container).
	Exec(ctx context.Context, cmd []string, stdin io.Reader, stdout io.Writer) error
	// DataDir is the server's data directory (/var/lib/redis/data).
	DataDir() string
}

// Journal records finished steps so an interrupted restore can resume.
type Journal interface {
	// Step returns the state saved with a finished step, and whether it finished.
	Step(name string) (state []byte, done bool, err error)
	// MarkStep records that a step finished, with its state.
	MarkStep(name string, state []byte) error
}

// MemoryJournal is a Journal kept in memory (no resume across processes).
type MemoryJournal struct {
	mu    sync.Mutex
	steps map[string][]byte
	order []string
}

// Step implements Journal.
func (m *MemoryJournal) Step(name string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.steps[name]
	return s, ok, nil
}

// MarkStep implements Journal.
func (m *MemoryJournal) MarkStep(name string, state []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.steps == nil {
		m.steps = map[string][]byte{}
	}
	if _, ok := m.steps[name]; !ok {
		m.order = append(m.order, name)
	}
	m.steps[name] = state
	return nil
}

// Steps lists finished steps in order.
func (m *MemoryJournal) Steps() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.order...)
}

// File-mode step names (prefixed with "<component>/file/" in the journal).
const (
	StepRecordConfig   = "record-config"
	StepPersistenceOff = "persistence-off"
	StepMoveAside      = "move-aside"
	StepCopyDump       = "copy-dump"
	StepLoad           = "load"
	StepRewriteAOF     = "rewrite-aof"
	StepRestoreConfig  = "restore-config"
	StepVerify         = "verify"
)

type fileState struct {
	Save       string `json:"save"`
	AppendOnly bool   `json:"appendonly"`
	Stamp      string `json:"stamp"`
}

// restoreFile is the operating guide's procedure: persistence off, roll
// out, move dump.rdb and the AOF aside, copy the snapshot's dump.rdb in,
// roll out (Redis loads it), rewrite the AOF, restore the configuration,
// roll out, verify the key counts.
func (e *Engine) restoreFile(ctx context.Context, src artifact.Source, s server, c checked, task *progress.Task) error {
	t := e.cfg.File
	j := e.cfg.Journal
	if j == nil {
		j = &MemoryJournal{}
	}
	prefix := e.cfg.Component + "/file/"
	var st fileState
	step := func(name string, fn func() ([]byte, error)) error {
		state, done, err := j.Step(prefix + name)
		if err != nil {
			return err
		}
		if done {
			if name == StepRecordConfig {
				return json.Unmarshal(state, &st)
			}
			return nil
		}
		task.SetPhase("file: " + name)
		e.log.Info("file-mode restore step", "step", name)
		if state, err = fn(); err != nil {
			return fmt.Errorf("%s: file-mode step %q: %w", e.cfg.Component, name, err)
		}
		return j.MarkStep(prefix+name, state)
	}
	dir := t.DataDir()
	want := map[int]int64{}
	for _, d := range c.dbs.list() {
		want[d.DB] = d.Keys
	}
	steps := []struct {
		name string
		fn   func() ([]byte, error)
	}{
		{StepRecordConfig, func() ([]byte, error) {
			save, aof, err := t.Persistence(ctx)
			if err != nil {
				return nil, err
			}
			st = fileState{Save: save, AppendOnly: aof, Stamp: time.Now().UTC().Format("20060102T150405Z")}
			return json.Marshal(st)
		}},
		{StepPersistenceOff, func() ([]byte, error) { return nil, t.SetPersistence(ctx, "", false) }},
		{StepMoveAside, func() ([]byte, error) {
			var sh strings.Builder
			for _, f := range []string{"dump.rdb", "appendonly.aof", "appendonlydir"} {
				p := shellQuote(path.Join(dir, f))
				fmt.Fprintf(&sh, "if [ -e %s ]; then mv %s %s; fi; ", p, p, shellQuote(path.Join(dir, f+"-old-"+st.Stamp)))
			}
			return nil, t.Exec(ctx, []string{"sh", "-c", sh.String()}, nil, io.Discard)
		}},
		{StepCopyDump, func() ([]byte, error) { return nil, e.copyDump(ctx, src, s, t, dir, task) }},
		{StepLoad, func() ([]byte, error) {
			if err := t.SetPersistence(ctx, "", false); err != nil {
				return nil, err
			}
			return nil, e.checkLoaded(ctx, s, want, c)
		}},
		{StepRewriteAOF, func() ([]byte, error) {
			if !st.AppendOnly {
				return nil, nil
			}
			cl := client(s.opts, 0)
			defer cl.Close()
			if err := cl.BgRewriteAOF(ctx).Err(); err != nil && !strings.Contains(err.Error(), "already in progress") {
				return nil, err
			}
			return nil, waitAOFRewrite(ctx, cl)
		}},
		{StepRestoreConfig, func() ([]byte, error) { return nil, t.SetPersistence(ctx, st.Save, st.AppendOnly) }},
		{StepVerify, func() ([]byte, error) { return nil, e.checkLoaded(ctx, s, want, c) }},
	}
	for _, s := range steps {
		if err := step(s.name, s.fn); err != nil {
			return err
		}
	}
	return nil
}

// copyDump writes the snapshot's RDB (without the queues with SkipQueues)
// to a temporary name in the pod, checks its size, then renames it.
func (e *Engine) copyDump(ctx context.Context, src artifact.Source, s server, t FileModeTarget, dir string, task *progress.Task) error {
	rd, err := src.Open(ctx, s.file)
	if err != nil {
		return err
	}
	defer rd.Close()
	tmp := shellQuote(path.Join(dir, "dump.rdb.3scale-ops-tmp"))
	var in io.Reader = progress.Reader{R: &ctxReader{ctx: ctx, r: rd}, Task: task}
	size := &countingWriter{w: io.Discard}
	var filterErr chan error
	if e.cfg.SkipQueues {
		pr, pw := io.Pipe()
		filterErr = make(chan error, 1)
		go func() {
			err := e.filter(in, io.MultiWriter(pw, size), s)
			pw.CloseWithError(err)
			filterErr <- err
		}()
		in = pr
	} else {
		in = io.TeeReader(in, size)
	}
	if err := t.Exec(ctx, []string{"sh", "-c", "cat > " + tmp}, in, io.Discard); err != nil {
		return err
	}
	if filterErr != nil {
		if err := <-filterErr; err != nil {
			return err
		}
	}
	var out bytes.Buffer
	if err := t.Exec(ctx, []string{"sh", "-c", "wc -c < " + tmp}, nil, &out); err != nil {
		return err
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(out.String()), 10, 64); err != nil || n != size.n {
		return fmt.Errorf("copied %s is %q bytes in the pod, expected %d; the copy was interrupted", s.file, strings.TrimSpace(out.String()), size.n)
	}
	return t.Exec(ctx, []string{"sh", "-c", "mv -f " + tmp + " " + shellQuote(path.Join(dir, "dump.rdb"))}, nil, io.Discard)
}

// filter copies an RDB stream leaving out the keys SkipQueues excludes.
func (e *Engine) filter(in io.Reader, out io.Writer, s server) error {
	p := NewParser(in, true)
	v, err := p.Header()
	if err != nil {
		return err
	}
	w, err := NewWriter(out, v)
	if err != nil {
		return err
	}
	for {
		en, err := p.Next()
		if err == io.EOF {
			return w.Close()
		}
		if err != nil {
			return err
		}
		switch {
		case en.Kind == KindKey:
			if e.skipKey(s, en.DB, en.Key) {
				continue
			}
			if err := w.SelectDB(en.DB, 0, 0); err != nil {
				return err
			}
			err = w.Key(en.Key, en.Type, en.Value, en.ExpireAt)
		case en.Kind == KindSelectDB || en.Kind == KindResizeDB:
			// re-emitted by SelectDB with the keys that are kept
		default:
			err = w.Raw(en.Raw)
		}
		if err != nil {
			return err
		}
	}
}

// checkLoaded waits until the server has loaded its data and compares the
// key counts with the snapshot's (keys that expired may be missing).
func (e *Engine) checkLoaded(ctx context.Context, s server, want map[int]int64, c checked) error {
	cl := client(s.opts, 0)
	defer cl.Close()
	if err := waitAOFRewrite(ctx, cl); err != nil { // also waits for loading:0
		return err
	}
	var diffs []string
	for _, d := range c.dbs.list() {
		if e.cfg.SkipQueues && d.DB == s.queueDB {
			continue
		}
		dc := client(s.opts, d.DB)
		n, err := dc.DBSize(ctx).Result()
		dc.Close()
		if err != nil {
			return err
		}
		if n > want[d.DB] || n < want[d.DB]-d.Expires {
			diffs = append(diffs, fmt.Sprintf("db %d: %d keys, the snapshot has %d", d.DB, n, want[d.DB]))
		}
	}
	if len(diffs) > 0 && !e.cfg.SkipQueues {
		return errs.New(errs.Mismatch, "check the Redis log in the pod (did it load the AOF instead of dump.rdb?); the previous files are kept as *-old-<time> in the data directory",
			"%s: after loading dump.rdb %s", e.cfg.Component, strings.Join(diffs, "; "))
	}
	return nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
