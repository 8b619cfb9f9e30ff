package testenv

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

func obj(apiVersion, kind, name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]any{"name": name}, "spec": spec}}
}

// TestCRDsRefuseWhatTheRealOnesRefuse: the environment's CRDs validate like
// the 3scale operator's and OpenShift's, so that what passes here passes on
// a real cluster.
func TestCRDsRefuseWhatTheRealOnesRefuse(t *testing.T) {
	ctx := context.Background()
	ns := Namespace(t)
	dyn := dynamic.NewForConfigOrDie(KubeConfig(t))
	apim := schema.GroupVersionResource{Group: "apps.3scale.net", Version: "v1alpha1", Resource: "apimanagers"}
	routes := schema.GroupVersionResource{Group: "route.openshift.io", Version: "v1", Resource: "routes"}
	caps := func(v, r string) schema.GroupVersionResource {
		return schema.GroupVersionResource{Group: "capabilities.3scale.net", Version: v, Resource: r}
	}
	tenant := map[string]any{"username": "admin", "organizationName": "ACME", "email": "a@example.com", "systemMasterUrl": "https://master.example.com",
		"masterCredentialsRef": map[string]any{"name": "m"}, "passwordCredentialsRef": map[string]any{"name": "p"}, "tenantSecretRef": map[string]any{"name": "s"}}
	route := func(host string) map[string]any {
		return map[string]any{"host": host, "to": map[string]any{"kind": "Service", "name": "apicast-production"}}
	}
	for _, c := range []struct {
		name string
		gvr  schema.GroupVersionResource
		o    *unstructured.Unstructured
		want string // in the error
	}{
		{"APIManager without wildcardDomain", apim, obj("apps.3scale.net/v1alpha1", "APIManager", "a", map[string]any{}), "spec.wildcardDomain: Required value"},
		{"replicas a string", apim, obj("apps.3scale.net/v1alpha1", "APIManager", "c", map[string]any{"wildcardDomain": "apps.example.com",
			"apicast": map[string]any{"productionSpec": map[string]any{"replicas": "2"}}}), "replicas"},
		{"Route host with _", routes, obj("route.openshift.io/v1", "Route", "r1", route("api_1-tenant1.apps.example.com")), "spec.host"},
		{"Route without to", routes, obj("route.openshift.io/v1", "Route", "r2", map[string]any{"host": "ok.apps.example.com"}), "spec.to: Required value"},
		{"Tenant at v1beta1", caps("v1beta1", "tenants"), obj("capabilities.3scale.net/v1beta1", "Tenant", "t1", tenant), "could not find"},
		{"Tenant without its secrets", caps("v1alpha1", "tenants"), obj("capabilities.3scale.net/v1alpha1", "Tenant", "t2", map[string]any{"username": "admin"}), "Required value"},
		{"ApplicationAuth without authSecretRef", caps("v1beta1", "applicationauths"), obj("capabilities.3scale.net/v1beta1", "ApplicationAuth", "aa", map[string]any{"applicationCRName": "x"}), "spec.authSecretRef: Required value"},
		{"Backend without privateBaseURL", caps("v1beta1", "backends"), obj("capabilities.3scale.net/v1beta1", "Backend", "b", map[string]any{"name": "x"}), "spec.privateBaseURL: Required value"},
	} {
		_, err := dyn.Resource(c.gvr).Namespace(ns).Create(ctx, c.o, metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: accepted or refused for another reason: %v", c.name, err)
		}
		if c.gvr.Resource == "tenants" && c.gvr.Version == "v1beta1" && !apierrors.IsNotFound(err) {
			t.Errorf("%s: %v, want NotFound (the version is not served)", c.name, err)
		}
	}
	// What the real ones accept, they accept; unknown spec fields are pruned.
	for _, c := range []struct {
		gvr schema.GroupVersionResource
		o   *unstructured.Unstructured
	}{
		{apim, obj("apps.3scale.net/v1alpha1", "APIManager", "ok", map[string]any{"wildcardDomain": "apps.example.com", "notAField": true,
			"apicast": map[string]any{"productionSpec": map[string]any{"replicas": int64(2), "affinity": map[string]any{}}}})},
		{routes, obj("route.openshift.io/v1", "Route", "ok", route("api-1-tenant1.apps.example.com"))},
		{caps("v1alpha1", "tenants"), obj("capabilities.3scale.net/v1alpha1", "Tenant", "ok", tenant)},
	} {
		got, err := dyn.Resource(c.gvr).Namespace(ns).Create(ctx, c.o, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("%s refused: %v", c.o.GetKind(), err)
		}
		if _, found, _ := unstructured.NestedFieldNoCopy(got.Object, "spec", "notAField"); found {
			t.Errorf("%s: an unknown spec field was kept (the real CRD prunes it)", c.o.GetKind())
		}
		if c.o.GetKind() == "Route" {
			if k, _, _ := unstructured.NestedInt64(got.Object, "spec", "to", "weight"); k != 100 {
				t.Errorf("Route: spec.to.weight not defaulted to 100: %v", got.Object["spec"])
			}
		}
	}
}
