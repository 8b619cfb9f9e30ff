// Package kube is 3scale-ops' only door to Kubernetes: client
// construction, reading and applying objects, scaling and rollouts of
// Deployments, DeploymentConfigs and the APIManager CR, and exec into
// pods. Engines (SQL, Redis, repository) never import it.
package kube

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Clients bundles the clients one command needs.
type Clients struct {
	Config    *rest.Config
	Typed     kubernetes.Interface
	Dynamic   dynamic.Interface
	Namespace string // from the kubeconfig context (or in-cluster), used when -n is not given
}

// Connect builds clients from a kubeconfig path (empty: $KUBECONFIG, then
// ~/.kube/config, then in-cluster config) and an optional context name.
func Connect(kubeconfig, context string) (*Clients, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, errs.Wrap(errs.Usage, fmt.Errorf("kubeconfig: %w", err),
			"pass --kubeconfig FILE (or set KUBECONFIG) and --context NAME, or use --local with connection flags to run without Kubernetes")
	}
	ns, _, err := cc.Namespace()
	if err != nil || ns == "" {
		ns = "default"
	}
	return NewClients(cfg, ns)
}

// NewClients builds clients from a rest.Config.
func NewClients(cfg *rest.Config, namespace string) (*Clients, error) {
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 100
	}
	typed, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes dynamic client: %w", err)
	}
	return &Clients{Config: cfg, Typed: typed, Dynamic: dyn, Namespace: namespace}, nil
}

// AnnotateNamespace sets one annotation on a namespace (merge patch).
func (c *Clients) AnnotateNamespace(ctx context.Context, namespace, key, value string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{key: value}}})
	if err != nil {
		return err
	}
	_, err = c.Typed.CoreV1().Namespaces().Patch(ctx, namespace, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("annotate namespace %s: %w", namespace, err)
	}
	return nil
}
