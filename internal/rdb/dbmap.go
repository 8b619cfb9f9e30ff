package rdb

import (
	"fmt"
	"sort"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/errs"
)

// A snapshot file holds every database of the source server; the
// component uses only the ones its URLs name (backend-redis: the storage
// db and the queue db; system-redis: the URL's db). A restore writes those
// into the databases the target URLs name, and acts (emptiness check,
// flush) on those databases only, so a target server shared with other
// users keeps their databases.

// intp returns a pointer to a copy of i.
func intp(i int) *int { return &i }

// fileMeta returns the metadata recorded for file, if any.
func fileMeta(m Meta, file string) (FileMeta, bool) {
	for _, f := range m.Files {
		if f.File == file {
			return f, true
		}
	}
	return FileMeta{}, false
}

// dbMap maps the source databases the component used onto the target's:
// source db → target db. Snapshots that do not record the source's dbs
// (taken before they were recorded) map the target's dbs onto the same
// numbers.
func (e *Engine) dbMap(m Meta, s server) (map[int]int, error) {
	fm, _ := fileMeta(m, s.file)
	out := map[int]int{}
	src := s.opts.DB
	if fm.URLDB != nil {
		src = *fm.URLDB
	}
	out[src] = s.opts.DB
	if s.queueDB >= 0 {
		q := s.queueDB
		if fm.QueueDB != nil {
			q = *fm.QueueDB
		}
		if q == src {
			// The source kept queues and storage in one db.
			if s.queueDB != s.opts.DB {
				return nil, errs.New(errs.Usage, "give the queue URL the same db as the storage URL, as the source had",
					"%s: the snapshot's storage and queues share db %d, the targets name db %d and db %d", e.cfg.Component, src, s.opts.DB, s.queueDB)
			}
			return out, nil
		}
		if s.queueDB == s.opts.DB {
			return nil, errs.New(errs.Usage, "give the storage and queue URLs different dbs (e.g. /0 and /1)",
				"%s: the storage and queue targets both name db %d of %s", e.cfg.Component, s.opts.DB, s.opts.Addr)
		}
		out[q] = s.queueDB
	}
	return out, nil
}

// targetDBs are the target's databases the restore writes (the queue db
// is left alone with SkipQueues), sorted.
func (e *Engine) targetDBs(s server, m map[int]int) []int {
	var out []int
	for _, t := range m {
		if e.cfg.SkipQueues && t == s.queueDB {
			continue
		}
		out = append(out, t)
	}
	sort.Ints(out)
	return out
}

// identity reports whether every mapped db keeps its number.
func identity(m map[int]int) bool {
	for s, t := range m {
		if s != t {
			return false
		}
	}
	return true
}

// checkTarget is the preflight of one target server: the databases the
// restore replaces must be empty unless Overwrite is set, and file mode,
// which replaces the whole server with the snapshot's file, needs the
// dbs to keep their numbers and refuses a server other data lives on.
func (e *Engine) checkTarget(meta Meta, s server, keyspace map[int]int64) error {
	m, err := e.dbMap(meta, s)
	if err != nil {
		return err
	}
	replaced := map[int]bool{}
	for _, db := range e.targetDBs(s, m) {
		replaced[db] = true
	}
	fileMode := e.cfg.Mode == ModeFile && s.role == "server"
	if fileMode {
		if !identity(m) {
			return errs.New(errs.Usage, "use --redis-mode replay, which writes into the databases the target URLs name",
				"%s: file mode loads the snapshot's dump.rdb as it is, but the target URLs name other databases (%s)", e.cfg.Component, describeMap(m))
		}
		if fm, ok := fileMeta(meta, s.file); ok {
			for _, d := range fm.DBs {
				replaced[d.DB] = true
			}
		}
		var other []string
		for _, db := range sortedDBs(keyspace) {
			if keyspace[db] > 0 && !replaced[db] {
				other = append(other, fmt.Sprintf("db %d: %d keys", db, keyspace[db]))
			}
		}
		if len(other) > 0 {
			return errs.New(errs.Usage, "use --redis-mode replay, which replaces only the databases the target URLs name",
				"%s: file mode replaces the whole server %s, which also holds other databases (%s)", e.cfg.Component, s.opts.Addr, strings.Join(other, ", "))
		}
	}
	var busy []string
	for _, db := range sortedDBs(keyspace) {
		if keyspace[db] > 0 && replaced[db] {
			busy = append(busy, fmt.Sprintf("db %d: %d keys", db, keyspace[db]))
		}
	}
	if len(busy) > 0 && !e.cfg.Overwrite {
		return errs.New(errs.Usage, "restore into empty databases, or consent to replacing their data with --drop-existing (only these databases are emptied)",
			"%s: target %s is not empty (%s)", e.cfg.Component, s.opts.Addr, strings.Join(busy, ", "))
	}
	return nil
}

func sortedDBs(k map[int]int64) []int {
	out := make([]int, 0, len(k))
	for db := range k {
		out = append(out, db)
	}
	sort.Ints(out)
	return out
}

func describeMap(m map[int]int) string {
	src := make([]int, 0, len(m))
	for s := range m {
		src = append(src, s)
	}
	sort.Ints(src)
	parts := make([]string, len(src))
	for i, s := range src {
		parts[i] = fmt.Sprintf("db %d → db %d", s, m[s])
	}
	return strings.Join(parts, ", ")
}
