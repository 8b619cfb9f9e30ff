package verify

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/redact"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"
)

// NotRecordedKey is the metadata key of the verify component that says
// why no probes were recorded (the sampler could not read the schema).
const NotRecordedKey = "not_recorded"

// Recorder is the backup component "verify": it records probes into the
// snapshot (stored, like every artifact, encrypted when the repository is).
type Recorder struct {
	OpenSystemDB func() (*sql.DB, error) // the system database (MySQL or PostgreSQL)
	Redis        *redis.Options          // backend-redis storage (db 0)
	Max          int                     // probes at most (0: 200)
	Log          *slog.Logger            // where a probe sampler that cannot read the schema warns (nil: slog.Default)
}

// Name implements the backup component.
func (r *Recorder) Name() string { return Component }

// Backup records the probes. Probes are best-effort: when the system
// database's schema is not what the sampler reads (a missing table or
// column, a table it may not read), the reason is recorded in the
// snapshot's manifest instead and the backup goes on; `verify` and
// `drill` of the snapshot then fail naming it. Other failures (the
// connection) fail the backup.
func (r *Recorder) Backup(ctx context.Context, sink artifact.Sink, task *progress.Task) error {
	db, err := r.OpenSystemDB()
	if err != nil {
		return err
	}
	defer db.Close()
	rdb := redis.NewClient(r.Redis)
	defer rdb.Close()
	probes, err := Record(ctx, db, rdb, r.Max, task)
	if err != nil {
		if !unreadableSchema(err) {
			return err
		}
		reason := redact.String(err.Error())
		if err := sink.Set(NotRecordedKey, reason); err != nil {
			return err
		}
		log := r.Log
		if log == nil {
			log = slog.Default()
		}
		log.Warn("no verification probes recorded: the probe sampler cannot read the system database's schema; the backup goes on, but verify and drill of this snapshot will fail until a backup records probes",
			"reason", reason)
		probes = nil
	}
	// An installation without applications still gets its consistency
	// checks; the snapshot says that no probe could be recorded.
	if err := sink.Set("probes", len(probes)); err != nil {
		return err
	}
	return Save(ctx, sink, probes)
}

// mysqlSchemaErrors and postgresSchemaErrors are the server errors that
// mean the schema is not what the sampler reads: no such table, unknown
// column, a table or column the user may not read, a view over something
// gone.
var (
	mysqlSchemaErrors    = map[uint16]bool{1146: true, 1054: true, 1142: true, 1143: true, 1356: true, 1109: true}
	postgresSchemaErrors = map[string]bool{"42P01": true, "42703": true, "42501": true, "42883": true}
)

func unreadableSchema(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return mysqlSchemaErrors[me.Number]
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return postgresSchemaErrors[pe.Code]
	}
	// A column of another type than the sampler expects (NULL where it
	// reads a string).
	return strings.Contains(err.Error(), "sql: Scan error")
}

// NotRecorded says why the snapshot's verify component holds no probes
// ("" when they were recorded).
func NotRecorded(src artifact.Source) string {
	var reason string
	if err := src.Get(NotRecordedKey, &reason); err != nil {
		return ""
	}
	return reason
}

// NotRecordedError is the error of replaying a snapshot without probes:
// it names why the backup could not record them.
func NotRecordedError(reason string) error {
	return errs.New(errs.Usage, "verify with --consistency-only (restore: --no-verify, then `3scale-ops verify --consistency-only`); make the system database's schema readable (or report it, if it is 3scale's own) so that the next backup records probes",
		"the snapshot holds no verification probes: the backup could not record them: %s", reason)
}
