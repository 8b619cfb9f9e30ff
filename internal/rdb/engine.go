package rdb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/component"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/redact"
	"github.com/redis/go-redis/v9"
)

// Component names.
const (
	BackendRedis = component.BackendRedis
	SystemRedis  = component.SystemRedis
)

// Restore modes.
const (
	ModeReplay = "replay"
	ModeFile   = "file"
)

// MetaKey is the component metadata key holding a Meta.
const MetaKey = "redis"

// Config configures one engine: one component, its server(s), options.
type Config struct {
	Component string         // BackendRedis or SystemRedis
	Server    *redis.Options // the Redis server (backend-redis: the storage URL, db 0)
	// Queues is backend-redis's queue database (REDIS_QUEUES_URL). nil or
	// the same address as Server: db Queues.DB (default 1) of that server.
	// Another address: a second server, saved as "queues.rdb".
	Queues *redis.Options

	// SkipQueues leaves the job queues out: backend-redis's queue db (or
	// server), system-redis's sidekiq queue keys. Applied at backup time on
	// the DUMP fallback path, and always at restore time.
	SkipQueues bool
	// Fallback forces SCAN+DUMP even when SYNC would work.
	Fallback bool
	// Transfer is how the server sends its RDB over SYNC: TransferAuto
	// (default), TransferDisk or TransferDiskless (see transfer.go).
	Transfer string

	Mode      string         // ModeReplay (default) or ModeFile
	File      FileModeTarget // file mode: the Redis pod of Server
	Journal   Journal        // file mode: step journal for resume (nil: in memory)
	Overwrite bool           // consent to replace a non-empty target
	BatchKeys int            // commands (RESTORE, SET, an MSET of up to 128 keys) per pipelined batch (default 500)
	Logger    *slog.Logger
	// Master, when set (a server found through Sentinel), asks again for
	// the current master of Server after the backup: a different answer
	// means a failover happened during it, and the backup fails.
	Master func(ctx context.Context) (string, error)
}

// Engine backs up and restores one Redis component.
type Engine struct {
	cfg     Config
	log     *slog.Logger
	checked map[string]checked // what Preflight read, per file
}

// New checks cfg and returns an engine.
func New(cfg Config) (*Engine, error) {
	if cfg.Component != BackendRedis && cfg.Component != SystemRedis {
		return nil, errs.UsageError("use backend-redis or system-redis", "redis engine: unknown component %q", cfg.Component)
	}
	if cfg.Server == nil {
		return nil, errs.UsageError("give the Redis URL of "+cfg.Component, "redis engine %s: no server configured", cfg.Component)
	}
	switch cfg.Mode {
	case "":
		cfg.Mode = ModeReplay
	case ModeReplay, ModeFile:
	default:
		return nil, errs.UsageError("use --redis-mode replay or file", "unknown redis restore mode %q", cfg.Mode)
	}
	t, err := checkTransfer(cfg.Transfer)
	if err != nil {
		return nil, err
	}
	cfg.Transfer = t
	if cfg.BatchKeys <= 0 {
		cfg.BatchKeys = 500
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	redact.Add(cfg.Server.Password)
	if cfg.Queues != nil {
		redact.Add(cfg.Queues.Password)
	}
	return &Engine{cfg: cfg, log: cfg.Logger.With("component", cfg.Component)}, nil
}

// Name is the component name.
func (e *Engine) Name() string { return e.cfg.Component }

// server is one Redis server of the component and the file it goes to.
type server struct {
	file    string // "dump.rdb", "queues.rdb"
	role    string // "server" (every db) or "queues" (a separate queue server)
	opts    *redis.Options
	queueDB int // backend-redis queue db on this server; -1 none
}

func (e *Engine) servers() []server {
	main := server{file: "dump.rdb", role: "server", opts: e.cfg.Server, queueDB: -1}
	if e.cfg.Component != BackendRedis {
		return []server{main}
	}
	q := e.cfg.Queues
	if q == nil || q.Addr == e.cfg.Server.Addr {
		main.queueDB = 1
		if q != nil {
			main.queueDB = q.DB
		}
		return []server{main}
	}
	return []server{main, {file: "queues.rdb", role: "queues", opts: q, queueDB: -1}}
}

// skipKey reports whether SkipQueues leaves key of db out.
func (e *Engine) skipKey(s server, db int, key []byte) bool {
	if !e.cfg.SkipQueues {
		return false
	}
	if s.role == "queues" || db == s.queueDB {
		return true
	}
	return e.cfg.Component == SystemRedis && IsSidekiqQueueKey(key)
}

// IsSidekiqQueueKey reports whether key holds sidekiq's pending jobs:
// "queues" and "queue:NAME", with or without a namespace prefix
// ("ns:queue:default").
func IsSidekiqQueueKey(key []byte) bool {
	k := string(key)
	return k == "queues" || strings.HasSuffix(k, ":queues") ||
		strings.HasPrefix(k, "queue:") || strings.Contains(k, ":queue:")
}

// Meta is the component metadata recorded at backup time.
type Meta struct {
	Component  string     `json:"component"`
	SkipQueues bool       `json:"skip_queues,omitempty"`
	Files      []FileMeta `json:"files"`
}

// FileMeta describes one saved server.
type FileMeta struct {
	File string `json:"file"`
	Role string `json:"role"`
	// URLDB is the database the component's URL named at backup (the
	// storage db; the queue db for the "queues" file); QueueDB is
	// backend-redis's queue db on the same server. A restore maps them
	// onto the databases the target URLs name.
	URLDB        *int             `json:"url_db,omitempty"`
	QueueDB      *int             `json:"queue_db,omitempty"`
	Path         string           `json:"path"` // "sync" or "dump-fallback"
	PointInTime  bool             `json:"point_in_time"`
	Transfer     string           `json:"transfer,omitempty"` // SYNC payload form
	RedisVersion string           `json:"redis_version"`
	RDBVersion   int              `json:"rdb_version"`
	ReplID       string           `json:"repl_id,omitempty"`
	ReplOffset   int64            `json:"repl_offset,omitempty"`
	Bytes        int64            `json:"bytes"`
	DBs          []DBStats        `json:"dbs"`
	InfoKeyspace map[string]int64 `json:"info_keyspace"` // "db0" → keys, at start
	SkippedKeys  int64            `json:"skipped_keys,omitempty"`
	// RepeatedKeys counts the keys SCAN returned more than once (SCAN+DUMP
	// only); each was written once.
	RepeatedKeys int64    `json:"repeated_keys,omitempty"`
	Notes        []string `json:"notes,omitempty"`
}

// DBStats counts the keys of one database.
type DBStats struct {
	DB      int              `json:"db"`
	Keys    int64            `json:"keys"`
	Expires int64            `json:"expires"`
	Types   map[string]int64 `json:"types"`
}

// tally accumulates DBStats while entries stream by (cheaply: arrays
// indexed by type byte, maps only when listed).
type tally map[int]*dbTally

type dbTally struct {
	keys, expires int64
	types         [256]int64
}

func (t tally) add(db int, typ byte, expires bool) {
	s := t[db]
	if s == nil {
		s = &dbTally{}
		t[db] = s
	}
	s.keys++
	if expires {
		s.expires++
	}
	s.types[typ]++
}

func (t tally) list() []DBStats {
	out := make([]DBStats, 0, len(t))
	for db, s := range t {
		d := DBStats{DB: db, Keys: s.keys, Expires: s.expires, Types: map[string]int64{}}
		for typ, n := range s.types {
			if n > 0 {
				d.Types[TypeName(byte(typ))] += n
			}
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DB < out[j].DB })
	return out
}

func (t tally) total() (n int64) {
	for _, s := range t {
		n += s.keys
	}
	return n
}

// serverInfo is what INFO says about a server.
type serverInfo struct {
	Version  string
	Keyspace map[int]int64 // db → keys
	Expires  map[int]int64
	AOF      map[string]string // persistence section
}

func readInfo(ctx context.Context, c *redis.Client) (serverInfo, error) {
	si := serverInfo{Keyspace: map[int]int64{}, Expires: map[int]int64{}, AOF: map[string]string{}}
	s, err := c.Info(ctx, "server", "keyspace", "persistence").Result()
	if err != nil {
		return si, err
	}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if !ok {
			continue
		}
		switch {
		case k == "redis_version":
			si.Version = v
		case strings.HasPrefix(k, "db"):
			db, err := strconv.Atoi(k[2:])
			if err != nil {
				continue
			}
			for _, f := range strings.Split(v, ",") {
				fk, fv, _ := strings.Cut(f, "=")
				n, _ := strconv.ParseInt(fv, 10, 64)
				switch fk {
				case "keys":
					si.Keyspace[db] = n
				case "expires":
					si.Expires[db] = n
				}
			}
		default:
			si.AOF[k] = v
		}
	}
	return si, nil
}

func (si serverInfo) dbs() []int {
	out := make([]int, 0, len(si.Keyspace))
	for db := range si.Keyspace {
		out = append(out, db)
	}
	sort.Ints(out)
	return out
}

func keyspaceMap(m map[int]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for db, n := range m {
		out["db"+strconv.Itoa(db)] = n
	}
	return out
}

// client opens a go-redis client on opts' server, database db.
func client(opts *redis.Options, db int) *redis.Client {
	o := *opts
	o.DB = db
	if o.ReadTimeout == 0 {
		o.ReadTimeout = 30 * time.Second
	}
	return redis.NewClient(&o)
}

// connErr turns a connection failure into an error naming the server and
// what to check.
func connErr(component, addr string, err error) error {
	code, hint := errs.Failure, "check that the Redis server is reachable and the URL/password are right (--"+component+"-url)"
	var ce *errs.Error
	if errors.As(err, &ce) && ce.Hint != "" { // a TLS verification error knows the secret key to fix
		code, hint = ce.Code, ce.Hint
	}
	return errs.Wrap(code, fmt.Errorf("%s: redis %s: %w", component, addr, err), hint)
}
