package scale

import (
	"context"
	"maps"
	"reflect"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/kube"
)

func TestDownAllResumeTemplate(t *testing.T) {
	s, kc, ns := newScaler(t)
	ctx := context.Background()
	want := map[string]int32{"apicast-production": 3, "backend-listener": 2, "backend-worker": 2, "system-app": 1, "system-sphinx": 1, "zync-que": 0}
	for n, r := range want {
		mkDC(t, kc, ns, n, int64(r))
	}
	mkDC(t, kc, ns, "system-mysql", 1)
	mkDeployment(t, kc, ns, "system-memcache", 1, "")

	got, err := s.DownAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Errorf("recorded %v, want %v", got, want)
	}
	for n := range want {
		if r := specReplicas(t, kc, ns, kube.KindDeploymentConfig, n); r != 0 {
			t.Errorf("%s at %d after down-all", n, r)
		}
	}
	if r := specReplicas(t, kc, ns, kube.KindDeploymentConfig, "system-mysql"); r != 1 {
		t.Errorf("system-mysql scaled to %d; databases must keep running", r)
	}
	if r := specReplicas(t, kc, ns, kube.KindDeployment, "system-memcache"); r != 1 {
		t.Errorf("system-memcache scaled to %d", r)
	}
	// Idempotent: a second down-all keeps the first record, never zeros.
	again, err := s.DownAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(again, want) {
		t.Errorf("second down-all recorded %v, want %v", again, want)
	}
	rows, err := s.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if w, ok := want[r.Component]; ok && (r.Recorded == nil || *r.Recorded != w) {
			t.Errorf("status of %s shows record %v, want %d", r.Component, r.Recorded, w)
		}
	}

	res, err := s.Resume(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(res, want) {
		t.Errorf("resumed %v, want %v", res, want)
	}
	for n, r := range want {
		if got := specReplicas(t, kc, ns, kube.KindDeploymentConfig, n); got != r {
			t.Errorf("%s resumed to %d, want %d", n, got, r)
		}
		w, _ := kc.GetWorkloadKind(ctx, ns, kube.KindDeploymentConfig, n)
		if _, ok := w.Annotations[RecordAnnotation]; ok {
			t.Errorf("%s still carries the record after resume", n)
		}
	}
	// Idempotent: nothing recorded, nothing done.
	if res, err := s.Resume(ctx); err != nil || len(res) != 0 {
		t.Errorf("second resume: %v, %v", res, err)
	}
}

func TestDownAllResumeOperator(t *testing.T) {
	s, kc, ns := newScaler(t)
	ctx := context.Background()
	mkAPIManager(t, kc, ns, map[string]any{
		"wildcardDomain": "apps.example.com",
		"apicast":        map[string]any{"productionSpec": map[string]any{"replicas": int64(2)}},
		"system":         map[string]any{"appSpec": map[string]any{"replicas": int64(1)}},
	})
	mkDeployment(t, kc, ns, "apicast-production", 2, "apimanager")
	mkDeployment(t, kc, ns, "system-app", 1, "apimanager")
	mkDeployment(t, kc, ns, "zync", 1, "apimanager") // CR field unset: the deployment's count
	mkDeployment(t, kc, ns, "system-searchd", 1, "apimanager")
	mkDeployment(t, kc, ns, "backend-redis", 1, "apimanager")

	got, err := s.DownAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int32{"apicast-production": 2, "system-app": 1, "zync": 1, "system-searchd": 1}
	if !maps.Equal(got, want) {
		t.Errorf("recorded %v, want %v", got, want)
	}
	for _, p := range [][]string{{"spec", "apicast", "productionSpec"}, {"spec", "system", "appSpec"}, {"spec", "zync", "appSpec"}} {
		if n, found := crReplicas(t, kc, ns, p...); !found || n != 0 {
			t.Errorf("APIManager %v.replicas = %d (set %v), want 0", p, n, found)
		}
	}
	if r := specReplicas(t, kc, ns, kube.KindDeployment, "system-searchd"); r != 0 {
		t.Errorf("system-searchd at %d, want 0 (scaled directly: not in the CR)", r)
	}
	if r := specReplicas(t, kc, ns, kube.KindDeployment, "backend-redis"); r != 1 {
		t.Errorf("backend-redis scaled to %d", r)
	}
	if again, err := s.DownAll(ctx); err != nil || !maps.Equal(again, want) {
		t.Errorf("second down-all: %v, %v", again, err)
	}
	res, err := s.Resume(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(res, want) {
		t.Errorf("resumed %v, want %v", res, want)
	}
	if n, _ := crReplicas(t, kc, ns, "spec", "apicast", "productionSpec"); n != 2 {
		t.Errorf("apicast production resumed to %d", n)
	}
	if n, found := crReplicas(t, kc, ns, "spec", "zync", "appSpec"); found {
		t.Errorf("zync: resume left spec.zync.appSpec.replicas = %d, a field the CR did not have", n)
	}
	if r := specReplicas(t, kc, ns, kube.KindDeployment, "zync"); r != 1 {
		t.Errorf("zync deployment resumed to %d, want 1 (the field is absent: the operator no longer sets it)", r)
	}
	apim, _ := kc.GetAPIManager(ctx, ns)
	if _, ok := apim.GetAnnotations()[RecordAnnotation]; ok {
		t.Error("APIManager still carries the record")
	}
	if r := specReplicas(t, kc, ns, kube.KindDeployment, "system-searchd"); r != 1 {
		t.Errorf("system-searchd resumed to %d", r)
	}
}

// --down-all then --resume leaves the APIManager exactly as it was: a
// replicas field the CR did not have (the operator's default, "not
// enforced") is removed again, with the objects down-all had to create.
func TestDownAllResumeKeepsFieldPresence(t *testing.T) {
	s, kc, ns := newScaler(t)
	ctx := context.Background()
	mkAPIManager(t, kc, ns, map[string]any{
		"wildcardDomain": "apps.example.com",
		"apicast":        map[string]any{"productionSpec": map[string]any{"replicas": int64(2)}, "stagingSpec": map[string]any{"replicas": int64(0)}},
		"system":         map[string]any{"appSpec": map[string]any{}},
		"backend":        map[string]any{"listenerSpec": map[string]any{"hpa": false}},
	})
	before, _ := kc.GetAPIManager(ctx, ns)
	for _, n := range []string{"apicast-production", "apicast-staging", "system-app", "system-sidekiq", "backend-listener", "zync", "zync-que"} {
		mkDeployment(t, kc, ns, n, 1, "apimanager")
	}
	if _, err := s.DownAll(ctx); err != nil {
		t.Fatal(err)
	}
	if n, found := crReplicas(t, kc, ns, "spec", "zync", "queSpec"); !found || n != 0 {
		t.Fatalf("zync-que not scaled down through the CR: %d %v", n, found)
	}
	res, err := s.Resume(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res["system-app"] != 1 || res["apicast-production"] != 2 || res["zync-que"] != 1 {
		t.Errorf("resumed %v", res)
	}
	after, _ := kc.GetAPIManager(ctx, ns)
	if !reflect.DeepEqual(before.Object["spec"], after.Object["spec"]) {
		t.Errorf("APIManager spec changed by down-all + resume:\nbefore %v\nafter  %v", before.Object["spec"], after.Object["spec"])
	}
	if _, ok := after.GetAnnotations()[RecordAnnotation]; ok {
		t.Error("record left on the APIManager")
	}
	for _, n := range []string{"system-app", "system-sidekiq", "backend-listener", "zync", "zync-que"} {
		if r := specReplicas(t, kc, ns, kube.KindDeployment, n); r != 1 {
			t.Errorf("%s resumed to %d, want 1", n, r)
		}
	}
}

func TestDownAllRefusesHPA(t *testing.T) {
	s, kc, ns := newScaler(t)
	mkAPIManager(t, kc, ns, map[string]any{"wildcardDomain": "apps.example.com", "apicast": map[string]any{"productionSpec": map[string]any{"hpa": true}}})
	mkDeployment(t, kc, ns, "apicast-production", 2, "apimanager")
	mkDeployment(t, kc, ns, "system-app", 1, "apimanager")
	if _, err := s.DownAll(context.Background()); err == nil {
		t.Fatal("down-all with an HPA-controlled component succeeded")
	}
	if _, found := crReplicas(t, kc, ns, "spec", "system", "appSpec"); found {
		t.Error("down-all changed the CR before refusing")
	}
}

func TestDownAllEmptyNamespace(t *testing.T) {
	s, _, _ := newScaler(t)
	if _, err := s.DownAll(context.Background()); err == nil {
		t.Fatal("down-all in a namespace without 3scale succeeded")
	}
}
