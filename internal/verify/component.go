package verify

import (
	"context"
	"database/sql"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/redis/go-redis/v9"
)

// Recorder is the backup component "verify": it records probes into the
// snapshot (stored, like every artifact, encrypted when the repository is).
type Recorder struct {
	OpenSystemDB func() (*sql.DB, error) // the system database (MySQL or PostgreSQL)
	Redis        *redis.Options          // backend-redis storage (db 0)
	Max          int                     // probes at most (0: 200)
}

// Name implements the backup component.
func (r *Recorder) Name() string { return Component }

// Backup records the probes.
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
		return err
	}
	// An installation without applications still gets its consistency
	// checks; the snapshot says that no probe could be recorded.
	if err := sink.Set("probes", len(probes)); err != nil {
		return err
	}
	return Save(ctx, sink, probes)
}
