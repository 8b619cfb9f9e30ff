package rdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/redis/go-redis/v9"
)

// checked is the result of reading an artifact file end to end.
type checked struct {
	version   int
	dbs       tally
	bytes     int64
	moduleAux int
	// repeated counts, per database of the file, the entries that repeat
	// a key already in it: snapshots assembled from SCAN+DUMP before
	// each key was written once could hold some (SCAN returns a key again
	// when the keyspace shrinks under the cursor). Counted only for such
	// files.
	repeated map[int]int64
}

// checkFile reads a whole RDB file of the snapshot with a strict parser
// (structure, every value's encoding, CRC64) and counts its keys. Nothing
// is written anywhere. With repeats, keys written more than once are
// counted (16 bytes of memory a key).
func checkFile(ctx context.Context, component string, src artifact.Source, name string, task *progress.Task, repeats bool) (checked, error) {
	var c checked
	rd, err := src.Open(ctx, name)
	if err != nil {
		return c, fmt.Errorf("%s: open %s: %w", component, name, err)
	}
	defer rd.Close()
	// Reading the artifact (decryption, decompression, its sha256) runs
	// on its own goroutine, beside the parse.
	cr := newReadAhead(&ctxReader{ctx: ctx, r: rd})
	defer cr.Stop()
	p := NewParser(progress.Reader{R: cr, Task: task}, false)
	p.Strict = true
	c.dbs = tally{}
	var seen map[int]*keySet
	if repeats {
		seen, c.repeated = map[int]*keySet{}, map[int]int64{}
	}
	err = parseAll(p, func(en *Entry) {
		c.dbs.add(en.DB, en.Type, en.ExpireAt != 0)
		if seen == nil {
			return
		}
		ks := seen[en.DB]
		if ks == nil {
			ks = newKeySet()
			seen[en.DB] = ks
		}
		if !ks.add(string(en.Key)) {
			c.repeated[en.DB]++
		}
	})
	if err == nil {
		err = trailing(p, cr)
	}
	if err != nil {
		return c, fileErr(component, name, err)
	}
	c.version, c.bytes, c.moduleAux = p.Version(), p.Offset(), p.ModuleAux
	return c, nil
}

// fileErr names the artifact file and what to do about a bad one. Bad
// content is a verification failure (exit 3); a storage error is not.
func fileErr(component, name string, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	hint := "the snapshot's " + name + " is truncated or corrupt; nothing was changed on the target: check it with `3scale-ops backups verify ID --read-data` and restore another snapshot (`3scale-ops backups list`)"
	if errors.Is(err, ErrFormat) || artifact.Damaged(err) {
		// Damaged content: exit 3, as in every engine.
		return errs.Corrupt(fmt.Errorf("%s/%s is not a valid RDB file %w", component, name, artifact.AsCorrupt(err)), hint)
	}
	return errs.Wrap(errs.Failure, fmt.Errorf("%s/%s could not be read: %w", component, name, err),
		"nothing was changed on the target; check the repository's storage and run the restore again")
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Preflight checks, without changing anything, that each artifact file
// is a valid RDB file end to end (strict parse: every value's encoding as
// Redis's deep sanitization checks it, CRC64) whose key counts match the
// manifest, and that each target server is reachable, not older than the
// source and empty (or Overwrite is set). Restore then reuses what was
// read and checks every value again as it sends it.
func (e *Engine) Preflight(ctx context.Context, src artifact.Source) error {
	var meta Meta
	if err := src.Get(MetaKey, &meta); err != nil && !errors.Is(err, artifact.ErrNotFound) {
		return fmt.Errorf("%s: metadata: %w", e.cfg.Component, err)
	}
	files, err := e.checkFiles(ctx, src, meta, nil)
	if err != nil {
		return err
	}
	for _, s := range e.servers() {
		if !hasFile(src, s.file) {
			if s.role == "queues" {
				continue
			}
			return errs.New(errs.Usage, "choose a snapshot that contains "+e.cfg.Component,
				"%s: the snapshot has no %s", e.cfg.Component, s.file)
		}
		if e.cfg.SkipQueues && s.role == "queues" {
			continue
		}
		version := files[s.file].version
		c := client(s.opts, 0)
		info, err := readInfo(ctx, c)
		c.Close()
		if err != nil {
			return connErr(e.cfg.Component, s.opts.Addr, err)
		}
		if tv := VersionForServer(info.Version); tv != 0 && tv < version {
			return errs.New(errs.Usage, "restore into Redis "+sourceVersion(meta, s.file)+" or newer",
				"%s: target %s runs Redis %s (RDB %d), older than the snapshot's RDB version %d",
				e.cfg.Component, s.opts.Addr, info.Version, tv, version)
		}
		if src := sourceVersion(meta, s.file); src != "" {
			sm, _ := splitVersion(src)
			tm, _ := splitVersion(info.Version)
			if tm < sm {
				return errs.New(errs.Usage, "restore into Redis "+src+" or newer",
					"%s: target %s runs Redis %s, older than the source's Redis %s", e.cfg.Component, s.opts.Addr, info.Version, src)
			}
		}
		if err := e.checkTarget(meta, s, info.Keyspace); err != nil {
			return err
		}
	}
	if e.cfg.Mode == ModeFile && e.cfg.File == nil {
		return errs.New(errs.Usage, "use --redis-mode replay, or run against a namespace so the Redis pod can be reached",
			"%s: file mode needs access to the Redis pod", e.cfg.Component)
	}
	return nil
}

func sourceVersion(m Meta, file string) string {
	for _, f := range m.Files {
		if f.File == file {
			return f.RedisVersion
		}
	}
	return ""
}

func hasFile(src artifact.Source, name string) bool {
	for _, f := range src.Files() {
		if f.Name == name {
			return true
		}
	}
	return false
}

// Restore replaces the target's data with the snapshot's, in the
// configured mode. Every file is verified end to end first.
func (e *Engine) restoreData(ctx context.Context, src artifact.Source, task *progress.Task) error {
	var meta Meta
	if err := src.Get(MetaKey, &meta); err != nil && !errors.Is(err, artifact.ErrNotFound) {
		return fmt.Errorf("%s: metadata: %w", e.cfg.Component, err)
	}
	type job struct {
		s server
		c checked
	}
	var jobs []job
	files := e.checked
	if files == nil { // Restore without Preflight
		task.SetPhase("verify")
		var err error
		if files, err = e.checkFiles(ctx, src, meta, task); err != nil {
			return err
		}
	}
	for _, s := range e.servers() {
		if !hasFile(src, s.file) {
			continue
		}
		if e.cfg.SkipQueues && s.role == "queues" {
			e.log.Info("queue server left untouched (--skip-queues)", "addr", s.opts.Addr)
			continue
		}
		jobs = append(jobs, job{s, files[s.file]})
	}
	if len(jobs) == 0 {
		return errs.New(errs.Usage, "choose a snapshot that contains "+e.cfg.Component, "%s: nothing to restore in this snapshot", e.cfg.Component)
	}
	for _, j := range jobs {
		var err error
		if e.cfg.Mode == ModeFile && j.s.role == "server" {
			err = e.restoreFile(ctx, src, j.s, j.c, task)
		} else {
			err = e.replay(ctx, meta, src, j.s, j.c, task)
		}
		if err != nil {
			return err
		}
	}
	task.Done()
	return nil
}

// persistence is a server's save/appendonly configuration.
type persistence struct {
	Save       string `json:"save"`
	AppendOnly bool   `json:"appendonly"`
	Known      bool   `json:"known"` // CONFIG GET worked
}

func getPersistence(ctx context.Context, c *redis.Client) persistence {
	m, err := c.ConfigGet(ctx, "save").Result()
	if err != nil {
		return persistence{}
	}
	a, err := c.ConfigGet(ctx, "appendonly").Result()
	if err != nil {
		return persistence{}
	}
	return persistence{Save: m["save"], AppendOnly: a["appendonly"] == "yes", Known: true}
}

// replay restores one server with pipelined RESTORE commands, into the
// databases the target URLs name.
func (e *Engine) replay(ctx context.Context, meta Meta, src artifact.Source, s server, c checked, task *progress.Task) (err error) {
	m, err := e.dbMap(meta, s)
	if err != nil {
		return err
	}
	cl := client(s.opts, 0)
	defer cl.Close()
	prev := getPersistence(ctx, cl)
	if prev.Known {
		// AOF stays as it is: with appendonly yes the server logs the
		// FLUSHDB and every RESTORE as it runs them (as it does for
		// redis-cli --pipe), and restorePersistence makes that log durable
		// before the restore reports success. Save points are off for the
		// load: a BGSAVE fork in the middle would compete for the CPU and
		// write a half-restored dump.rdb.
		if err := cl.ConfigSet(ctx, "save", "").Err(); err != nil {
			return fmt.Errorf("%s: CONFIG SET save on %s: %w", e.cfg.Component, s.opts.Addr, err)
		}
		defer func() {
			if rerr := e.restorePersistence(context.WithoutCancel(ctx), cl, s, prev, task); err == nil {
				err = rerr
			}
		}()
	} else {
		e.log.Warn("CONFIG is not available (managed Redis?): AOF and save settings left as they are", "addr", s.opts.Addr)
	}
	defer e.sanitizeOn(ctx, cl, s)()
	task.SetPhase("flush " + s.file)
	kept, err := e.flush(ctx, s, m)
	if err != nil {
		return fmt.Errorf("%s: emptying %s: %w", e.cfg.Component, s.opts.Addr, err)
	}
	task.SetPhase("restore " + s.file)
	restored, expired, volatile, err := e.stream(ctx, src, s, m, c, task)
	if err != nil {
		return err
	}
	for db, n := range c.repeated {
		// A repeated key was written again over itself (or left out both
		// times, expired): the target may hold up to n keys fewer than
		// were acknowledged.
		if to, ok := m[db]; ok && n > 0 {
			volatile[to] += n
			e.log.Info("keys the snapshot holds more than once were restored once", "file", s.file, "db", db, "repeated", n)
		}
	}
	for _, d := range c.dbs.list() {
		if _, ok := m[d.DB]; !ok {
			e.log.Warn("a database of the snapshot that no URL of the component names was left out", "file", s.file, "db", d.DB, "keys", d.Keys)
		}
	}
	e.log.Info("keys restored", "file", s.file, "dbs", describeMap(m), "restored", restored, "expired_skipped", expired)
	return e.compareCounts(ctx, s, restored, kept, volatile)
}

// sanitizeOn turns on the server's own deep check of RESTORE payloads
// (sanitize-dump-payload yes, Redis 6.2+) for the restore, on top of the
// checks every value already passed here, and returns what puts the
// previous setting back. A server without the setting, or where CONFIG is
// not allowed, is restored with this tool's checks only.
func (e *Engine) sanitizeOn(ctx context.Context, cl *redis.Client, s server) func() {
	const key = "sanitize-dump-payload"
	m, err := cl.ConfigGet(ctx, key).Result()
	prev, ok := m[key]
	if err != nil || !ok {
		e.log.Info("the server does not offer sanitize-dump-payload (Redis older than 6.2, or CONFIG not allowed): values are sent as checked by 3scale-ops", "addr", s.opts.Addr)
		return func() {}
	}
	if prev == "yes" {
		return func() {}
	}
	if err := cl.ConfigSet(ctx, key, "yes").Err(); err != nil {
		e.log.Warn("CONFIG SET sanitize-dump-payload yes refused: values are sent as checked by 3scale-ops", "addr", s.opts.Addr, "error", err.Error())
		return func() {}
	}
	return func() {
		if err := cl.ConfigSet(context.WithoutCancel(ctx), key, prev).Err(); err != nil {
			e.log.Warn("could not put sanitize-dump-payload back", "addr", s.opts.Addr, "value", prev, "error", err.Error())
		}
	}
}

// flush empties the target databases the restore replaces (never the
// whole server: other databases may belong to someone else) and returns,
// per db, how many keys were deliberately kept (queues with SkipQueues).
func (e *Engine) flush(ctx context.Context, s server, m map[int]int) (map[int]int64, error) {
	kept := map[int]int64{}
	cl := client(s.opts, 0)
	defer cl.Close()
	info, err := readInfo(ctx, cl)
	if err != nil {
		return nil, err
	}
	var dbs []int
	for _, db := range m {
		dbs = append(dbs, db)
	}
	sort.Ints(dbs)
	for _, db := range dbs {
		if !e.cfg.SkipQueues {
			dc := client(s.opts, db)
			err := flushDB(ctx, dc)
			dc.Close()
			if err != nil {
				return nil, err
			}
			continue
		}
		dc := client(s.opts, db)
		if db == s.queueDB {
			kept[db] = info.Keyspace[db]
			e.log.Info("queue database left untouched (--skip-queues)", "db", db)
		} else if e.cfg.Component == SystemRedis {
			n, err := deleteExceptQueues(ctx, dc)
			kept[db] = n
			if err != nil {
				dc.Close()
				return nil, err
			}
		} else if err := flushDB(ctx, dc); err != nil {
			dc.Close()
			return nil, err
		}
		dc.Close()
	}
	return kept, nil
}

// flushDB empties the client's db. FLUSHDB ASYNC (Redis 4+) empties it at
// once and frees the memory in a background thread, so a large db does not
// block the server (and this restore) while it is freed; a server that
// does not know ASYNC gets a plain FLUSHDB.
func flushDB(ctx context.Context, c *redis.Client) error {
	err := c.FlushDBAsync(ctx).Err()
	if err == nil {
		return nil
	}
	if msg := strings.ToLower(err.Error()); !strings.Contains(msg, "syntax") && !strings.Contains(msg, "wrong number") {
		return err
	}
	return c.FlushDB(ctx).Err()
}

// deleteExceptQueues unlinks every key of the db but sidekiq's queues and
// returns how many queue keys it kept.
func deleteExceptQueues(ctx context.Context, c *redis.Client) (int64, error) {
	var kept int64
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, "", 1000).Result()
		if err != nil {
			return kept, err
		}
		var del []string
		for _, k := range keys {
			if IsSidekiqQueueKey([]byte(k)) {
				kept++
			} else {
				del = append(del, k)
			}
		}
		if len(del) > 0 {
			if err := c.Unlink(ctx, del...).Err(); err != nil {
				return kept, err
			}
		}
		if cursor = next; cursor == 0 {
			return kept, nil
		}
	}
}

// stream reads the file again and pipelines RESTORE for every live key.
func (e *Engine) stream(ctx context.Context, src artifact.Source, s server, m map[int]int, c checked, task *progress.Task) (restored map[int]int64, expired int64, volatile map[int]int64, err error) {
	rd, err := src.Open(ctx, s.file)
	if err != nil {
		return nil, 0, nil, err
	}
	defer rd.Close()
	rc, err := dialRaw(ctx, s.opts)
	if err != nil {
		return nil, 0, nil, connErr(e.cfg.Component, s.opts.Addr, err)
	}
	defer rc.Close()
	var items int64
	for _, d := range c.dbs.list() {
		if _, ok := m[d.DB]; ok {
			items += d.Keys
		}
	}
	task.SetTotal(c.bytes, items)
	p := NewParser(progress.Reader{R: &ctxReader{ctx: ctx, r: rd}, Task: task}, true)
	p.Strict = true // only values that pass the checks are sent
	r := newRestorer(rc, c.version, e.cfg.BatchKeys)
	cl := client(s.opts, 0)
	info, ierr := readInfo(ctx, cl)
	cl.Close()
	if major, minor := splitVersion(info.Version); ierr == nil && (major > 6 || major == 6 && minor >= 2) {
		r.setPXAT = true
	}
	volatile = map[int]int64{}
	now := time.Now().UnixMilli()
	for {
		en, perr := p.Next()
		if perr == io.EOF {
			break
		}
		if perr != nil {
			_, _ = r.finish()
			// The file verified a moment ago: it changed underneath, or the
			// storage failed. The target is now partly restored.
			return nil, 0, nil, fmt.Errorf("%s: reading %s during the restore (the target is partly restored; run the restore again): %w", e.cfg.Component, s.file, perr)
		}
		if en.Kind != KindKey {
			continue
		}
		db, ok := m[en.DB]
		if !ok || e.skipKey(s, db, en.Key) {
			continue
		}
		en.DB = db
		if en.ExpireAt != 0 { // negative: before 1970, expired too
			if en.ExpireAt <= now {
				expired++
				continue
			}
			volatile[en.DB]++
		}
		if err := r.restore(en); err != nil {
			_, _ = r.finish()
			return nil, 0, nil, fmt.Errorf("%s: restoring %s into %s: %w", e.cfg.Component, s.file, s.opts.Addr, err)
		}
		task.AddItems(1)
	}
	restored, err = r.finish()
	if err != nil {
		return nil, 0, nil, fmt.Errorf("%s: restoring %s into %s: %w", e.cfg.Component, s.file, s.opts.Addr, err)
	}
	return restored, expired, volatile, nil
}

// restorePersistence makes the restored data durable in the AOF (when
// the server has appendonly yes) and puts the save points back.
func (e *Engine) restorePersistence(ctx context.Context, cl *redis.Client, s server, prev persistence, task *progress.Task) error {
	if prev.AppendOnly {
		task.SetPhase("aof fsync")
		if err := syncAOF(ctx, cl, s.opts); err != nil {
			return fmt.Errorf("%s: making the restored data durable in the AOF of %s: %w", e.cfg.Component, s.opts.Addr, err)
		}
	}
	if err := cl.ConfigSet(ctx, "save", prev.Save).Err(); err != nil {
		return fmt.Errorf("%s: CONFIG SET save on %s: %w", e.cfg.Component, s.opts.Addr, err)
	}
	return nil
}

// aofSyncKey is written and deleted in one transaction by syncAOF: a write
// the server must log, which no reader ever sees.
const aofSyncKey = "3scale-ops:aof-sync"

// syncAOF returns once every write of the restore is on disk in the AOF.
// With appendfsync always the server writes and fsyncs the AOF before it
// answers a write, and an fsync covers every earlier write to the file; so
// one write under appendfsync always (put back afterwards) makes the whole
// restore durable, where everysec could lose its last second. An AOF
// rewrite the server started by itself during the load (auto-aof-rewrite)
// is waited for, and the last AOF write must have succeeded.
func syncAOF(ctx context.Context, cl *redis.Client, opts *redis.Options) error {
	m, err := cl.ConfigGet(ctx, "appendfsync").Result()
	if err != nil {
		return err
	}
	if prev := m["appendfsync"]; prev != "always" {
		if err := cl.ConfigSet(ctx, "appendfsync", "always").Err(); err != nil {
			return err
		}
		defer func() { _ = cl.ConfigSet(context.WithoutCancel(ctx), "appendfsync", prev).Err() }()
	}
	db := client(opts, opts.DB)
	defer db.Close()
	if _, err := db.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, aofSyncKey, "1", 0)
		p.Del(ctx, aofSyncKey)
		return nil
	}); err != nil {
		return err
	}
	defer fasterCron(ctx, cl)()
	if err := waitAOFRewrite(ctx, cl); err != nil {
		return err
	}
	info, err := readInfo(ctx, cl)
	if err != nil {
		return err
	}
	if st := info.AOF["aof_last_write_status"]; st != "" && st != "ok" {
		return fmt.Errorf("aof_last_write_status:%s (see the Redis log; check the disk)", st)
	}
	return nil
}

// fasterCron raises the server's hz to 100 if it is lower, and returns
// what puts it back. A server that refuses CONFIG keeps its hz.
func fasterCron(ctx context.Context, cl *redis.Client) func() {
	m, err := cl.ConfigGet(ctx, "hz").Result()
	prev, ok := m["hz"]
	if n, perr := strconv.Atoi(prev); err != nil || !ok || perr != nil || n >= 100 {
		return func() {}
	}
	if cl.ConfigSet(ctx, "hz", "100").Err() != nil {
		return func() {}
	}
	return func() { _ = cl.ConfigSet(context.WithoutCancel(ctx), "hz", prev).Err() }
}

// waitAOFRewrite polls INFO persistence until no AOF rewrite is running or
// scheduled, and checks that the last one succeeded. The poll starts at
// 2 ms and doubles up to 50 ms: a small dataset's rewrite takes tens of
// milliseconds, a large one's seconds.
func waitAOFRewrite(ctx context.Context, cl *redis.Client) error {
	wait := 2 * time.Millisecond
	for {
		info, err := readInfo(ctx, cl)
		if err != nil {
			return err
		}
		a := info.AOF
		if a["aof_rewrite_in_progress"] == "0" && a["aof_rewrite_scheduled"] == "0" && a["loading"] != "1" {
			if st := a["aof_last_bgrewrite_status"]; st != "" && st != "ok" {
				return fmt.Errorf("aof_last_bgrewrite_status:%s (see the Redis log)", st)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// compareCounts checks DBSIZE of each db against what was restored (plus
// what was kept). Up to volatile keys may be missing: keys with an expiry
// may expire meanwhile, and a key an older snapshot holds twice was
// acknowledged twice.
func (e *Engine) compareCounts(ctx context.Context, s server, restored, kept, volatile map[int]int64) error {
	dbs := map[int]bool{}
	for db := range restored {
		dbs[db] = true
	}
	for db := range kept {
		dbs[db] = true
	}
	var diffs []string
	for db := range dbs {
		c := client(s.opts, db)
		n, err := c.DBSize(ctx).Result()
		c.Close()
		if err != nil {
			return err
		}
		want := restored[db] + kept[db]
		if n > want || n < want-volatile[db] {
			diffs = append(diffs, fmt.Sprintf("db %d: %d keys, expected %d", db, n, want))
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		return errs.New(errs.Mismatch, "something else wrote to the target during the restore, or keys were evicted (check maxmemory); run the restore again",
			"%s: key counts on %s differ after the restore: %s", e.cfg.Component, s.opts.Addr, strings.Join(diffs, "; "))
	}
	return nil
}

// Restore restores the artifact and reports what it wrote (the counts its
// progress task kept).
func (e *Engine) Restore(ctx context.Context, src artifact.Source, task *progress.Task) (artifact.Result, error) {
	if task == nil {
		task = progress.NewTask(e.Name())
	}
	if err := e.restoreData(ctx, src, task); err != nil {
		return artifact.Result{}, err
	}
	st := task.Stats()
	return artifact.Result{Items: st.Items, Bytes: st.Bytes, Summary: fmt.Sprintf("%d keys, %d bytes", st.Items, st.Bytes)}, nil
}
