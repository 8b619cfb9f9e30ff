// Package pgdump is the PostgreSQL engine of 3scale-ops: it dumps zync's
// database consistently — one exported snapshot shared by pg_dump, which
// writes the schema (pre-data and post-data, in pg_depend order), and by
// parallel COPY workers, which write the rows — into artifact files that
// psql can load by hand, and loads them back in parallel (schema, data,
// then indexes and keys in parallel, then the rest of post-data, sequence
// values and ANALYZE).
//
// pg_dump is the only program it runs (schema only, never data, the
// password in the environment); it never runs psql, never imports
// Kubernetes, the repository or the CLI, never prints, and never puts a
// password in an error or a log line. Restore touches no table before
// every artifact has been read back and checked.
package pgdump

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/component"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/redact"
)

// Component is the name of the component this engine backs up.
const Component = component.ZyncPostgres

// FormatVersion is written to the "format" metadata key; Restore refuses
// artifacts from a newer layout. Format 1 held a schema rebuilt from the
// catalogs (post-data in marked steps); format 2 holds pg_dump's sections
// and the large objects.
const FormatVersion = 2

// Artifact file names inside the component.
const (
	FilePreData      = "schema/pre-data.sql"     // pg_dump --section=pre-data: every object data needs
	FilePostData     = "schema/post-data.sql"    // pg_dump --section=post-data: keys, indexes, triggers, rules, policies, refreshes
	FileSequences    = "schema/sequences.sql"    // setval for every sequence, materialized view refreshes, large object comments
	FileLargeObjects = "data/large-objects.copy" // (oid, bytea) rows, COPY text format
	dataDir          = "data/"                   // data/<schema>.<table>.<chunk>.copy (COPY text format)
	appDump          = "3scale-ops-pgdump"       // application_name of dump sessions
	appLoad          = "3scale-ops-pgload"       // application_name of load sessions
	stepMarker       = "-- 3scale-ops step: "    // starts every statement of post-data.sql
)

// Engine dumps and loads one PostgreSQL database.
type Engine struct {
	// URL is the postgres:// connection URL (config.DB.PostgresURL()).
	URL string
	// Config, when set, is used (copied) instead of parsing URL: it
	// carries what a URL cannot, such as TLS settings held in memory.
	Config *pgx.ConnConfig
	// TLS is what pg_dump needs for the same connection (see TLS).
	TLS *TLS
	// Parallel is the number of worker connections (default 4).
	Parallel int
	// ChunkPages splits tables larger than this many 8 KiB pages into
	// ctid ranges dumped and loaded in parallel (default 8192 = 64 MiB;
	// needs PostgreSQL 14 or later on the source).
	ChunkPages int64
	// DropExisting is the user's consent for Restore to drop every table,
	// view, sequence, function and type of the target's schemas first.
	DropExisting bool
	// MaintenanceWorkMem is set on the sessions that build indexes
	// (default "128MB").
	MaintenanceWorkMem string
	// PgDump is the pg_dump binary that writes the schema; empty means
	// $THREESCALE_OPS_PG_DUMP, then the newest versioned install
	// (/usr/lib/postgresql/N/bin, /usr/pgsql-N/bin), then PATH. Its major
	// version must be at least the server's.
	PgDump string
	// WithGrants applies the snapshot's GRANT/REVOKE statements on
	// restore (they are always recorded); by default, as with
	// --no-owner, the restoring user's privileges are all there is.
	WithGrants bool
	// Exclude names objects to leave out of the backup ("table
	// SCHEMA.NAME", "subscription NAME", "security-label OBJECT"); the
	// backup refuses objects a restore cannot reproduce unless excluded.
	Exclude []string
	// Logger receives progress notes; nil means slog.Default().
	Logger *slog.Logger
	// ComponentName is the snapshot component the engine backs up
	// (default Component): system-mysql when the system database is
	// PostgreSQL. Errors name it.
	ComponentName string

	// checked is the source whose every artifact the last Preflight read
	// back and found sound; a Restore of that same source does not read
	// them back again.
	checkedMu sync.Mutex
	checked   artifact.Source
}

// New returns an engine for the database at url, registering its
// password for redaction.
func New(url string) *Engine {
	redact.AddURL(url)
	return &Engine{URL: url, PgDump: os.Getenv(EnvPgDump)}
}

// Name implements the component engine contract: Component, or the
// component the engine was built for (ComponentName).
func (e *Engine) Name() string {
	if e.ComponentName != "" {
		return e.ComponentName
	}
	return Component
}

// named makes err name the engine's component (errors are written for
// zync-postgres, the engine's first component).
func (e *Engine) named(err error) error { return renamed(err, e.Name()) }

// systemWords turn zync's connection advice into the system database's.
var systemWords = strings.NewReplacer(Component, component.SystemMySQL,
	"--zync-db-url or the zync secret", "--system-db-url or the system-database secret",
	"zync secret or --zync-db-url", "system-database secret or --system-db-url",
	"the zync database URL", "the system database URL",
	"give the zync database as", "give the system database as",
	"zync and zync-que must be scaled to 0", "system-app and system-sidekiq must be scaled to 0")

func renamed(err error, name string) error {
	if err == nil || name == Component {
		return err
	}
	r := strings.NewReplacer(Component, name)
	if name == component.SystemMySQL {
		r = systemWords
	}
	return errs.Wrap(errs.Code(err), &renamedError{msg: r.Replace(err.Error()), err: err}, r.Replace(errs.Hint(err)))
}

type renamedError struct {
	msg string
	err error
}

func (r *renamedError) Error() string { return r.msg }
func (r *renamedError) Unwrap() error { return r.err }

func (e *Engine) parallel() int {
	if e.Parallel > 0 {
		return e.Parallel
	}
	return 4
}

func (e *Engine) chunkPages() int64 {
	if e.ChunkPages > 0 {
		return e.ChunkPages
	}
	return 8192
}

func (e *Engine) log() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.Default()
}

// Meta is the component metadata recorded by Backup (one key per field).
type Meta struct {
	Format           int      `json:"format"`
	ServerVersion    string   `json:"server_version"`
	ServerVersionNum int      `json:"server_version_num"`
	Database         string   `json:"database"`
	Snapshot         string   `json:"snapshot"`
	LSN              string   `json:"lsn"`
	Extensions       []string `json:"extensions"`
	Tables           []Table  `json:"tables"` // in load order (largest first)
	// Format 2 and later:
	PgDumpVersion int       `json:"pg_dump_version"`
	Encoding      string    `json:"encoding"` // of the source database, for creating a missing target
	Collate       string    `json:"collate"`
	Ctype         string    `json:"ctype"`
	LargeObjects  *DataFile `json:"large_objects"` // nil when the database has none
	Excluded      []string  `json:"excluded"`      // objects left out as asked (--exclude-object)
}

// Table is one dumped table: its COPY column list and its data files.
type Table struct {
	Schema  string     `json:"schema"`
	Name    string     `json:"name"`
	Ident   string     `json:"ident"`   // quoted, schema-qualified
	Columns string     `json:"columns"` // quoted column list for COPY
	Rows    int64      `json:"rows"`
	Files   []DataFile `json:"files"`
}

// DataFile is one COPY text file holding a ctid range of a table.
type DataFile struct {
	Name  string `json:"name"`
	Rows  int64  `json:"rows"`
	Bytes int64  `json:"bytes"`
}

// connect opens a session with application_name app and an empty
// search_path, so every name the catalogs print is schema-qualified.
func (e *Engine) connect(ctx context.Context, app string) (*pgx.Conn, error) {
	c, cfg, err := e.connectDB(ctx, app, "")
	if err != nil {
		return nil, connectErr(cfg, err)
	}
	return c, nil
}

// connectDB is connect to database db of the same server ("" = the URL's
// own); the error is the driver's, unwrapped, for the caller to inspect.
func (e *Engine) connectDB(ctx context.Context, app, db string) (*pgx.Conn, *pgx.ConnConfig, error) {
	cfg, err := e.Config, error(nil)
	if cfg != nil {
		cfg = cfg.Copy()
	} else {
		cfg, err = pgx.ParseConfig(e.URL)
	}
	if err != nil {
		return nil, nil, errs.New(errs.Usage, "check the zync database URL (--zync-db-url or the zync secret)",
			"zync-postgres: invalid connection URL: %s", redact.String(err.Error()))
	}
	if db != "" {
		cfg.Database = db
	}
	cfg.RuntimeParams["application_name"] = app
	cfg.RuntimeParams["search_path"] = ""
	if app == appDump {
		// A row-level security policy must never filter what is dumped:
		// with row_security off, such a COPY fails instead.
		cfg.RuntimeParams["row_security"] = "off"
	}
	c, err := pgx.ConnectConfig(ctx, cfg)
	return c, cfg, err
}

func connectErr(cfg *pgx.ConnConfig, err error) error {
	if cfg == nil {
		return err
	}
	return errs.Wrap(errs.Failure,
		fmt.Errorf("zync-postgres: connect to %s/%s: %s", net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)), cfg.Database, redact.String(err.Error())),
		"check that PostgreSQL is reachable and that the credentials (zync secret or --zync-db-url) are right")
}

// missingDatabase reports a connection refused because the database
// does not exist.
func missingDatabase(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "3D000"
}

// serverLost reports whether err means the session is gone (terminated,
// server shut down, network failure) rather than a failed statement.
func serverLost(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "57P") || strings.HasPrefix(pe.Code, "08")
	}
	var ne net.Error
	return errors.As(err, &ne) || pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "conn closed") ||
		strings.Contains(err.Error(), "unexpected EOF")
}

// dbErr names the object and the server condition without leaking secrets.
func dbErr(what string, err error) error {
	msg := redact.String(err.Error())
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("zync-postgres: %s: %w", what, context.Canceled)
	}
	if serverLost(err) {
		return errs.Wrap(errs.Failure, fmt.Errorf("zync-postgres: %s: lost the PostgreSQL session: %s", what, msg),
			"the server closed the connection (restart, failover or a terminated session); nothing was recorded — check the server log and run it again")
	}
	return fmt.Errorf("zync-postgres: %s: %s", what, msg)
}

// pool runs fn for every job on n goroutines; the first error cancels the
// rest and is returned.
func pool[J any](ctx context.Context, n int, jobs []J, fn func(ctx context.Context, worker int, j J) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if n > len(jobs) {
		n = len(jobs)
	}
	ch := make(chan J)
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for j := range ch {
				if err := fn(ctx, w, j); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					for range ch {
					}
					return
				}
			}
		}(w)
	}
feed:
	for _, j := range jobs {
		select {
		case ch <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(ch)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return firstErr
}
