package rdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
)

// mismatchHint is the next step when a snapshot's data and manifest disagree.
const mismatchHint = "the snapshot's data does not match its manifest (altered or damaged); nothing was changed on the target: restore another snapshot (`3scale-ops backups list`)"

// checkFiles reads every file the restore will load, strictly, and
// compares it with the component metadata. The result is kept for Restore.
func (e *Engine) checkFiles(ctx context.Context, src artifact.Source, meta Meta, task *progress.Task) (map[string]checked, error) {
	out := map[string]checked{}
	for _, s := range e.servers() {
		if !hasFile(src, s.file) || (e.cfg.SkipQueues && s.role == "queues") {
			continue
		}
		fm, _ := fileMeta(meta, s.file)
		c, err := checkFile(ctx, e.cfg.Component, src, s.file, task, fm.Path == "dump-fallback")
		if err != nil {
			return nil, err
		}
		if n := sum(c.repeated); n > 0 && e.cfg.Mode == ModeFile && s.role == "server" {
			return nil, errs.New(errs.Usage, "use --redis-mode replay, which restores such a key once",
				"%s: %s holds %d keys more than once (a SCAN+DUMP snapshot of an older 3scale-ops): redis-server aborts loading an RDB with a duplicated key", e.cfg.Component, s.file, n)
		}
		if err := compareMeta(e.cfg.Component, meta, s.file, c); err != nil {
			return nil, err
		}
		if c.moduleAux > 0 && e.cfg.Mode == ModeFile && s.role == "server" {
			return nil, errs.New(errs.Usage, "use --redis-mode replay, which leaves module data out",
				"%s: %s holds %d module auxiliary data entries: a server without the same Redis modules cannot load it", e.cfg.Component, s.file, c.moduleAux)
		}
		out[s.file] = c
	}
	e.checked = out
	return out, nil
}

// Check reads every RDB file of a Redis component strictly (every value's
// encoding, CRC64, nothing after the checksum) and compares it with the
// component's metadata: what `backups verify --read-data` adds to the
// hash check. A nil error means a restore would accept the data.
func Check(ctx context.Context, component string, src artifact.Source) error {
	var meta Meta
	if err := src.Get(MetaKey, &meta); err != nil && !errors.Is(err, artifact.ErrNotFound) {
		return fmt.Errorf("%s: metadata: %w", component, err)
	}
	seen := map[string]bool{}
	for _, f := range src.Files() {
		if f.Format != "rdb" {
			continue
		}
		seen[f.Name] = true
		c, err := checkFile(ctx, component, src, f.Name, nil, false)
		if err != nil {
			return err
		}
		if err := compareMeta(component, meta, f.Name, c); err != nil {
			return err
		}
	}
	for _, f := range meta.Files {
		if !seen[f.File] {
			return errs.Corrupt(artifact.AsCorrupt(fmt.Errorf("%s: the manifest records %s, the snapshot has no such file", component, f.File)), mismatchHint)
		}
	}
	return nil
}

// compareMeta checks what the parse of file found against what the backup
// recorded: RDB version, size, and per database the keys, keys with an
// expiry and keys per type. A snapshot without metadata (only in tests)
// is not compared.
func compareMeta(component string, m Meta, file string, c checked) error {
	if len(m.Files) == 0 && m.Component == "" {
		return nil
	}
	f, ok := fileMeta(m, file)
	if !ok {
		return errs.Corrupt(artifact.AsCorrupt(fmt.Errorf("%s/%s: the manifest records no such file", component, file)), mismatchHint)
	}
	differ := func(format string, args ...any) error {
		return errs.Corrupt(artifact.AsCorrupt(fmt.Errorf("%s/%s: "+format, append([]any{component, file}, args...)...)), mismatchHint)
	}
	if f.RDBVersion != 0 && f.RDBVersion != c.version {
		return differ("RDB version %d in the file, %d in the manifest", c.version, f.RDBVersion)
	}
	if f.Bytes != 0 && f.Bytes != c.bytes {
		return differ("%d bytes in the file, %d in the manifest", c.bytes, f.Bytes)
	}
	got := c.dbs.list()
	want := map[int]DBStats{}
	for _, d := range f.DBs {
		want[d.DB] = d
	}
	for _, g := range got {
		w, ok := want[g.DB]
		switch {
		case !ok:
			return differ("db %d has %d keys in the file, the manifest records no db %d", g.DB, g.Keys, g.DB)
		case g.Keys != w.Keys:
			return differ("db %d has %d keys in the file, the manifest records %d", g.DB, g.Keys, w.Keys)
		case g.Expires != w.Expires:
			return differ("db %d has %d keys with an expiry in the file, the manifest records %d", g.DB, g.Expires, w.Expires)
		case w.Types != nil && !maps.Equal(nonZero(g.Types), nonZero(w.Types)):
			return differ("db %d holds %v in the file, the manifest records %v", g.DB, g.Types, w.Types)
		}
		delete(want, g.DB)
	}
	for db, w := range want {
		if w.Keys != 0 {
			return differ("db %d: no keys in the file, the manifest records %d", db, w.Keys)
		}
	}
	return nil
}

func sum(m map[int]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

func nonZero(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// trailing fails when r holds bytes after the checksum the parser read.
func trailing(p *Parser, r io.Reader) error {
	n := int64(p.br.w - p.br.r)
	if n == 0 {
		m, err := io.Copy(io.Discard, r)
		if err != nil {
			return err
		}
		n = m
	}
	if n > 0 {
		return fmt.Errorf("%w: bytes after the checksum", ErrFormat)
	}
	return nil
}

// CheckValue checks one value encoding of type typ (an RDB key's value, or
// the middle of a DUMP payload) strictly, and returns how many bytes of
// value it used: a restore sends only values that pass.
func CheckValue(typ byte, value []byte) (int, error) {
	p := NewParser(bytes.NewReader(value), false)
	p.Strict = true
	p.e.Type = typ
	if !knownType(typ) {
		return 0, fmt.Errorf("%w: unknown value type %d", ErrFormat, typ)
	}
	if err := p.checkValue(typ); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("%w: value ends early (%v)", ErrFormat, err)
		}
		return int(p.Offset()), err
	}
	return int(p.Offset()), nil
}
