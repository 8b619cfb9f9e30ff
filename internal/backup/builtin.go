package backup

import (
	"fmt"

	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/mysqldump"
	"github.com/3scale-ops/3scale-ops/internal/pgdump"
	"github.com/3scale-ops/3scale-ops/internal/rdb"
	"github.com/3scale-ops/3scale-ops/internal/storage"
)

// The engines present in this build register themselves here.
func init() {
	Register(mysqldump.Component, newSystemMySQL, mysqldump.Export)
	Register(pgdump.Component, newZyncPostgres, pgdump.Export)
	Register(rdb.BackendRedis, newRedis(rdb.BackendRedis), rdb.Export)
	Register(rdb.SystemRedis, newRedis(rdb.SystemRedis), rdb.Export)
	Register(storage.Component, newStorage, storage.Export)
}

func newSystemMySQL(env Env) (Component, error) {
	if err := env.Conns.Require(config.SystemDB); err != nil {
		return nil, unavailable(mysqldump.Component, err)
	}
	if k := env.Conns.SystemDB.Kind; k != "mysql" {
		return nil, errs.New(errs.Usage, "back up a "+k+" system database with its own tools; leave system-mysql out with --components",
			"system-mysql: the system database is %s; 3scale-ops backs up MySQL/MariaDB", k)
	}
	dsn, err := env.Conns.SystemDB.MySQLDSN()
	if err != nil {
		return nil, err
	}
	return mysqldump.New(mysqldump.Options{DSN: dsn, Logger: env.Logger})
}

func newZyncPostgres(env Env) (Component, error) {
	if err := env.Conns.Require(config.ZyncDB); err != nil {
		return nil, unavailable(pgdump.Component, err)
	}
	url, err := env.Conns.ZyncDB.PostgresURL()
	if err != nil {
		return nil, err
	}
	e := pgdump.New(url)
	e.Logger = env.Logger
	return e, nil
}

func newRedis(component string) Constructor {
	return func(env Env) (Component, error) {
		key, conn := config.BackendRedis, env.Conns.BackendRedis
		if component == rdb.SystemRedis {
			key, conn = config.SystemRedis, env.Conns.SystemRedis
		}
		if err := env.Conns.Require(key); err != nil {
			return nil, unavailable(component, err)
		}
		server, err := conn.Options()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", component, err)
		}
		cfg := rdb.Config{Component: component, Server: server, SkipQueues: env.SkipQueues, Logger: env.Logger}
		if component == rdb.BackendRedis && !env.SkipQueues && env.Conns.Errs[config.BackendRedisQueues] == nil &&
			(env.Conns.BackendRedisQueues.Addr != "" || len(env.Conns.BackendRedisQueues.SentinelAddrs) > 0) {
			if cfg.Queues, err = env.Conns.BackendRedisQueues.Options(); err != nil {
				return nil, fmt.Errorf("%s queues: %w", component, err)
			}
		}
		return rdb.New(cfg)
	}
}

func newStorage(env Env) (Component, error) {
	if err := env.Conns.Require(config.SystemStorage); err != nil {
		return nil, unavailable(storage.Component, err)
	}
	loc := env.Conns.SystemStorage
	if loc.Kind == "pod" && env.Kube == nil {
		return nil, unavailable(storage.Component, errs.UsageError("give --system-storage dir:///path or s3://…",
			"system-storage is in the system-app pod, which needs Kubernetes (not --local)"))
	}
	return storage.New(loc, env.Kube, env.Namespace, storage.Options{Logger: env.Logger}), nil
}
