package runbook

import (
	"context"
	"fmt"

	"github.com/3scale-ops/3scale-ops/internal/purge"
	"github.com/3scale-ops/3scale-ops/internal/repo"
	"github.com/3scale-ops/3scale-ops/internal/schedule"
)

// The scheduled jobs run in the daemon's process: each run resolves the
// connections and opens the repository again (secrets and keys may have
// changed since the last run) and calls the same functions as the
// commands. Their results are typed; nothing is parsed.

// BackupJob takes a snapshot of every component the installation
// provides, tagged with tags.
func BackupJob(s *Settings, tags map[string]string) schedule.JobFunc {
	return func(ctx context.Context) (schedule.JobResult, error) {
		conns, kc, err := s.Connections(ctx)
		if err != nil {
			return schedule.JobResult{}, err
		}
		m, err := Backup(ctx, BackupRequest{Conns: conns, Kube: kc, Tags: tags, Log: s.log().With("job", "backup"),
			Repo: func(ctx context.Context) (*repo.Repository, error) {
				opts, err := s.RepoOptions()
				if err != nil {
					return nil, err
				}
				r, _, err := s.OpenRepository(ctx, opts, true)
				return r, err
			}})
		if err != nil {
			return schedule.JobResult{}, err
		}
		return schedule.JobResult{Bytes: m.Size(), Detail: m.ID}, nil
	}
}

// PruneJob prunes the repository by req.
func PruneJob(s *Settings, req PruneRequest) schedule.JobFunc {
	return func(ctx context.Context) (schedule.JobResult, error) {
		r, err := s.Open(ctx, false)
		if err != nil {
			return schedule.JobResult{}, err
		}
		res, err := Prune(ctx, r, req)
		if res == nil {
			return schedule.JobResult{}, err
		}
		kept := 0
		for _, d := range res.Decisions {
			if d.Keep {
				kept++
			}
		}
		return schedule.JobResult{Detail: fmt.Sprintf("%d snapshot(s) removed, %d kept", len(res.Removed), kept)}, err
	}
}

// PurgeAlertsJob deletes the alerts older than age.
func PurgeAlertsJob(s *Settings, age purge.Age, batch int) schedule.JobFunc {
	return func(ctx context.Context) (schedule.JobResult, error) {
		conns, _, err := s.Connections(ctx)
		if err != nil {
			return schedule.JobResult{}, err
		}
		p, err := OpenPurger(conns, age, batch, s.log().With("job", "purge-alerts"))
		if err != nil {
			return schedule.JobResult{}, err
		}
		defer p.Close()
		res, err := p.Alerts(ctx, age, false, nil)
		return schedule.JobResult{Rows: res.Deleted, Detail: fmt.Sprintf("%d alerts older than %s deleted", res.Deleted, res.Age)}, err
	}
}
