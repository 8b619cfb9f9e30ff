package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
)

// Env is what a component constructor may use.
type Env struct {
	Conns      *config.Connections
	Kube       *kube.Clients // nil with --local
	Namespace  string
	SkipQueues bool
	Logger     *slog.Logger
}

// Constructor builds a component from the resolved connections. It
// returns ErrUnavailable (wrapped) when the installation lacks what the
// component needs, so that a default backup can leave it out.
type Constructor func(Env) (Component, error)

// Exporter writes one component of a snapshot as one standard stream.
type Exporter func(ctx context.Context, src artifact.Source, w io.Writer) error

// ErrUnavailable marks a component that this installation (or this run's
// flags) cannot provide.
var ErrUnavailable = errors.New("component unavailable")

// Order is the canonical order of the components (the restore runbook's).
var Order = []string{"secrets", "configmaps", "apimanager", "system-mysql", "system-storage", "zync-postgres", "backend-redis", "system-redis"}

var (
	regMu     sync.RWMutex
	registry  = map[string]Constructor{}
	exporters = map[string]Exporter{}
)

// Register adds a component constructor (and optionally its exporter).
// Registering a name again replaces it.
func Register(name string, c Constructor, e Exporter) {
	regMu.Lock()
	defer regMu.Unlock()
	registry[name] = c
	if e != nil {
		exporters[name] = e
	}
}

// Names lists the registered components, in Order first, then by name.
func Names() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	var out []string
	for _, n := range Order {
		if registry[n] != nil {
			out = append(out, n)
		}
	}
	var extra []string
	for n := range registry {
		if !contains(Order, n) {
			extra = append(extra, n)
		}
	}
	sort.Strings(extra)
	return append(out, extra...)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Build constructs the named components. With no names, it builds every
// registered component the installation has, leaving out (and logging)
// those whose constructor reports ErrUnavailable. An unknown name is a
// usage error listing the valid ones.
func Build(names []string, env Env) ([]Component, error) {
	log := env.Logger
	if log == nil {
		log = slog.Default()
	}
	all := Names()
	explicit := len(names) > 0
	if !explicit {
		names = all
	}
	for _, n := range names {
		if !contains(all, strings.TrimSpace(n)) {
			return nil, errs.UsageError("valid components: "+strings.Join(all, ", "), "unknown component %q", n)
		}
	}
	var out []Component
	for _, n := range names {
		n = strings.TrimSpace(n)
		regMu.RLock()
		ctor := registry[n]
		regMu.RUnlock()
		c, err := ctor(env)
		if err != nil {
			if !explicit && isUnavailable(err) {
				log.Info("leaving out a component this installation does not provide", "component", n, "reason", err.Error())
				continue
			}
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errs.UsageError("give connection flags (see `3scale-ops backup --help`) or name components with --components",
			"no component can be backed up with the connections found")
	}
	return out, nil
}

func isUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }

// ExporterFor returns the registered exporter of a component.
func ExporterFor(name string) (Exporter, error) {
	regMu.RLock()
	defer regMu.RUnlock()
	if e := exporters[name]; e != nil {
		return e, nil
	}
	var known []string
	for n := range exporters {
		known = append(known, n)
	}
	sort.Strings(known)
	return nil, errs.UsageError("components that can be exported: "+strings.Join(known, ", "), "no exporter for component %q", name)
}

// unavailable wraps a connection problem as ErrUnavailable, keeping its
// exit code and hint.
func unavailable(name string, err error) error {
	return errs.Wrap(errs.Code(err), fmt.Errorf("%s: %w (%w)", name, err, ErrUnavailable), errs.Hint(err))
}
