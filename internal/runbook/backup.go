package runbook

import (
	"context"
	"log/slog"

	"github.com/3scale-ops/3scale-ops/internal/backup"
	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/3scale-ops/3scale-ops/internal/engines"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/kubeobjects"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/repo"
)

// BackupRequest is one backup as the user (or the schedule, or a drill)
// asked for it.
type BackupRequest struct {
	Conns *config.Connections
	Kube  *kube.Clients // nil: --local

	Components []string // empty: every component the installation provides
	Tags       map[string]string
	SkipQueues bool
	// RedisTransfer is how Redis sends its RDB: disk, diskless or auto ("").
	RedisTransfer string
	Exclude       []string // objects to leave out, "[COMPONENT:]KIND NAME"
	Workers       int
	UnlockStale   bool

	// Repo opens the repository. It is called after the components are
	// built, so that a wrong component name touches no repository.
	Repo func(ctx context.Context) (*repo.Repository, error)
	// Warn is told about an unauthenticated repository (nil: logged).
	Warn    func(msg string)
	Tracker *progress.Tracker
	Log     *slog.Logger
}

// Backup builds the components from the resolved connections and takes
// one snapshot of them (backup.Run).
func Backup(ctx context.Context, req BackupRequest) (*repo.Manifest, error) {
	log := req.Log
	if log == nil {
		log = slog.Default()
	}
	eo := engines.Options{SkipQueues: req.SkipQueues, RedisTransfer: req.RedisTransfer, Exclude: req.Exclude, Logger: log}
	comps, err := backup.Select(append([]string(nil), req.Components...), engines.BackupNames(), func(name string) (backup.Component, error) {
		return engines.BuildBackup(name, req.Conns, req.Kube, eo)
	}, log)
	if err != nil {
		return nil, err
	}
	r, err := req.Repo(ctx)
	if err != nil {
		return nil, err
	}
	if !r.Authenticated() {
		if req.Warn != nil {
			req.Warn(Unauthenticated)
		} else {
			log.Warn(Unauthenticated)
		}
	}
	version, _ := kubeobjects.InstallVersion(ctx, req.Kube, req.Conns.Namespace)
	return backup.Run(ctx, r, comps, backup.Options{
		Workers: req.Workers, Tags: req.Tags, Namespace: req.Conns.Namespace, ThreescaleVersion: version,
		UnlockStale: req.UnlockStale, Tracker: req.Tracker, Logger: log,
	})
}
