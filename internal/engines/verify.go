package engines

import (
	"context"
	"database/sql"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/verify"
	"github.com/redis/go-redis/v9"
)

// Verify opens the system database and backend-redis of c and runs the
// verification: the probes of src (nil: none replayed) and, unless
// skipChecks, the consistency checks. restore, drill and `verify` all
// verify through here.
func Verify(ctx context.Context, c *config.Connections, probes artifact.Source, skipChecks bool, task *progress.Task) (*verify.Report, error) {
	if err := c.Require(config.SystemDB, config.BackendRedis); err != nil {
		return nil, err
	}
	db, err := c.SystemDB.Open()
	if err != nil {
		return nil, err
	}
	defer db.Close()
	ro, err := c.BackendRedis.Options()
	if err != nil {
		return nil, err
	}
	rc := redis.NewClient(ro)
	defer rc.Close()
	in := verify.Inputs{SystemDB: db, BackendRedis: rc, Probes: probes, SkipConsistency: skipChecks}
	// zync ↔ System checks run whenever zync's database is known (always
	// in a namespace; with --zync-db-url in --local mode).
	if !skipChecks && c.Require(config.ZyncDB) == nil {
		dsn, err := c.ZyncDB.PostgresDSN()
		if err != nil {
			return nil, err
		}
		zdb, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, err
		}
		defer zdb.Close()
		in.ZyncDB = zdb
	}
	return verify.Run(ctx, in, task)
}
