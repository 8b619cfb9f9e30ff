// Package engines builds the engine of each snapshot component from the
// resolved connections: the one place that knows which package backs up,
// restores and exports which component. Backup, restore, export and the
// drill all take their engines from here.
package engines

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/component"
	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/kubeobjects"
	"github.com/3scale-ops/3scale-ops/internal/mysqldump"
	"github.com/3scale-ops/3scale-ops/internal/pgdump"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/rdb"
	"github.com/3scale-ops/3scale-ops/internal/storage"
	"github.com/3scale-ops/3scale-ops/internal/verify"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Engine is the method set every component engine has.
type Engine interface {
	Name() string
	Backup(ctx context.Context, sink artifact.Sink, task *progress.Task) error
	Preflight(ctx context.Context, src artifact.Source) error
	Restore(ctx context.Context, src artifact.Source, task *progress.Task) (artifact.Result, error)
}

// Options are the user's choices that engines honour.
type Options struct {
	SkipQueues    bool
	DropExisting  bool                          // consent to replace data already in a target
	SkipBinlog    bool                          // restore: system-mysql's load is not binlogged
	RedisMode     string                        // replay (default) or file
	RedisTransfer string                        // backup: SYNC transfer, auto (default), disk or diskless
	RedisFile     map[string]rdb.FileModeTarget // file mode: the pod of each Redis component
	RedisJournal  map[string]rdb.Journal        // file mode: where sub-steps are recorded for resume
	Exclude       []string                      // backup: objects left out as asked (--exclude-object; see excludeFor)
	WithGrants    bool                          // restore: apply zync-postgres' recorded grants
	Logger        *slog.Logger
	// SecretKeys: restore of the secrets component sets these keys
	// (nil: removes them) instead of the snapshot's values (secret → key).
	SecretKeys map[string]map[string]*string
	// APIManagerTransform changes each object of the apimanager component
	// before the restore writes it.
	APIManagerTransform func(*unstructured.Unstructured)
}

// Data components, in backup/restore order. Kubernetes object components
// (secrets, configmaps, apimanager) are added by KubeComponents when a
// cluster is available.
var Data = component.Names(component.Data)

// Build returns the engine of component name. Connection problems of that
// component (a missing secret, a malformed URL) are returned here, so a
// command fails only for the components it needs.
func Build(name string, c *config.Connections, kc *kube.Clients, o Options) (Engine, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	switch name {
	case config.SystemDB:
		if err := c.Require(config.SystemDB); err != nil {
			return nil, err
		}
		if c.SystemDB.Kind == "postgresql" {
			// Porta on PostgreSQL: the same component, the PostgreSQL
			// engine (see docs/postgresql-engine.md).
			e, err := postgresEngine(c.SystemDB, config.SystemDB, o)
			if err != nil {
				return nil, err
			}
			e.ComponentName = config.SystemDB
			return &systemPG{e}, nil
		}
		dsn, err := c.SystemDB.MySQLDSN()
		if err != nil {
			return nil, err
		}
		ex, err := excludeFor(config.SystemDB, o.Exclude)
		if err != nil {
			return nil, err
		}
		e, err := mysqldump.New(mysqldump.Options{DSN: dsn, DropExisting: o.DropExisting, SkipBinlog: o.SkipBinlog, Logger: o.Logger, Exclude: ex})
		if err != nil {
			return nil, err
		}
		return &systemMySQL{e}, nil
	case config.ZyncDB:
		if err := c.Require(config.ZyncDB); err != nil {
			return nil, err
		}
		return postgresEngine(c.ZyncDB, config.ZyncDB, o)
	case component.BackendRedis:
		if err := c.Require(config.BackendRedis); err != nil {
			return nil, err
		}
		srv, err := c.BackendRedis.Options()
		if err != nil {
			return nil, err
		}
		cfg := rdb.Config{Component: rdb.BackendRedis, Server: srv, Master: sentinelMaster(c.BackendRedis), SkipQueues: o.SkipQueues, Mode: o.RedisMode, Transfer: o.RedisTransfer,
			Overwrite: o.DropExisting, Logger: o.Logger, File: o.RedisFile[component.BackendRedis], Journal: o.RedisJournal[component.BackendRedis]}
		if !o.SkipQueues {
			// A queue server that cannot be resolved must not silently
			// become "db 1 of the storage server".
			// Not configured at all means db 1 of the storage server.
			if err := c.Errs[config.BackendRedisQueues]; err != nil && !errors.Is(err, config.ErrNotConfigured) {
				return nil, fmt.Errorf("backend-redis queues: %w", err)
			}
		}
		if c.Errs[config.BackendRedisQueues] == nil && c.BackendRedisQueues.URL != "" {
			q, err := c.BackendRedisQueues.Options()
			if err != nil && !o.SkipQueues {
				return nil, fmt.Errorf("backend-redis queues: %w", err)
			}
			cfg.Queues = q
		}
		return rdb.New(cfg)
	case component.SystemRedis:
		if err := c.Require(config.SystemRedis); err != nil {
			return nil, err
		}
		srv, err := c.SystemRedis.Options()
		if err != nil {
			return nil, err
		}
		return rdb.New(rdb.Config{Component: rdb.SystemRedis, Server: srv, Master: sentinelMaster(c.SystemRedis), SkipQueues: o.SkipQueues, Mode: o.RedisMode, Transfer: o.RedisTransfer,
			Overwrite: o.DropExisting, Logger: o.Logger, File: o.RedisFile[component.SystemRedis], Journal: o.RedisJournal[component.SystemRedis]})
	case config.SystemStorage:
		if err := c.Require(config.SystemStorage); err != nil {
			return nil, err
		}
		return storage.New(c.SystemStorage, StoragePods(kc, c.Namespace), c.Namespace, storage.Options{Overwrite: o.DropExisting, Logger: o.Logger}), nil
	}
	if b, ok := kubeBuilders[name]; ok {
		if kc == nil {
			return nil, errs.Wrap(errs.Usage, fmt.Errorf("component %s needs Kubernetes: %w", name, config.ErrNotConfigured),
				"drop --local, or leave "+name+" out with --components")
		}
		return b(kc, c.Namespace, o)
	}
	return nil, errs.UsageError("choose from: "+strings.Join(Names(), ", "), "unknown component %q", name)
}

// kubeBuilders hold the Kubernetes object components; see kube.go.
var kubeBuilders = map[string]func(kc *kube.Clients, ns string, o Options) (Engine, error){}

// Names lists every component name, data first.
func Names() []string {
	out := append([]string{}, Data...)
	var k []string
	for n := range kubeBuilders {
		k = append(k, n)
	}
	sort.Strings(k)
	return append(k, out...)
}

// Export writes a component of a snapshot as its one standard stream.
func Export(ctx context.Context, name string, src artifact.Source, w io.Writer) error {
	switch name {
	case config.SystemDB:
		if SnapshotEngine(src) == "postgresql" {
			return pgdump.ExportAs(ctx, name, src, w)
		}
		return mysqldump.Export(ctx, src, w)
	case config.ZyncDB:
		return pgdump.Export(ctx, src, w)
	case config.SystemStorage:
		return storage.Export(ctx, src, w)
	case component.BackendRedis, component.SystemRedis:
		return exportFile(ctx, src, w, "dump.rdb")
	}
	if _, ok := kubeBuilders[name]; ok {
		return kubeobjects.Export(ctx, src, w)
	}
	return errs.UsageError("choose from: "+strings.Join(Names(), ", "), "cannot export unknown component %q", name)
}

func exportFile(ctx context.Context, src artifact.Source, w io.Writer, name string) error {
	rc, err := src.Open(ctx, name)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(w, rc)
	return err
}

// Probes returns the backup component that records verification probes
// (it needs the system database and backend-redis).
func Probes(c *config.Connections, max int) (*verify.Recorder, error) {
	if err := c.Require(config.SystemDB, config.BackendRedis); err != nil {
		return nil, err
	}
	if c.SystemDB.Kind == "oracle" {
		return nil, errs.UsageError("leave verify out with --components", "verification probes need a MySQL or PostgreSQL system database, not Oracle")
	}
	o, err := c.BackendRedis.Options()
	if err != nil {
		return nil, err
	}
	return &verify.Recorder{OpenSystemDB: c.SystemDB.Open, Redis: o, Max: max}, nil
}

// BackupComponent is what a backup needs of a component.
type BackupComponent interface {
	Name() string
	Backup(ctx context.Context, sink artifact.Sink, task *progress.Task) error
}

// BackupNames lists every component a backup can take: the data and
// Kubernetes components, then the verification probes.
func BackupNames() []string { return append(Names(), verify.Component) }

// BuildBackup builds a backup component: an engine, or the probe recorder.
func BuildBackup(name string, c *config.Connections, kc *kube.Clients, o Options) (BackupComponent, error) {
	if name == verify.Component {
		p, err := Probes(c, 0)
		if err != nil {
			return nil, err
		}
		p.Log = o.Logger
		return p, nil
	}
	return Build(name, c, kc, o)
}

// sentinelMaster asks Sentinel again for the master of r (nil without Sentinel).
func sentinelMaster(r config.Redis) func(ctx context.Context) (string, error) {
	if len(r.SentinelAddrs) == 0 {
		return nil
	}
	return r.MasterAddr
}
