// Package kube is 3scale-ops' only door to Kubernetes: client
// construction, reading and applying objects, scaling and rollouts of
// Deployments, DeploymentConfigs and the APIManager CR, and exec into
// pods. Engines (SQL, Redis, repository) never import it.
package kube

import (
	"context"
	"fmt"
	"maps"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// NamespaceAnnotation reads one annotation of a namespace ("" when it is
// not set). Reading a Namespace needs a cluster-scoped rule that a
// namespaced Role cannot grant: callers treat a Forbidden error as "not known".
func (c *Clients) NamespaceAnnotation(ctx context.Context, namespace, key string) (string, error) {
	ns, err := c.Typed.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("read namespace %s: %w", namespace, err)
	}
	return ns.Annotations[key], nil
}

// PutConfigMap creates the ConfigMap name in namespace with labels and
// data, or replaces the data (and sets the labels) of the existing one:
// get, then create or update, the verbs the generated Role grants.
func (c *Clients) PutConfigMap(ctx context.Context, namespace, name string, labels, data map[string]string) error {
	cms := c.Typed.CoreV1().ConfigMaps(namespace)
	cm, err := cms.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Data: data}, metav1.CreateOptions{})
	case err == nil:
		if cm.Labels == nil {
			cm.Labels = map[string]string{}
		}
		maps.Copy(cm.Labels, labels)
		cm.Data, cm.BinaryData = data, nil
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
	}
	if err != nil {
		return kubeErr(err, "write", "ConfigMap "+name, namespace)
	}
	return nil
}

// GetConfigMapData reads the data of a ConfigMap; found is false when it
// does not exist.
func (c *Clients) GetConfigMapData(ctx context.Context, namespace, name string) (data map[string]string, found bool, err error) {
	cm, err := c.Typed.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, kubeErr(err, "get", "ConfigMap "+name, namespace)
	}
	return cm.Data, true, nil
}
