package scale

import (
	"maps"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// An APIManager created where 3scale does not run yet is held at zero:
// every replica field it scales is 0 and the counts it asked for are in
// the record Resume reads (a missing field as absent, default 1).
func TestHoldAtZero(t *testing.T) {
	apim := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps.3scale.net/v1alpha1", "kind": "APIManager",
		"metadata": map[string]any{"name": "3scale"},
		"spec": map[string]any{"wildcardDomain": "example.com",
			"apicast": map[string]any{"productionSpec": map[string]any{"replicas": int64(3)}, "stagingSpec": map[string]any{"replicas": int64(1)}},
			"backend": map[string]any{"listenerSpec": map[string]any{"replicas": int64(2)}, "workerSpec": map[string]any{"replicas": int64(2)}, "cronSpec": map[string]any{"replicas": int64(1)}},
			"system":  map[string]any{"appSpec": map[string]any{"replicas": int64(2)}, "sidekiqSpec": map[string]any{"replicas": int64(1)}},
			"zync":    map[string]any{"appSpec": map[string]any{"replicas": int64(1)}}}}}
	got := HoldAtZero(apim)
	want := map[string]int32{"apicast-production": 3, "apicast-staging": 1, "backend-listener": 2, "backend-worker": 2, "backend-cron": 1,
		"system-app": 2, "system-sidekiq": 1, "zync": 1, "zync-que": 1}
	if !maps.Equal(got, want) {
		t.Fatalf("recorded %v, want %v", got, want)
	}
	st := &state{apim: apim}
	for _, c := range components {
		if c.CRPath == nil || !c.Quiesce {
			continue
		}
		if n, set := st.crReplicas(c); !set || n != 0 {
			t.Errorf("%s: replicas %d (set %v), want 0", c.Name, n, set)
		}
	}
	rec := st.crRecord()
	if rec["system-app"].Was != 2 || rec["system-app"].Absent || !rec["zync-que"].Absent || rec["zync-que"].Was != 1 {
		t.Errorf("record %+v", rec)
	}
	// Applied again (a resumed restore) it keeps the first record.
	if again := HoldAtZero(apim); !maps.Equal(again, want) {
		t.Errorf("second hold recorded %v", again)
	}
}
