package schedule

import (
	"context"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"
)

// TestManifestsAcceptedByAPIServer sends every object of `manifests all`
// to the real API server (server-side dry run): names, types and required
// fields are validated exactly as `kubectl apply` would have them.
func TestManifestsAcceptedByAPIServer(t *testing.T) {
	ns := testenv.Namespace(t)
	kc, err := kube.NewClients(testenv.KubeConfig(t), ns)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Manifests("all", ManifestOptions{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	groups, err := restmapper.GetAPIGroupResources(kc.Typed.Discovery())
	if err != nil {
		t.Fatal(err)
	}
	rm := restmapper.NewDiscoveryRESTMapper(groups)
	ctx := context.Background()
	for _, d := range strings.Split(string(b), "\n---\n") {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(d), &u.Object); err != nil {
			t.Fatal(err)
		}
		gvk := u.GroupVersionKind()
		m, err := rm.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("%s: %v", gvk, err)
		}
		_, err = kc.Dynamic.Resource(m.Resource).Namespace(ns).Create(ctx, &u, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			t.Errorf("%s %s refused by the API server: %v", u.GetKind(), u.GetName(), err)
		}
	}
}
