package restore

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/component"
	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/targetlock"
	"github.com/redis/go-redis/v9"
)

// TargetLocks lists the locks a restore of the selected components takes
// on its targets: the namespace's Lease (with Kubernetes), and for every
// data component the lock on its server (MySQL GET_LOCK, a PostgreSQL
// advisory lock, the Redis lock key). Components whose connection did not
// resolve are left out: their engine reports that. warn receives what
// cannot be locked.
func TargetLocks(ctx context.Context, conns *config.Connections, kc *kube.Clients, selected []string, warn func(string)) ([]targetlock.Lock, error) {
	var locks []targetlock.Lock
	if kc != nil && conns.Namespace != "" {
		locks = append(locks, &targetlock.Lease{Client: kc.Typed, Namespace: conns.Namespace, Warn: warn})
	}
	has := func(name string) bool { return slices.Contains(selected, name) && conns.Errs[name] == nil }
	sqlLock := func(comp string, d config.DB) (targetlock.Lock, error) {
		server := d.Redacted() + " (" + comp + ")"
		switch d.Kind {
		case "mysql":
			db, err := d.OpenMySQL()
			if err != nil {
				return nil, err
			}
			return &targetlock.MySQL{DB: db, Database: d.Database, Server: server}, nil
		case "postgresql":
			cfg, err := d.PostgresConfig(nil)
			if err != nil {
				return nil, err
			}
			return &targetlock.Postgres{Config: cfg, Server: server}, nil
		}
		return nil, nil // the engine refuses other kinds
	}
	if has(component.SystemMySQL) {
		l, err := sqlLock(component.SystemMySQL, conns.SystemDB)
		if err != nil {
			return nil, fmt.Errorf("lock system-mysql: %w", err)
		}
		if l != nil {
			locks = append(locks, l)
		}
	}
	if has(component.ZyncPostgres) {
		l, err := sqlLock(component.ZyncPostgres, conns.ZyncDB)
		if err != nil {
			return nil, fmt.Errorf("lock zync-postgres: %w", err)
		}
		if l != nil {
			locks = append(locks, l)
		}
	}
	rl, err := redisLocks(ctx, conns, has, warn)
	if err != nil {
		return nil, err
	}
	return append(locks, rl...), nil
}

// redisLocks gives one lock per Redis server the selected components
// restore into. Its key lives in a database no 3scale URL of that server
// names (targetlock.LockDB), so the restore never flushes, counts or
// replaces it; the same servers and URLs give every restore the same key.
func redisLocks(ctx context.Context, conns *config.Connections, has func(string) bool, warn func(string)) ([]targetlock.Lock, error) {
	type server struct {
		opts   *redis.Options
		used   []int
		comps  []string // the components restored into it, for messages
		wanted bool
	}
	servers := map[string]*server{}
	add := func(comp string, r config.Redis, wanted bool) error {
		o, err := r.Options()
		if err != nil {
			if wanted {
				return err
			}
			return nil
		}
		s := servers[o.Addr]
		if s == nil {
			s = &server{opts: o}
			servers[o.Addr] = s
		}
		s.used = append(s.used, o.DB)
		if wanted && !slices.Contains(s.comps, comp) {
			s.comps = append(s.comps, comp)
		}
		s.wanted = s.wanted || wanted
		return nil
	}
	for _, c := range []struct {
		comp, conn string
		r          config.Redis
	}{
		{component.BackendRedis, config.BackendRedis, conns.BackendRedis},
		{component.BackendRedis, config.BackendRedisQueues, conns.BackendRedisQueues},
		{component.SystemRedis, config.SystemRedis, conns.SystemRedis},
	} {
		if conns.Errs[c.conn] != nil {
			continue
		}
		if err := add(c.comp, c.r, has(c.comp)); err != nil {
			return nil, fmt.Errorf("lock %s: %w", c.comp, err)
		}
	}
	addrs := make([]string, 0, len(servers))
	for a := range servers {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	var out []targetlock.Lock
	for _, a := range addrs {
		s := servers[a]
		if !s.wanted {
			continue
		}
		db, ok := targetlock.LockDB(ctx, s.opts, s.used)
		if !ok {
			warn(fmt.Sprintf("Redis %s has no database the restore leaves alone for its lock key: it is not locked against another restore", a))
			continue
		}
		out = append(out, &targetlock.Redis{Options: s.opts, DB: db, Server: a + " (" + strings.Join(s.comps, ", ") + ")"})
	}
	return out, nil
}
