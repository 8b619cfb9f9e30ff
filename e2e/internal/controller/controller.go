// Package controller stands in, for end-to-end tests, for the controllers
// that the test API server does not run: the 3scale operator (it builds
// the Deployments of an APIManager that has none, and copies replicas from
// the APIManager CR to the Deployments), the deployment and
// DeploymentConfig controllers (they set status replicas, readyReplicas,
// updatedReplicas, availableReplicas, observedGeneration and, for a
// DeploymentConfig, latestVersion), and the kubelet's part for the pods
// that 3scale-ops execs into: while system-app or system-sidekiq has
// replicas, one Running, Ready pod carries the workload's label; at 0 its
// pods are deleted.
//
// It is test tooling: it writes object status directly, which only a
// controller may do, so it must never be pointed at a real cluster.
package controller

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/3scale-ops/3scale-ops/e2e/fixture"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/scale"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// PodWorkloads are the workloads that get a pod (3scale-ops execs into them).
var PodWorkloads = []string{"system-app", "system-sidekiq"}

// Sim is a running simulator.
type Sim struct {
	kc     *kube.Clients
	ns     string
	cancel context.CancelFunc
	done   chan struct{}
	passes atomic.Int64
	// LastErr is the last reconcile error (conflicts are retried on the next pass).
	lastErr atomic.Value
}

// Start reconciles namespace ns every interval until Stop.
func Start(kc *kube.Clients, ns string, interval time.Duration) *Sim {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sim{kc: kc, ns: ns, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for ctx.Err() == nil {
			if err := s.Reconcile(ctx); err != nil && ctx.Err() == nil {
				s.lastErr.Store(err.Error())
			}
			s.passes.Add(1)
			select {
			case <-ctx.Done():
			case <-time.After(interval):
			}
		}
	}()
	return s
}

// Stop ends the simulator and waits for it.
func (s *Sim) Stop() {
	s.cancel()
	<-s.done
}

// LastError is the last reconcile error, "" if none.
func (s *Sim) LastError() string {
	v, _ := s.lastErr.Load().(string)
	return v
}

// Reconcile is one pass of every simulated controller.
func (s *Sim) Reconcile(ctx context.Context) error {
	apim, err := s.kc.GetAPIManager(ctx, s.ns)
	if err != nil {
		return err
	}
	if apim != nil {
		if err := s.build(ctx, apim); err != nil {
			return err
		}
	}
	for _, kind := range []string{kube.KindDeployment, kube.KindDeploymentConfig} {
		res := kube.DeploymentGVR
		label := "deployment"
		if kind == kube.KindDeploymentConfig {
			res, label = kube.DeploymentConfigGVR, "deploymentconfig"
		}
		rc := s.kc.Dynamic.Resource(res).Namespace(s.ns)
		list, err := rc.List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for i := range list.Items {
			u := &list.Items[i]
			// The operator: the CR's replicas win over the Deployment's.
			if c, ok := scale.Lookup(u.GetName()); ok && apim != nil && c.CRPath != nil && kind == kube.KindDeployment {
				path := append(append([]string{}, c.CRPath...), "replicas")
				if n, found, _ := unstructured.NestedInt64(apim.Object, path...); found {
					if cur, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas"); cur != n {
						_ = unstructured.SetNestedField(u.Object, n, "spec", "replicas")
						if u, err = rc.Update(ctx, u, metav1.UpdateOptions{}); err != nil {
							return err
						}
					}
				}
			}
			n, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
			status, _, _ := unstructured.NestedMap(u.Object, "status")
			if status == nil {
				status = map[string]any{}
			}
			og, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
			changed := og != u.GetGeneration()
			if changed && kind == kube.KindDeploymentConfig {
				lv, _, _ := unstructured.NestedInt64(u.Object, "status", "latestVersion")
				status["latestVersion"] = lv + 1
			}
			for _, k := range []string{"replicas", "readyReplicas", "availableReplicas", "updatedReplicas"} {
				if v, _, _ := unstructured.NestedInt64(u.Object, "status", k); v != n {
					changed = true
				}
				status[k] = n
			}
			if changed {
				status["observedGeneration"] = u.GetGeneration()
				u.Object["status"] = status
				if _, err := rc.UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
					return err
				}
			}
			for _, w := range PodWorkloads {
				if u.GetName() == w {
					if err := s.pods(ctx, w, label, n > 0); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// build is the operator's first reconcile: an APIManager without its
// Deployments gets them, at the CR's replicas.
func (s *Sim) build(ctx context.Context, apim *unstructured.Unstructured) error {
	if _, err := s.kc.Dynamic.Resource(kube.DeploymentGVR).Namespace(s.ns).Get(ctx, "system-app", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		return err
	}
	replicas := map[string]int32{}
	for _, c := range scale.Components() {
		if c.CRPath == nil {
			continue
		}
		path := append(append([]string{}, c.CRPath...), "replicas")
		if n, found, _ := unstructured.NestedInt64(apim.Object, path...); found {
			replicas[c.Name] = int32(n)
		}
	}
	_, err := fixture.Workloads(ctx, s.kc, s.ns, fixture.Options{Kind: fixture.Operator, Replicas: replicas})
	return err
}

// pods keeps one Running, Ready pod of workload (want) or none.
func (s *Sim) pods(ctx context.Context, workload, label string, want bool) error {
	pc := s.kc.Typed.CoreV1().Pods(s.ns)
	list, err := pc.List(ctx, metav1.ListOptions{LabelSelector: label + "=" + workload})
	if err != nil {
		return err
	}
	if !want {
		zero := int64(0)
		for _, p := range list.Items {
			if err := pc.Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
		return nil
	}
	if len(list.Items) > 0 && list.Items[0].Status.Phase == corev1.PodRunning {
		return nil
	}
	var p *corev1.Pod
	if len(list.Items) > 0 {
		p = &list.Items[0]
	} else {
		p, err = pc.Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{GenerateName: workload + "-", Labels: map[string]string{label: workload}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: workload, Image: "registry.example.com/3scale/" + workload}}},
		}, metav1.CreateOptions{})
		if err != nil {
			return err
		}
	}
	now := metav1.Now()
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &now,
		Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: workload, Ready: true, Image: p.Spec.Containers[0].Image, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}}}
	_, err = pc.UpdateStatus(ctx, p, metav1.UpdateOptions{})
	return err
}
