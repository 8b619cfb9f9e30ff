package scale

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestScaleDeploymentConfigs(t *testing.T) {
	s, kc, ns := newScaler(t)
	ctx := context.Background()
	for _, n := range []string{"apicast-production", "backend-listener", "backend-worker", "system-mysql"} {
		mkDC(t, kc, ns, n, 1)
	}
	if k, err := s.Detect(ctx); err != nil || k != Template {
		t.Fatalf("Detect = %q, %v; want template", k, err)
	}
	if err := s.Scale(ctx, map[string]int32{"apicast-production": 3, "backend-listener": 2}); err != nil {
		t.Fatal(err)
	}
	if got := specReplicas(t, kc, ns, kube.KindDeploymentConfig, "apicast-production"); got != 3 {
		t.Errorf("apicast-production replicas = %d, want 3", got)
	}
	if got := specReplicas(t, kc, ns, kube.KindDeploymentConfig, "backend-listener"); got != 2 {
		t.Errorf("backend-listener replicas = %d, want 2", got)
	}
	if got := specReplicas(t, kc, ns, kube.KindDeploymentConfig, "backend-worker"); got != 1 {
		t.Errorf("backend-worker changed to %d", got)
	}
	runControllers(t, kc, ns, 200*time.Millisecond)
	task := progress.NewTask("wait")
	if err := s.Wait(ctx, []string{"apicast-production", "backend-listener"}, 10*time.Second, task); err != nil {
		t.Fatal(err)
	}
	if st := task.Stats(); st.Items != 5 || st.TotalItems != 5 || !st.Done {
		t.Errorf("wait progress = %+v, want 5/5 ready, done", st)
	}
}

func TestScaleDeployments(t *testing.T) {
	s, kc, ns := newScaler(t)
	ctx := context.Background()
	mkDeployment(t, kc, ns, "apicast-staging", 1, "")
	mkDeployment(t, kc, ns, "zync-que", 1, "")
	if k, err := s.Detect(ctx); err != nil || k != Deployments {
		t.Fatalf("Detect = %q, %v; want deployments", k, err)
	}
	if err := s.Scale(ctx, map[string]int32{"apicast-staging": 0, "zync-que": 4}); err != nil {
		t.Fatal(err)
	}
	if got := specReplicas(t, kc, ns, kube.KindDeployment, "apicast-staging"); got != 0 {
		t.Errorf("apicast-staging = %d, want 0", got)
	}
	if got := specReplicas(t, kc, ns, kube.KindDeployment, "zync-que"); got != 4 {
		t.Errorf("zync-que = %d, want 4", got)
	}
}

func TestScaleThroughAPIManager(t *testing.T) {
	s, kc, ns := newScaler(t)
	ctx := context.Background()
	mkAPIManager(t, kc, ns, map[string]any{
		"wildcardDomain": "apps.example.com",
		"apicast":        map[string]any{"productionSpec": map[string]any{"replicas": int64(1)}},
		"backend":        map[string]any{"listenerSpec": map[string]any{"hpa": true}},
	})
	for _, n := range []string{"apicast-production", "backend-listener", "system-searchd", "system-memcache", "backend-redis", "system-app"} {
		mkDeployment(t, kc, ns, n, 1, "apimanager")
	}
	if k, err := s.Detect(ctx); err != nil || k != Operator {
		t.Fatalf("Detect = %q, %v; want operator", k, err)
	}
	if err := s.Scale(ctx, map[string]int32{"apicast-production": 4, "system-app": 2}); err != nil {
		t.Fatal(err)
	}
	if n, _ := crReplicas(t, kc, ns, "spec", "apicast", "productionSpec"); n != 4 {
		t.Errorf("APIManager apicast.productionSpec.replicas = %d, want 4", n)
	}
	if n, _ := crReplicas(t, kc, ns, "spec", "system", "appSpec"); n != 2 {
		t.Errorf("APIManager system.appSpec.replicas = %d, want 2", n)
	}
	// The Deployment is the operator's to change, not ours.
	if got := specReplicas(t, kc, ns, kube.KindDeployment, "apicast-production"); got != 1 {
		t.Errorf("deployment scaled directly to %d; only the CR should change", got)
	}

	err := s.Scale(ctx, map[string]int32{"backend-listener": 3})
	if err == nil || !strings.Contains(err.Error(), "HorizontalPodAutoscaler") || !strings.Contains(errs.Hint(err), "hpa: false") {
		t.Errorf("hpa component: err = %v (hint %q)", err, errs.Hint(err))
	}
	// The operator's searchd and memcached reconcilers do not enforce
	// replicas: those are scaled directly, and it sticks.
	if err := s.Scale(ctx, map[string]int32{"system-searchd": 2, "system-memcache": 0}); err != nil {
		t.Fatalf("searchd and memcache under the operator: %v", err)
	}
	if got := specReplicas(t, kc, ns, kube.KindDeployment, "system-searchd"); got != 2 {
		t.Errorf("system-searchd at %d, want 2", got)
	}
	if got := specReplicas(t, kc, ns, kube.KindDeployment, "system-memcache"); got != 0 {
		t.Errorf("system-memcache at %d, want 0", got)
	}
	err = s.Scale(ctx, map[string]int32{"backend-redis": 2})
	if err == nil || !strings.Contains(err.Error(), "no replicas field") {
		t.Errorf("backend-redis under operator: err = %v", err)
	}

	runControllers(t, kc, ns, 100*time.Millisecond)
	if err := s.Wait(ctx, []string{"apicast-production", "system-app"}, 10*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	if got := specReplicas(t, kc, ns, kube.KindDeployment, "apicast-production"); got != 4 {
		t.Errorf("after the simulated operator: %d, want 4", got)
	}
	rows, err := s.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Status{}
	for _, r := range rows {
		byName[r.Component] = r
	}
	if r := byName["apicast-production"]; r.Desired != 4 || r.Ready != 4 || !r.Managed || r.CRField != "spec.apicast.productionSpec.replicas" {
		t.Errorf("status apicast-production = %+v", r)
	}
	if r := byName["backend-listener"]; !r.HPA {
		t.Errorf("status backend-listener = %+v, want hpa", r)
	}
	if r := byName["apicast-production"]; !r.Enforced || r.Note != "" {
		t.Errorf("status apicast-production = %+v, want enforced by the operator", r)
	}
	if r := byName["system-searchd"]; r.Enforced || !strings.Contains(r.Note, "not enforced") || r.Desired != 2 {
		t.Errorf("status system-searchd = %+v, want scaled directly, not enforced", r)
	}
	if r := byName["backend-redis"]; !r.Enforced || !strings.Contains(r.Note, "fixed") {
		t.Errorf("status backend-redis = %+v, want enforced at a fixed count", r)
	}
	if len(rows) != 6 {
		t.Errorf("status has %d rows, want 6: %+v", len(rows), rows)
	}
}

func TestScaleUnknownComponent(t *testing.T) {
	s, kc, ns := newScaler(t)
	mkDC(t, kc, ns, "system-app", 1)
	err := s.Scale(context.Background(), map[string]int32{"apicast-prod": 2, "system-app": 1})
	if errs.Code(err) != errs.Usage {
		t.Fatalf("code = %d (%v), want usage", errs.Code(err), err)
	}
	if !strings.Contains(err.Error(), "apicast-prod") || !strings.Contains(errs.Hint(err), "apicast-production") {
		t.Errorf("error %q / hint %q should name the bad and the valid components", err, errs.Hint(err))
	}
	if got := specReplicas(t, kc, ns, kube.KindDeploymentConfig, "system-app"); got != 1 {
		t.Errorf("valid part applied despite the error")
	}
	err = s.Scale(context.Background(), map[string]int32{"zync": 1})
	if err == nil || !strings.Contains(err.Error(), "no Deployment or DeploymentConfig named zync") {
		t.Errorf("absent component: %v", err)
	}
}

func TestWaitTimesOut(t *testing.T) {
	s, kc, ns := newScaler(t)
	mkDeployment(t, kc, ns, "backend-worker", 2, "")
	start := time.Now()
	err := s.Wait(context.Background(), []string{"backend-worker"}, 300*time.Millisecond, nil)
	if err == nil || !strings.Contains(err.Error(), "timed out") || !strings.Contains(err.Error(), "backend-worker: waiting for the controller") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("timeout of 300ms took %s", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Wait(ctx, []string{"backend-worker"}, time.Minute, nil); !errs.Canceled(err) {
		t.Errorf("cancelled wait: %v", err)
	}
}

func TestRollout(t *testing.T) {
	s, kc, ns := newScaler(t)
	ctx := context.Background()
	mkDeployment(t, kc, ns, "system-app", 1, "")
	mkDC(t, kc, ns, "backend-worker", 2)
	if err := reconcile(ctx, kc, ns); err != nil {
		t.Fatal(err)
	}
	dc0, _ := kc.GetWorkloadKind(ctx, ns, kube.KindDeploymentConfig, "backend-worker")
	s.Now = func() time.Time { return time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC) }
	runControllers(t, kc, ns, 300*time.Millisecond)
	if err := s.Rollout(ctx, []string{"system-app", "backend-worker"}, 10*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	d, err := kc.Typed.AppsV1().Deployments(ns).Get(ctx, "system-app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Annotations[kube.RestartAnnotation]; got != "2026-03-01T02:00:00Z" {
		t.Errorf("restart annotation = %q", got)
	}
	dc1, _ := kc.GetWorkloadKind(ctx, ns, kube.KindDeploymentConfig, "backend-worker")
	if dc1.LatestVersion != dc0.LatestVersion+1 || !dc1.Settled() {
		t.Errorf("deploymentconfig after rollout: %+v (before latestVersion %d)", dc1, dc0.LatestVersion)
	}
	if err := s.Rollout(ctx, []string{"system-ap"}, time.Second, nil); errs.Code(err) != errs.Usage {
		t.Errorf("unknown component: %v", err)
	}
}

// A scale request is exactly one of COMPONENT=N, --down-all and --resume;
// Run does it and, with Wait, waits for what it changed.
func TestRunRequest(t *testing.T) {
	if _, err := ParseTargets([]string{"apicast-production=3", "zync=x"}); errs.Code(err) != errs.Usage || !strings.Contains(err.Error(), `"zync=x"`) {
		t.Errorf("bad COMPONENT=N: %v", err)
	}
	if got, err := ParseTargets([]string{"apicast-production=3", "zync=0"}); err != nil || got["apicast-production"] != 3 || got["zync"] != 0 || len(got) != 2 {
		t.Errorf("ParseTargets = %v, %v", got, err)
	}
	for _, r := range []Request{{}, {DownAll: true, Resume: true}, {Resume: true, Targets: map[string]int32{"zync": 1}}} {
		if err := r.Check(); errs.Code(err) != errs.Usage || !strings.Contains(err.Error(), "exactly one of") {
			t.Errorf("Check(%+v) = %v", r, err)
		}
	}

	s, kc, ns := newScaler(t)
	ctx := context.Background()
	mkDeployment(t, kc, ns, "apicast-staging", 1, "")
	mkDeployment(t, kc, ns, "zync-que", 2, "")
	runControllers(t, kc, ns, 100*time.Millisecond)
	task := progress.NewTask("scale")
	res, err := s.Run(ctx, Request{Targets: map[string]int32{"apicast-staging": 2}, Wait: true, Timeout: 10 * time.Second}, task)
	if err != nil || res.Action != "scaled" || !res.Waited || res.Replicas["apicast-staging"] != 2 {
		t.Fatalf("Run scale: %+v, %v", res, err)
	}
	if w, _ := kc.GetWorkloadKind(ctx, ns, kube.KindDeployment, "apicast-staging"); w.Ready != 2 {
		t.Errorf("waited, but apicast-staging has %d ready", w.Ready)
	}
	res, err = s.Run(ctx, Request{DownAll: true}, nil)
	if err != nil || res.Action != "scaled to 0 (recorded replicas)" || res.Replicas["zync-que"] != 2 || res.Waited {
		t.Fatalf("Run down-all: %+v, %v", res, err)
	}
	res, err = s.Run(ctx, Request{Resume: true, Wait: true, Timeout: 10 * time.Second}, nil)
	if err != nil || res.Action != "resumed" || strings.Join(res.Components(), ",") != "apicast-staging,zync-que" {
		t.Fatalf("Run resume: %+v, %v", res, err)
	}
}
