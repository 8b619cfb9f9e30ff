// Package controller stands in, for tests, for the controllers that the
// test API server does not run:
//
//   - the 3scale operator: it copies the replicas of the APIManager CR into
//     the Deployments it manages (the CR wins over a direct change), and,
//     given a Build function, builds the Deployments of an APIManager that
//     has none (its first reconcile);
//   - the deployment and DeploymentConfig controllers: they bring status
//     (replicas, readyReplicas, updatedReplicas, availableReplicas,
//     observedGeneration and, for a DeploymentConfig, latestVersion) in
//     line with spec;
//   - the kubelet's part for the pods that 3scale-ops execs into: while
//     system-app or system-sidekiq has replicas, one Running, Ready pod
//     carries the workload's label; at 0 its pods are deleted.
//
// It is the one simulator of the module's tests (package scale's and the
// end-to-end suite's). It imports only client-go and package kube: the
// operator's table of CR replica paths is given by the caller
// (scale.CRPaths), so package scale's own tests can use it.
//
// It is test tooling: it writes object status directly, which only a
// controller may do, so it must never be pointed at a real cluster.
package controller

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/kube"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
)

// PodWorkloads are the workloads that get a pod by default (3scale-ops
// execs into them).
var PodWorkloads = []string{"system-app", "system-sidekiq"}

// Options tune a simulator.
type Options struct {
	// Interval is the time between passes (default 50ms).
	Interval time.Duration
	// Delay is the time before the first pass (default none): a test sees
	// the state before the controllers act.
	Delay time.Duration
	// CRPaths maps a workload to the APIManager spec object holding its
	// replicas (scale.CRPaths). The simulated operator copies that count
	// into the workload's Deployment; nil: no operator.
	CRPaths map[string][]string
	// Build is the operator's first reconcile: called when an APIManager
	// exists and its system-app Deployment does not, with the CR's
	// replicas per workload (only the fields the CR sets); nil: nothing is
	// built.
	Build func(ctx context.Context, replicas map[string]int32) error
	// Pods are the workloads that get one Running, Ready pod while they
	// have replicas; nil: PodWorkloads.
	Pods []string
}

// Sim is a simulator of one namespace.
type Sim struct {
	kc     *kube.Clients
	ns     string
	o      Options
	cancel context.CancelFunc
	done   chan struct{}
	// lastErr is the last reconcile error (conflicts are retried on the next pass).
	lastErr atomic.Value
}

// New returns a simulator of namespace ns that reconciles only when
// Reconcile is called.
func New(kc *kube.Clients, ns string, o Options) *Sim {
	if o.Interval <= 0 {
		o.Interval = 50 * time.Millisecond
	}
	if o.Pods == nil {
		o.Pods = PodWorkloads
	}
	return &Sim{kc: kc, ns: ns, o: o}
}

// Start reconciles namespace ns every o.Interval (after o.Delay) until Stop.
func Start(kc *kube.Clients, ns string, o Options) *Sim {
	s := New(kc, ns, o)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.o.Delay):
		}
		for ctx.Err() == nil {
			if err := s.Reconcile(ctx); err != nil && ctx.Err() == nil {
				s.lastErr.Store(err.Error())
			}
			select {
			case <-ctx.Done():
			case <-time.After(s.o.Interval):
			}
		}
	}()
	return s
}

// Run starts a simulator that stops when the test ends.
func Run(t testing.TB, kc *kube.Clients, ns string, o Options) *Sim {
	t.Helper()
	s := Start(kc, ns, o)
	t.Cleanup(s.Stop)
	return s
}

// Stop ends a started simulator and waits for it; it may be called twice.
func (s *Sim) Stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	<-s.done
}

// LastError is the last reconcile error of the running simulator, "" if none.
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
	if apim != nil && s.o.Build != nil {
		if err := s.build(ctx, apim); err != nil {
			return err
		}
	}
	for _, kind := range []string{kube.KindDeployment, kube.KindDeploymentConfig} {
		res, label := kube.DeploymentGVR, "deployment"
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
			// The operator (2.15+ builds Deployments): the CR's replicas
			// win over the Deployment's.
			if path, ok := s.o.CRPaths[u.GetName()]; ok && apim != nil && kind == kube.KindDeployment {
				if n, found, _ := unstructured.NestedInt64(apim.Object, replicasPath(path)...); found {
					if cur, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas"); cur != n {
						_ = unstructured.SetNestedField(u.Object, n, "spec", "replicas")
						if u, err = rc.Update(ctx, u, metav1.UpdateOptions{}); err != nil {
							return err
						}
					}
				}
			}
			n, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
			if err := s.status(ctx, rc, u, kind, n); err != nil {
				return err
			}
			for _, w := range s.o.Pods {
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

// status is the deployment controller's: status follows spec; a new
// generation of a DeploymentConfig is a new rollout (latestVersion + 1).
func (s *Sim) status(ctx context.Context, rc dynamic.ResourceInterface, u *unstructured.Unstructured, kind string, n int64) error {
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
	if !changed {
		return nil
	}
	status["observedGeneration"] = u.GetGeneration()
	u.Object["status"] = status
	_, err := rc.UpdateStatus(ctx, u, metav1.UpdateOptions{})
	return err
}

func replicasPath(crPath []string) []string {
	return append(append([]string{}, crPath...), "replicas")
}

// build is the operator's first reconcile: an APIManager without its
// Deployments gets them, at the CR's replicas.
func (s *Sim) build(ctx context.Context, apim *unstructured.Unstructured) error {
	if _, err := s.kc.Dynamic.Resource(kube.DeploymentGVR).Namespace(s.ns).Get(ctx, "system-app", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		return err
	}
	replicas := map[string]int32{}
	for name, path := range s.o.CRPaths {
		if n, found, _ := unstructured.NestedInt64(apim.Object, replicasPath(path)...); found {
			replicas[name] = int32(n)
		}
	}
	return s.o.Build(ctx, replicas)
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
