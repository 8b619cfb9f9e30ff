package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// Kinds of workload 3scale runs its components as.
const (
	KindDeployment       = "Deployment"
	KindDeploymentConfig = "DeploymentConfig"
)

// RestartAnnotation is the pod-template annotation a restart bumps (the
// one `kubectl rollout restart` uses).
const RestartAnnotation = "kubectl.kubernetes.io/restartedAt"

// Resources the workload helpers use.
var (
	DeploymentGVR       = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	DeploymentConfigGVR = schema.GroupVersionResource{Group: "apps.openshift.io", Version: "v1", Resource: "deploymentconfigs"}
	APIManagerGVR       = schema.GroupVersionResource{Group: "apps.3scale.net", Version: "v1alpha1", Resource: "apimanagers"}
)

// ErrNotFound is returned when no workload of that name exists.
var ErrNotFound = errors.New("not found")

// Workload is the replica-relevant view of a Deployment or DeploymentConfig.
type Workload struct {
	Kind               string
	Name               string
	Desired            int32 // spec.replicas
	Replicas           int32 // status.replicas
	Ready              int32 // status.readyReplicas
	Available          int32 // status.availableReplicas
	Updated            int32 // status.updatedReplicas
	Generation         int64
	ObservedGeneration int64
	LatestVersion      int64 // DeploymentConfig status.latestVersion
	Annotations        map[string]string
	OwnerKinds         []string // kinds of the ownerReferences
}

// Settled reports whether the workload runs exactly its desired replicas,
// all updated and ready, and the controller has seen the latest spec.
func (w Workload) Settled() bool {
	if w.ObservedGeneration < w.Generation {
		return false
	}
	if w.Desired == 0 {
		return w.Replicas == 0 && w.Ready == 0
	}
	return w.Replicas == w.Desired && w.Ready == w.Desired && w.Available == w.Desired && w.Updated == w.Desired
}

func gvrFor(kind string) (schema.GroupVersionResource, error) {
	switch kind {
	case KindDeployment:
		return DeploymentGVR, nil
	case KindDeploymentConfig:
		return DeploymentConfigGVR, nil
	}
	return schema.GroupVersionResource{}, fmt.Errorf("unknown workload kind %q", kind)
}

func workloadFrom(kind string, u *unstructured.Unstructured) Workload {
	i32 := func(f ...string) int32 { v, _, _ := unstructured.NestedInt64(u.Object, f...); return int32(v) }
	i64 := func(f ...string) int64 { v, _, _ := unstructured.NestedInt64(u.Object, f...); return v }
	w := Workload{
		Kind: kind, Name: u.GetName(),
		Replicas: i32("status", "replicas"), Ready: i32("status", "readyReplicas"),
		Available: i32("status", "availableReplicas"), Updated: i32("status", "updatedReplicas"),
		Generation: u.GetGeneration(), ObservedGeneration: i64("status", "observedGeneration"),
		LatestVersion: i64("status", "latestVersion"), Annotations: u.GetAnnotations(),
	}
	if v, found, _ := unstructured.NestedInt64(u.Object, "spec", "replicas"); found {
		w.Desired = int32(v)
	} else if kind == KindDeployment {
		w.Desired = 1 // apps/v1 default
	}
	for _, o := range u.GetOwnerReferences() {
		w.OwnerKinds = append(w.OwnerKinds, o.Kind)
	}
	return w
}

// kubeErr turns an API error into one that names the object and the next step.
func kubeErr(err error, verb, what, ns string) error {
	if err == nil {
		return nil
	}
	switch {
	case apierrors.IsForbidden(err):
		return errs.Wrap(errs.Failure, fmt.Errorf("%s %s in namespace %s: forbidden: %w", verb, what, ns, err),
			"grant the role from `3scale-ops manifests rbac` to the account running 3scale-ops")
	case apierrors.IsUnauthorized(err):
		return errs.Wrap(errs.Failure, fmt.Errorf("%s %s: unauthorized: %w", verb, what, err),
			"log in again (oc login) or check the kubeconfig credentials")
	}
	return fmt.Errorf("%s %s in namespace %s: %w", verb, what, ns, err)
}

// noKind reports whether err means the resource type is not served (no
// DeploymentConfig on plain Kubernetes, no APIManager CRD without the operator).
func noKind(err error) bool {
	if apierrors.IsNotFound(err) {
		var st apierrors.APIStatus
		if errors.As(err, &st) && st.Status().Details != nil && st.Status().Details.Name != "" {
			return false // a named object is missing, the type exists
		}
		return true
	}
	return false
}

// GetWorkload finds name as a Deployment, then as a DeploymentConfig.
func (c *Clients) GetWorkload(ctx context.Context, ns, name string) (Workload, error) {
	for _, kind := range []string{KindDeployment, KindDeploymentConfig} {
		w, err := c.GetWorkloadKind(ctx, ns, kind, name)
		if err == nil {
			return w, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return Workload{}, err
		}
	}
	return Workload{}, fmt.Errorf("deployment or deploymentconfig %s in namespace %s: %w", name, ns, ErrNotFound)
}

// GetWorkloadKind reads one workload of a known kind.
func (c *Clients) GetWorkloadKind(ctx context.Context, ns, kind, name string) (Workload, error) {
	gvr, err := gvrFor(kind)
	if err != nil {
		return Workload{}, err
	}
	u, err := c.Dynamic.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Workload{}, fmt.Errorf("%s %s in namespace %s: %w", kind, name, ns, ErrNotFound)
	}
	if err != nil {
		return Workload{}, kubeErr(err, "get", kind+" "+name, ns)
	}
	return workloadFrom(kind, u), nil
}

// ListWorkloads returns every Deployment and DeploymentConfig of the
// namespace; a cluster without DeploymentConfigs simply has none.
func (c *Clients) ListWorkloads(ctx context.Context, ns string) ([]Workload, error) {
	var out []Workload
	for _, kind := range []string{KindDeployment, KindDeploymentConfig} {
		gvr, _ := gvrFor(kind)
		l, err := c.Dynamic.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			if kind == KindDeploymentConfig && noKind(err) {
				continue
			}
			return nil, kubeErr(err, "list", gvr.Resource, ns)
		}
		for i := range l.Items {
			out = append(out, workloadFrom(kind, &l.Items[i]))
		}
	}
	return out, nil
}

// ScaleWorkload sets the replicas through the scale subresource (what
// `oc scale` does).
func (c *Clients) ScaleWorkload(ctx context.Context, ns, kind, name string, replicas int32) error {
	gvr, err := gvrFor(kind)
	if err != nil {
		return err
	}
	patch := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, replicas)
	_, err = c.Dynamic.Resource(gvr).Namespace(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}, "scale")
	return kubeErr(err, "scale", kind+" "+name, ns)
}

// AnnotateWorkload sets (value non-nil) or removes (nil) one annotation.
func (c *Clients) AnnotateWorkload(ctx context.Context, ns, kind, name, key string, value *string) error {
	gvr, err := gvrFor(kind)
	if err != nil {
		return err
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{key: value}}})
	_, err = c.Dynamic.Resource(gvr).Namespace(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	return kubeErr(err, "annotate", kind+" "+name, ns)
}

// HasInstantiate reports whether the server offers deploymentconfigs/instantiate
// (a real OpenShift does; a cluster with only the DeploymentConfig CRD does not).
func (c *Clients) HasInstantiate() bool {
	rl, err := c.Typed.Discovery().ServerResourcesForGroupVersion(DeploymentConfigGVR.GroupVersion().String())
	if err != nil {
		return false
	}
	for _, r := range rl.APIResources {
		if r.Name == "deploymentconfigs/instantiate" {
			return true
		}
	}
	return false
}

// RestartWorkload triggers a new rollout and returns the workload as it was
// just before. A DeploymentConfig is instantiated (latest, forced) like
// `oc rollout latest` when the server offers it; otherwise, like a
// Deployment, its pod template gets a new restartedAt annotation, which its
// ConfigChange trigger turns into a new version.
func (c *Clients) RestartWorkload(ctx context.Context, ns, kind, name string, now time.Time) (Workload, error) {
	before, err := c.GetWorkloadKind(ctx, ns, kind, name)
	if err != nil {
		return Workload{}, err
	}
	gvr, _ := gvrFor(kind)
	if kind == KindDeploymentConfig && c.HasInstantiate() {
		req := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps.openshift.io/v1", "kind": "DeploymentRequest",
			"name": name, "latest": true, "force": true,
		}}
		req.SetName(name)
		_, err := c.Dynamic.Resource(gvr).Namespace(ns).Create(ctx, req, metav1.CreateOptions{}, "instantiate")
		return before, kubeErr(err, "instantiate", kind+" "+name, ns)
	}
	// Nanoseconds: two rollouts within one second (the Redis file-mode
	// procedure does that) must both change the template.
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{RestartAnnotation: now.UTC().Format(time.RFC3339Nano)}}}}})
	_, err = c.Dynamic.Resource(gvr).Namespace(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	return before, kubeErr(err, "restart", kind+" "+name, ns)
}

// GetAPIManager returns the namespace's APIManager CR, or nil when there is
// none (or the CRD is not installed: not an operator-based installation).
func (c *Clients) GetAPIManager(ctx context.Context, ns string) (*unstructured.Unstructured, error) {
	l, err := c.Dynamic.Resource(APIManagerGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		if noKind(err) {
			return nil, nil
		}
		return nil, kubeErr(err, "list", "apimanagers", ns)
	}
	switch len(l.Items) {
	case 0:
		return nil, nil
	case 1:
		return &l.Items[0], nil
	}
	return nil, errs.New(errs.Failure, "3scale supports one APIManager per namespace; remove the extra one",
		"namespace %s has %d APIManager objects", ns, len(l.Items))
}

// PatchAPIManager applies a JSON merge patch to the named APIManager.
func (c *Clients) PatchAPIManager(ctx context.Context, ns, name string, patch []byte) error {
	_, err := c.Dynamic.Resource(APIManagerGVR).Namespace(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	return kubeErr(err, "patch", "APIManager "+name, ns)
}
