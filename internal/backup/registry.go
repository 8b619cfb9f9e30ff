package backup

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/errs"
)

// Builder builds the component of one name (internal/engines.Build in the
// CLI). It fails when the installation or the flags lack what the
// component needs.
type Builder func(name string) (Component, error)

// Select builds the named components. With no names it builds every
// component in all that this installation can provide, leaving out (and
// logging) those whose build fails. An unknown name is a usage error
// listing the valid ones; a named component that cannot be built is an
// error.
func Select(names, all []string, build Builder, log *slog.Logger) ([]Component, error) {
	if log == nil {
		log = slog.Default()
	}
	explicit := len(names) > 0
	if !explicit {
		names = all
	}
	seen := map[string]bool{}
	for i, n := range names {
		n = strings.TrimSpace(n)
		names[i] = n
		if !contains(all, n) {
			return nil, errs.UsageError("valid components: "+strings.Join(all, ", "), "unknown component %q", n)
		}
		if seen[n] {
			return nil, errs.UsageError("name each component once", "component %s given twice", n)
		}
		seen[n] = true
	}
	var out []Component
	for _, n := range names {
		c, err := build(n)
		if err != nil {
			// Without names, a component the installation does not have
			// here (no flag in --local, no such secret) is left out; any
			// other failure fails the backup rather than quietly giving
			// an incomplete snapshot.
			if !explicit && errors.Is(err, errs.ErrNotConfigured) {
				log.Warn("leaving out a component this installation does not provide", "component", n, "reason", err.Error())
				continue
			}
			return nil, fmt.Errorf("component %s: %w", n, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errs.UsageError("give connection flags (see `3scale-ops backup --help`) or name components with --components",
			"no component can be backed up with the connections found")
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
