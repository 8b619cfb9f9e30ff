// Package mysqldump is the native engine for system-mysql (Porta on MySQL
// or MariaDB). Backup takes one consistent logical dump with parallel
// workers (a brief global read lock while every worker opens a
// consistent-snapshot transaction, or a single transaction when the user
// lacks the privilege) and writes plain SQL files that the `mysql` client
// loads: schema/tables.sql (pre-data), data/<table>.<n>.sql (multi-row
// INSERTs by primary-key range), schema/post-data.sql (views, routines,
// triggers, DEFINER removed). Restore loads them back in parallel with
// secondary indexes deferred and compares row counts; Export turns them
// into one SQL stream.
//
// It talks only to the database given to it: it never imports kube, repo
// or the CLI, never prints, never puts a password in an error or a log
// line, and never holds a table in memory (rows are streamed).
package mysqldump

import (
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/component"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/redact"
	"github.com/go-sql-driver/mysql"
)

// Component is the snapshot component this engine backs up.
const Component = component.SystemMySQL

// MetaKey is the metadata key (artifact.Sink.Set) holding Meta.
const MetaKey = "mysql"

// File names inside the component.
const (
	PreDataFile  = "schema/tables.sql"
	PostDataFile = "schema/post-data.sql"
)

// Options configure an Engine. Only DSN is required.
type Options struct {
	// DSN is the go-sql-driver DSN of the database to dump or load into
	// (config.DB.MySQLDSN()); it must name the database.
	DSN string
	// Workers is the number of parallel connections (default 4).
	Workers int
	// ChunkRows and ChunkBytes bound one data file: a table with a
	// single integer primary key is split into primary-key ranges of
	// about this many rows or bytes (defaults 500,000 rows, 64 MiB).
	ChunkRows  int64
	ChunkBytes int64
	// StatementBytes bounds one multi-row INSERT (default 1 MiB); a
	// longer row gets a statement of its own.
	StatementBytes int
	// DropExisting consents to dropping the target's existing tables,
	// views, triggers and routines before a restore.
	DropExisting bool
	// SkipBinlog turns sql_log_bin off in the loading sessions when the
	// user is permitted to (restore --skip-binlog): the tables, rows,
	// indexes and post-data objects are not binlogged, so replicas do not
	// replay the load (the CREATE/DROP DATABASE before it still is).
	SkipBinlog bool
	// KeepIndexes loads tables with all their indexes instead of adding
	// secondary indexes after the data.
	KeepIndexes bool
	// Exclude names objects to leave out of the backup, as "KIND NAME"
	// (table, view, trigger, procedure, function, event, sequence, or
	// the kind an unsupported object is listed under); see exclude.go.
	Exclude []string
	// Logger receives warnings (default slog.Default()).
	Logger *slog.Logger
}

// Engine dumps and loads one MySQL/MariaDB database.
type Engine struct {
	opts Options
	cfg  *mysql.Config
}

// New validates opts. It does not connect.
func New(opts Options) (*Engine, error) {
	cfg, err := mysql.ParseDSN(opts.DSN)
	if err != nil {
		return nil, errs.UsageError("give the system database as mysql://user:password@host:port/database",
			"system-mysql: invalid connection string: %s", redact.String(err.Error()))
	}
	if cfg.DBName == "" {
		return nil, errs.UsageError("add the database name to the URL, e.g. mysql://root:…@system-mysql/system",
			"system-mysql: the connection does not name a database")
	}
	redact.Add(cfg.Passwd)
	cfg.ParseTime = false
	cfg.MultiStatements = false
	cfg.InterpolateParams = false
	cfg.ClientFoundRows = false
	cfg.Loc = nil
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	delete(cfg.Params, "charset")
	cfg.Collation = "utf8mb4_general_ci"
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.ChunkRows <= 0 {
		opts.ChunkRows = 500_000
	}
	if opts.ChunkBytes <= 0 {
		opts.ChunkBytes = 64 << 20
	}
	if opts.StatementBytes <= 0 {
		opts.StatementBytes = 1 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	cfg.Logger = driverLogger{opts.Logger}
	return &Engine{opts: opts, cfg: cfg}, nil
}

// driverLogger sends the driver's own messages to the logger (at debug
// level: the errors they describe are returned anyway), never to stderr.
type driverLogger struct{ l *slog.Logger }

func (d driverLogger) Print(v ...any) {
	d.l.Debug("system-mysql driver: " + redact.String(strings.TrimSpace(fmt.Sprint(v...))))
}

// Name is the component name.
func (e *Engine) Name() string { return Component }

// Database is the name of the database the engine works on.
func (e *Engine) Database() string { return e.cfg.DBName }

func (e *Engine) open() (*sql.DB, error) {
	c, err := mysql.NewConnector(e.cfg)
	if err != nil {
		return nil, e.wrap(err, "connect")
	}
	db := sql.OpenDB(c)
	db.SetMaxIdleConns(e.opts.Workers + 2)
	return db, nil
}

// wrap turns a driver error into one that names the server and database
// and never shows a password.
func (e *Engine) wrap(err error, what string) error {
	if err == nil {
		return nil
	}
	if errs.Canceled(err) {
		return err
	}
	code, hint := errs.Failure, "check that the server is reachable and the user may read the database, then run the command again"
	var ce *errs.Error
	if errors.As(err, &ce) && ce.Hint != "" { // a TLS verification error knows the secret key to fix
		code, hint = ce.Code, ce.Hint
	}
	return errs.Wrap(code, fmt.Errorf("system-mysql %s/%s: %s: %s", e.cfg.Addr, e.cfg.DBName, what, redact.String(err.Error())), hint)
}

// Meta is the component metadata: how and when the dump was taken and
// what it holds, in load order.
type Meta struct {
	Format      int         `json:"format"`
	Database    string      `json:"database"`
	Charset     string      `json:"charset"`
	Collation   string      `json:"collation"`
	Version     string      `json:"server_version"`
	Flavor      string      `json:"flavor"` // "mariadb" or "mysql"
	Consistency Consistency `json:"consistency"`
	Tables      []TableMeta `json:"tables"` // load order
	PreData     FileMeta    `json:"pre_data"`
	PostData    FileMeta    `json:"post_data"`
	Views       []string    `json:"views,omitempty"`
	Triggers    []string    `json:"triggers,omitempty"`
	Routines    []string    `json:"routines,omitempty"` // "PROCEDURE name" / "FUNCTION name"
	Events      []string    `json:"events,omitempty"`   // "EVENT name"
	// Definers are the DEFINER clauses of post-data's CREATE statements,
	// in file order; restore puts each back when permitted.
	Definers   []string `json:"definers,omitempty"`
	Sequences  []string `json:"sequences,omitempty"`
	Collations []string `json:"collations,omitempty"`
	// Excluded are the objects left out as asked (--exclude-object),
	// with the triggers of excluded tables.
	Excluded []string `json:"excluded,omitempty"`
}

// Consistency records the point in time the dump represents.
type Consistency struct {
	// Method: "ftwrl" (global read lock, parallel snapshots),
	// "single-transaction" (one connection; no RELOAD privilege) .
	Method     string `json:"method"`
	Workers    int    `json:"workers"`
	BinlogFile string `json:"binlog_file,omitempty"`
	BinlogPos  uint64 `json:"binlog_pos,omitempty"`
	GTID       string `json:"gtid,omitempty"`
	Warning    string `json:"warning,omitempty"`
}

// TableMeta is one table's data files.
type TableMeta struct {
	Name  string     `json:"name"`
	Rows  int64      `json:"rows"`
	Files []FileMeta `json:"files"`
	// Versioned: a system-versioned table; Rows counts its history too.
	Versioned bool `json:"versioned,omitempty"`
}

// FileMeta identifies one file and what a complete copy of it looks like.
type FileMeta struct {
	Name   string `json:"name"`
	Rows   int64  `json:"rows,omitempty"`
	Bytes  int64  `json:"bytes"`
	CRC32C uint32 `json:"crc32c"`
}

const metaFormat = 1

var versionRe = regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)`)

// parseVersion gives flavor and numeric version of a VERSION() string.
func parseVersion(v string) (flavor string, nums [3]int) {
	flavor = "mysql"
	if strings.Contains(strings.ToLower(v), "mariadb") {
		flavor = "mariadb"
	}
	if m := versionRe.FindStringSubmatch(v); m != nil {
		for i := range 3 {
			nums[i], _ = strconv.Atoi(m[i+1])
		}
	}
	return flavor, nums
}

// quoteIdent quotes a MySQL identifier with backticks.
func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// quoteString quotes s as a SQL string literal.
func quoteString(s string) string { return string(appendString(nil, []byte(s))) }
