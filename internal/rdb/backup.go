package rdb

import (
	"context"
	"errors"
	"fmt"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"io"
	"strconv"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/redis/go-redis/v9"
)

// Backup saves every server of the component as a dump.rdb-format file
// and records a Meta under MetaKey.
func (e *Engine) Backup(ctx context.Context, sink artifact.Sink, task *progress.Task) error {
	meta := Meta{Component: e.cfg.Component, SkipQueues: e.cfg.SkipQueues}
	for _, s := range e.servers() {
		if e.cfg.SkipQueues && s.role == "queues" {
			e.log.Info("queue server left out (--skip-queues)", "addr", s.opts.Addr)
			continue
		}
		fm, err := e.backupServer(ctx, sink, s, task)
		if err != nil {
			return err
		}
		meta.Files = append(meta.Files, fm)
	}
	if err := e.stillMaster(ctx); err != nil {
		return err
	}
	if err := sink.Set(MetaKey, meta); err != nil {
		return err
	}
	if len(meta.Files) > 0 {
		f := meta.Files[0]
		_ = sink.Set("server_version", "redis "+f.RedisVersion)
		if f.PointInTime {
			_ = sink.Set("consistency_point", map[string]any{"repl_id": f.ReplID, "repl_offset": f.ReplOffset})
		}
	}
	task.Done()
	return nil
}

func (e *Engine) backupServer(ctx context.Context, sink artifact.Sink, s server, task *progress.Task) (FileMeta, error) {
	fm := FileMeta{File: s.file, Role: s.role, URLDB: intp(s.opts.DB)}
	if s.queueDB >= 0 {
		fm.QueueDB = intp(s.queueDB)
	}
	c := client(s.opts, s.opts.DB)
	defer c.Close()
	info, err := readInfo(ctx, c)
	if err != nil {
		return fm, connErr(e.cfg.Component, s.opts.Addr, err)
	}
	fm.RedisVersion, fm.InfoKeyspace = info.Version, keyspaceMap(info.Keyspace)
	var total int64
	for _, n := range info.Keyspace {
		total += n
	}
	task.SetTotal(0, total)

	if !e.cfg.Fallback {
		err := e.backupSync(ctx, sink, s, &fm, task)
		if err == nil || !errors.Is(err, errSyncRefused) {
			return fm, err
		}
		e.log.Warn("SYNC refused, falling back to SCAN+DUMP (not a single point in time)", "addr", s.opts.Addr, "reason", err.Error())
		fm.Notes = append(fm.Notes, "SYNC refused: "+err.Error())
	}
	return fm, e.backupFallback(ctx, sink, s, info, &fm, task)
}

// backupSync streams the master's RDB into the sink, validating it on the way.
func (e *Engine) backupSync(ctx context.Context, sink artifact.Sink, s server, fm *FileMeta, task *progress.Task) error {
	task.SetPhase("sync " + s.file)
	c := client(s.opts, s.opts.DB)
	eof, why := e.chooseTransfer(ctx, c)
	c.Close()
	e.log.Info("replication transfer", "addr", s.opts.Addr, "choice", why)
	rc, err := dialRaw(ctx, s.opts)
	if err != nil {
		return connErr(e.cfg.Component, s.opts.Addr, err)
	}
	defer rc.Close()
	payload, si, err := rc.startSync(eof)
	if err != nil {
		return fmt.Errorf("%s: replication handshake with %s: %w", e.cfg.Component, s.opts.Addr, err)
	}
	f, err := sink.Create(ctx, s.file, "rdb")
	if err != nil {
		return err
	}
	counted := &countingWriter{w: progress.Writer{W: f, Task: task}}
	ra := newReadAhead(payload)
	defer ra.Close()
	p := NewParser(io.TeeReader(ra, counted), false)
	t := tally{}
	if err := parseAll(p, func(en *Entry) { t.add(en.DB, en.Type, en.ExpireAt != 0); task.AddItems(1) }); err != nil {
		return fmt.Errorf("%s: RDB from %s (%s): %w", e.cfg.Component, s.opts.Addr, s.file, err)
	}
	if p.br.w != p.br.r {
		return fmt.Errorf("%s: RDB from %s: %d bytes after the checksum", e.cfg.Component, s.opts.Addr, p.br.w-p.br.r)
	}
	if n, err := io.Copy(io.Discard, ra); err != nil || n != 0 {
		return fmt.Errorf("%s: RDB from %s: %d unexpected bytes after the checksum (%v)", e.cfg.Component, s.opts.Addr, n, err)
	}
	f.SetCount(t.total())
	if err := f.Close(); err != nil {
		return err
	}
	fm.Path, fm.PointInTime = "sync", true
	fm.ReplID, fm.ReplOffset = si.ReplID, si.Offset
	fm.Transfer = "length-prefixed"
	fm.Notes = append(fm.Notes, why)
	if _, ok := payload.(*eofReader); ok {
		fm.Transfer = "eof-marker (diskless)"
	}
	fm.RDBVersion, fm.Bytes, fm.DBs = p.Version(), counted.n, t.list()
	e.crossCheck(fm, -1)
	return nil
}

// crossCheck notes where the RDB's key counts differ from INFO keyspace
// at start (normal on a live server; large differences deserve a look).
func (e *Engine) crossCheck(fm *FileMeta, skippedDB int) {
	seen := map[string]bool{"db" + strconv.Itoa(skippedDB): true}
	var diffs []string
	for _, d := range fm.DBs {
		k := "db" + strconv.Itoa(d.DB)
		seen[k] = true
		if info, ok := fm.InfoKeyspace[k]; (!ok || info != d.Keys) && fm.SkippedKeys == 0 {
			diffs = append(diffs, fmt.Sprintf("%s: %d keys in the RDB, %d in INFO keyspace at start", k, d.Keys, info))
		}
	}
	for k, n := range fm.InfoKeyspace {
		if !seen[k] && n > 0 {
			diffs = append(diffs, fmt.Sprintf("%s: 0 keys in the RDB, %d in INFO keyspace at start", k, n))
		}
	}
	if len(diffs) > 0 {
		fm.Notes = append(fm.Notes, diffs...)
		e.log.Info("key counts moved during the backup", "file", fm.File, "differences", diffs)
	}
}

// parseAll reads every entry, calling fn for keys.
func parseAll(p *Parser, fn func(*Entry)) error {
	for {
		en, err := p.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if en.Kind == KindKey {
			fn(en)
		}
	}
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// backupFallback assembles an RDB from SCAN + DUMP + PTTL, database by
// database. Keys changing during the scan may be seen in different
// states: it is not a single point in time.
func (e *Engine) backupFallback(ctx context.Context, sink artifact.Sink, s server, info serverInfo, fm *FileMeta, task *progress.Task) error {
	task.SetPhase("scan+dump " + s.file)
	f, err := sink.Create(ctx, s.file, "rdb")
	if err != nil {
		return err
	}
	counted := &countingWriter{w: progress.Writer{W: f, Task: task}}
	var w *Writer
	open := func(version int) error {
		if w != nil {
			return nil
		}
		if w, err = NewWriter(counted, version); err != nil {
			return err
		}
		_ = w.Aux("redis-ver", info.Version)
		_ = w.Aux("redis-bits", "64")
		_ = w.Aux("ctime", strconv.FormatInt(time.Now().Unix(), 10))
		return w.Aux("3scale-ops-path", "dump-fallback")
	}
	t := tally{}
	for _, db := range info.dbs() {
		if e.cfg.SkipQueues && (s.role == "queues" || db == s.queueDB) {
			fm.SkippedKeys += info.Keyspace[db]
			continue
		}
		if err := e.dumpDB(ctx, s, db, info, open, &w, t, fm, task); err != nil {
			return fmt.Errorf("%s: SCAN+DUMP of %s db %d: %w", e.cfg.Component, s.opts.Addr, db, err)
		}
	}
	version := VersionForServer(info.Version)
	if version == 0 {
		version = MinVersion
	}
	if err := open(version); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	f.SetCount(t.total())
	if err := f.Close(); err != nil {
		return err
	}
	fm.Path, fm.PointInTime = "dump-fallback", false
	fm.Bytes, fm.DBs, fm.RDBVersion = counted.n, t.list(), w.version
	fm.Notes = append(fm.Notes, "assembled from SCAN+DUMP: keys were read one by one, not at a single point in time")
	if e.cfg.SkipQueues {
		fm.Notes = append(fm.Notes, "queues left out (--skip-queues)")
	}
	skipped := -1
	if e.cfg.SkipQueues {
		skipped = s.queueDB
	}
	e.crossCheck(fm, skipped)
	return nil
}

func (e *Engine) dumpDB(ctx context.Context, s server, db int, info serverInfo, open func(int) error, w **Writer, t tally, fm *FileMeta, task *progress.Task) error {
	c := client(s.opts, db)
	defer c.Close()
	selected := false
	seen := newKeySet()
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, "", 1000).Result()
		if err != nil {
			return err
		}
		// SCAN returns a key again when the keyspace shrinks under the
		// cursor: each key is read and written once.
		fresh := keys[:0]
		for _, k := range keys {
			if seen.add(k) {
				fresh = append(fresh, k)
			} else {
				fm.RepeatedKeys++
			}
		}
		keys = fresh
		cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				p.Dump(ctx, k)
				p.PTTL(ctx, k)
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		now := time.Now()
		for i, k := range keys {
			if e.skipKey(s, db, []byte(k)) {
				fm.SkippedKeys++
				continue
			}
			payload, err := cmds[2*i].(*redis.StringCmd).Result()
			if errors.Is(err, redis.Nil) {
				continue // deleted since SCAN
			}
			if err != nil {
				return fmt.Errorf("DUMP %q: %w", k, err)
			}
			ttl, err := cmds[2*i+1].(*redis.DurationCmd).Result()
			if err != nil {
				return fmt.Errorf("PTTL %q: %w", k, err)
			}
			if ttl == -2 {
				continue // expired or deleted since DUMP
			}
			typ, value, version, err := SplitDump([]byte(payload))
			if err != nil {
				return fmt.Errorf("DUMP %q: %w", k, err)
			}
			if err := open(version); err != nil {
				return err
			}
			if !selected {
				if err := (*w).SelectDB(db, uint64(info.Keyspace[db]), uint64(info.Expires[db])); err != nil {
					return err
				}
				selected = true
			}
			// PTTL is -1 without an expiry (-2, gone, was left out above);
			// 0 ms left is an expiry too: the key is saved as expiring
			// now, and the restore leaves it out, never restores it
			// without a TTL.
			var at int64
			if ttl >= 0 {
				at = now.Add(ttl).UnixMilli()
			} else if ttl != -1 {
				continue // not a PTTL answer Redis gives: leave the key out
			}
			if err := (*w).Key([]byte(k), typ, value, at); err != nil {
				return err
			}
			t.add(db, typ, at != 0)
			task.AddItems(1)
		}
		cursor = next
		if cursor == 0 {
			return nil
		}
	}
}

// stillMaster fails the backup when the server it read stopped being the
// master meanwhile (a Sentinel failover): what was read may miss writes
// the new master took, so nothing of it must be committed.
func (e *Engine) stillMaster(ctx context.Context) error {
	addr := e.cfg.Server.Addr
	c := client(e.cfg.Server, e.cfg.Server.DB)
	defer c.Close()
	if role, err := c.Do(ctx, "ROLE").Slice(); err == nil && len(role) > 0 && fmt.Sprint(role[0]) != "master" {
		return errs.New(errs.Failure, "run the backup again: it will read the new master",
			"%s: %s became a %v during the backup (failover); nothing of this backup is kept", e.cfg.Component, addr, role[0])
	}
	if e.cfg.Master == nil {
		return nil
	}
	now, err := e.cfg.Master(ctx)
	if err != nil {
		return fmt.Errorf("%s: ask Sentinel for the master after the backup: %w", e.cfg.Component, err)
	}
	if now != addr {
		return errs.New(errs.Failure, "run the backup again: it will read the new master",
			"%s: the master changed from %s to %s during the backup (failover); nothing of this backup is kept", e.cfg.Component, addr, now)
	}
	return nil
}
