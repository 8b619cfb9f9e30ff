package main

import (
	"context"

	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/3scale-ops/3scale-ops/internal/kube"
)

// kubeClients connects to Kubernetes unless --local was given (nil, nil).
func (g *globals) kubeClients() (*kube.Clients, error) { return g.Settings.KubeClients() }

// namespace is -n, or the kubeconfig context's namespace.
func (g *globals) namespace(kc *kube.Clients) string { return g.Settings.NamespaceOf(kc) }

// connections resolves every connection of the installation (flags/env →
// secrets → defaults). kc is nil with --local.
func (g *globals) connections(ctx context.Context) (*config.Connections, *kube.Clients, error) {
	return g.Settings.Connections(ctx)
}
