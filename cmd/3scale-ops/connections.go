package main

import (
	"context"

	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/3scale-ops/3scale-ops/internal/kube"
)

// kubeClients connects to Kubernetes unless --local was given (nil, nil).
func (g *globals) kubeClients() (*kube.Clients, error) {
	if g.Local {
		return nil, nil
	}
	kc, err := kube.Connect(g.Kubeconfig, g.Context)
	if err != nil {
		return nil, err
	}
	if g.Namespace != "" {
		kc.Namespace = g.Namespace
	}
	return kc, nil
}

// namespace is -n, or the kubeconfig context's namespace.
func (g *globals) namespace(kc *kube.Clients) string {
	if g.Namespace != "" || kc == nil {
		return g.Namespace
	}
	return kc.Namespace
}

// connections resolves every connection of the installation (flags/env →
// secrets → defaults). kc is nil with --local.
func (g *globals) connections(ctx context.Context) (*config.Connections, *kube.Clients, error) {
	kc, err := g.kubeClients()
	if err != nil {
		return nil, nil, err
	}
	conns, err := config.Resolve(ctx, kc, g.namespace(kc), g.Overrides)
	if err != nil {
		return nil, nil, err
	}
	return conns, kc, nil
}
