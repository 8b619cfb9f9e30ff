package restore

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/kube/kubetest"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// runningPod creates a pod of workload with the containers, Running and
// Ready (no kubelet runs in the test environment: the status is written).
func runningPod(t *testing.T, kc *kube.Clients, ns, workload string, containers ...string) {
	t.Helper()
	ctx := context.Background()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: workload + "-1-abcde", Labels: map[string]string{"deployment": workload}}}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "registry.redhat.io/3scale-amp2/system-rhel8:3scale2.15"})
	}
	p, err := kc.Typed.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &now,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}}
	if _, err := kc.Typed.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// Without a system-sidekiq pod, System's rake tasks run in system-app's
// system-master container (system-app has no container of its own name),
// over the real exec protocol; the reindex reports the indexes it queued.
func TestRakeTasksInSystemApp(t *testing.T) {
	ns := testenv.Namespace(t)
	cfg := testenv.KubeConfig(t)
	admin, err := kube.NewClients(cfg, ns)
	if err != nil {
		t.Fatal(err)
	}
	runningPod(t, admin, ns, "system-app", "system-master", "system-provider", "system-developer")
	var mu sync.Mutex
	var ran []string
	srv := kubetest.NewServer(t, cfg, func(_ context.Context, req kubetest.Request, _ io.Reader, stdout, stderr io.Writer) int {
		mu.Lock()
		ran = append(ran, req.Pod+"/"+req.Container+": "+strings.Join(req.Command, " "))
		mu.Unlock()
		if req.Container != "system-master" {
			io.WriteString(stderr, "container not found\n")
			return 1
		}
		switch strings.Join(req.Command, " ") {
		case "bundle exec rake searchd:optimal_index":
			io.WriteString(stdout, strings.Repeat("Populating index ... done\n", 400)) // more than the kept tail
			io.WriteString(stderr, "account_core enqueued for optimization\nservice_core enqueued for optimization\n")
		case "bundle exec rake backend:storage:enqueue_rewrite":
			io.WriteString(stdout, "Enqueued 3 accounts for rewrite\n")
		default:
			return 127
		}
		return 0
	})
	kc, err := kube.NewClients(srv.Config(), ns)
	if err != nil {
		t.Fatal(err)
	}
	k := &KubeCluster{KC: kc, Namespace: ns}
	ctx := context.Background()

	res, err := k.Reindex(ctx, progress.NewTask(StepReindex))
	if err != nil {
		t.Fatalf("reindex: %v (exec calls %v)", err, ran)
	}
	if res.Items != 2 || !strings.Contains(res.Summary, "ran in system-app-1-abcde") || !strings.Contains(res.Summary, "(account_core, service_core)") {
		t.Errorf("reindex result: %+v", res)
	}
	res, err = k.BackendSync(ctx, progress.NewTask(StepBackendSync))
	if err != nil || res.Items != 3 {
		t.Fatalf("backend sync: %+v, %v (exec calls %v)", res, err, ran)
	}
	want := []string{"system-app-1-abcde/system-master: bundle exec rake searchd:optimal_index",
		"system-app-1-abcde/system-master: bundle exec rake backend:storage:enqueue_rewrite"}
	if strings.Join(ran, "\n") != strings.Join(want, "\n") {
		t.Errorf("exec calls:\n%s\nwant:\n%s", strings.Join(ran, "\n"), strings.Join(want, "\n"))
	}
}

// The search workload decides the reindex step: system-searchd gets it,
// system-sphinx and no search workload do not.
func TestSearchEngine(t *testing.T) {
	ns := testenv.Namespace(t)
	kc, err := kube.NewClients(testenv.KubeConfig(t), ns)
	if err != nil {
		t.Fatal(err)
	}
	k := &KubeCluster{KC: kc, Namespace: ns}
	ctx := context.Background()
	if e, err := k.SearchEngine(ctx); err != nil || e != "" {
		t.Fatalf("empty namespace: %q, %v", e, err)
	}
	one := int32(1)
	lbl := map[string]string{"deployment": Searchd}
	if _, err := kc.Typed.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: Searchd},
		Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: lbl}, Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: Searchd, Image: "registry.redhat.io/3scale-amp2/manticore-rhel9:3scale2.15"}}}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if e, err := k.SearchEngine(ctx); err != nil || e != Searchd {
		t.Fatalf("with system-searchd: %q, %v", e, err)
	}
}
