package drill

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/redact"
	"github.com/3scale-ops/3scale-ops/internal/restore"
	"github.com/3scale-ops/3scale-ops/internal/runbook"
)

// TargetSpec is where the user asked the drill to restore: a scratch
// namespace, or scratch servers by connection.
type TargetSpec struct {
	Namespace string
	// URLs by connection name (config.SystemDB, config.ZyncDB,
	// config.BackendRedis, config.BackendRedisQueues, config.SystemRedis,
	// config.SystemStorage); empty ones are left unset.
	URLs map[string]string
}

// targetFlags are the connections a drill can point at scratch servers,
// each with its source flag and the component it restores ("" for the
// queues, part of backend-redis).
var targetFlags = []struct{ conn, flag, component string }{
	{config.SystemDB, "system-db-url", config.SystemDB},
	{config.ZyncDB, "zync-db-url", config.ZyncDB},
	{config.BackendRedis, "backend-redis-url", config.BackendRedis},
	{config.BackendRedisQueues, "backend-redis-queues-url", ""},
	{config.SystemRedis, "system-redis-url", config.SystemRedis},
	{config.SystemStorage, "system-storage", config.SystemStorage},
}

// ResolveTarget resolves the target's connections. Nothing of the source
// carries over: the connections come from spec.URLs and, for a scratch
// namespace, from that namespace's own secrets — no source override, TLS
// setting or environment variable can fill one in, so a drill never
// writes to its source. A target URL equal to the source's own is
// refused, and so is a scratch namespace where a data component the
// drill restores has no server of its own (the restore would find it
// through the snapshot's secrets: the source's).
func ResolveTarget(ctx context.Context, spec TargetSpec, chosen []string, src *runbook.Settings) (Side, error) {
	var ov config.Overrides
	srcURL := map[string]string{config.SystemDB: src.Overrides.SystemDB, config.ZyncDB: src.Overrides.ZyncDB,
		config.BackendRedis: src.Overrides.BackendRedis, config.BackendRedisQueues: src.Overrides.BackendRedisQueues,
		config.SystemRedis: src.Overrides.SystemRedis, config.SystemStorage: src.Overrides.SystemStorage}
	set := map[string]*string{config.SystemDB: &ov.SystemDB, config.ZyncDB: &ov.ZyncDB, config.BackendRedis: &ov.BackendRedis,
		config.BackendRedisQueues: &ov.BackendRedisQueues, config.SystemRedis: &ov.SystemRedis, config.SystemStorage: &ov.SystemStorage}
	var comps []string
	for _, f := range targetFlags {
		v := spec.URLs[f.conn]
		if v == "" {
			continue
		}
		redact.AddURL(v)
		if strings.TrimRight(v, "/") == strings.TrimRight(srcURL[f.conn], "/") {
			return Side{}, errs.UsageError("point --target-"+f.flag+" at scratch servers",
				"--target-%s is the source's own --%s: a drill must not restore into its source", f.flag, f.flag)
		}
		*set[f.conn] = v
		if f.component != "" {
			comps = append(comps, f.component)
		}
	}
	if ns := spec.Namespace; ns != "" {
		return namespaceTarget(ctx, ns, ov, len(comps) > 0, chosen, src)
	}
	if len(comps) == 0 {
		return Side{}, errs.UsageError("give --target-namespace, or --target-system-db-url and the other --target-* flags", "the drill has no target")
	}
	conns, err := config.Resolve(ctx, nil, "", ov)
	if err != nil {
		return Side{}, err
	}
	return Side{Conns: conns, Override: ov, Components: comps, Desc: "scratch servers (--target-* flags)"}, nil
}

// namespaceTarget is a scratch namespace, its servers from its secrets
// unless ov (the --target-* URLs) names others; then the restored
// secrets are pointed at those.
func namespaceTarget(ctx context.Context, ns string, ov config.Overrides, given bool, chosen []string, src *runbook.Settings) (Side, error) {
	if src.Local {
		return Side{}, errs.UsageError("drop --local, or give --target-* connection flags", "--target-namespace needs Kubernetes")
	}
	kc, err := src.KubeClients()
	if err != nil {
		return Side{}, err
	}
	if ns == src.NamespaceOf(kc) {
		return Side{}, errs.UsageError("give a scratch namespace", "the drill target namespace %q is the source namespace", ns)
	}
	kc.Namespace = ns
	conns, err := config.Resolve(ctx, kc, ns, ov)
	if err != nil {
		return Side{}, err
	}
	for _, f := range targetFlags {
		if f.component == "" || f.component == config.SystemStorage || (len(chosen) > 0 && !slices.Contains(chosen, f.component)) {
			continue
		}
		if e := conns.Errs[f.component]; e != nil && errors.Is(e, config.ErrNotConfigured) {
			return Side{}, errs.Wrap(errs.Usage, e, "give --target-"+f.flag+" (a scratch server), or create the scratch namespace's 3scale secrets naming its own servers; "+
				"otherwise the restore would take "+f.component+"'s server from the snapshot's secrets, i.e. the source's")
		}
	}
	side := Side{Conns: conns, Kube: kc, Override: ov, Desc: "namespace " + ns}
	if given {
		side.Rewrite = restore.RewriteOn
	}
	return side, nil
}

// SourceDesc names the source for the report.
func SourceDesc(s *runbook.Settings) string {
	if s.Local {
		return "local connections"
	}
	return "namespace " + s.Namespace
}
