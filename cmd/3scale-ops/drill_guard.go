package main

import (
	"context"
	"errors"
	"slices"

	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
)

// guardDrillNamespace refuses a drill into namespace ns when a data
// component it restores has no server of its own there (no secret, no
// --target-* flag): the restore would find that server through the
// snapshot's secrets, which name the source's servers.
func guardDrillNamespace(ctx context.Context, kc *kube.Clients, ns string, ov config.Overrides, chosen []string) error {
	conns, err := config.Resolve(ctx, kc, ns, ov)
	if err != nil {
		return err
	}
	for _, f := range connFlags {
		if f.component == "" || f.component == config.SystemStorage || (len(chosen) > 0 && !slices.Contains(chosen, f.component)) {
			continue
		}
		if e := conns.Errs[f.component]; e != nil && errors.Is(e, config.ErrNotConfigured) {
			return errs.Wrap(errs.Usage, e, "give --"+f.target+" (a scratch server), or create the scratch namespace's 3scale secrets naming its own servers; "+
				"otherwise the restore would take "+f.component+"'s server from the snapshot's secrets, i.e. the source's")
		}
	}
	return nil
}
