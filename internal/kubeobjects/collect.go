package kubeobjects

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"sort"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/redact"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func (e *Engine) readErr(what string, err error) error {
	hint := "check the namespace (-n) and that your role may get and list " + what
	if apierrors.IsForbidden(err) {
		hint = "grant get and list " + what + " in namespace " + e.ns + " (3scale-ops manifests rbac) and run again"
	}
	return errs.Wrap(errs.Failure, fmt.Errorf("%s: read %s in namespace %s: %w", e.component, what, e.ns, err), hint)
}

// collectCore reads the named objects of a core resource plus those
// labelled as 3scale's (and, for secrets, those the APIManager refers to).
// Service-account token secrets are left out: the cluster makes them.
func (e *Engine) collectCore(ctx context.Context, resource string, names []string) ([]*unstructured.Unstructured, []string, error) {
	gvr := schema.GroupVersionResource{Version: "v1", Resource: resource}
	ri := e.kc.Dynamic.Resource(gvr).Namespace(e.ns)
	want := append(slices.Clone(names), e.opts.ExtraNames...)
	if resource == "secrets" {
		refs, err := e.referencedSecrets(ctx)
		if err != nil {
			return nil, nil, err
		}
		want = append(want, refs...)
	}
	byName := map[string]*unstructured.Unstructured{}
	var missing []string
	for _, n := range want {
		if _, ok := byName[n]; ok {
			continue
		}
		o, err := ri.Get(ctx, n, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			if !slices.Contains(missing, n) {
				missing = append(missing, n)
			}
			continue
		}
		if err != nil {
			return nil, nil, e.readErr(resource, err)
		}
		byName[n] = o
	}
	for _, sel := range LabelSelectors {
		list, err := ri.List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return nil, nil, e.readErr(resource, err)
		}
		for i := range list.Items {
			o := &list.Items[i]
			byName[o.GetName()] = o
		}
	}
	out := make([]*unstructured.Unstructured, 0, len(byName))
	for _, o := range byName {
		if resource == "secrets" {
			if t, _, _ := unstructured.NestedString(o.Object, "type"); t == "kubernetes.io/service-account-token" {
				continue
			}
			registerSecret(o)
		}
		o.SetAPIVersion("v1")
		o.SetKind(kindOf(resource))
		out = append(out, clean(o))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out, missing, nil
}

func kindOf(resource string) string {
	if resource == "secrets" {
		return "Secret"
	}
	return "ConfigMap"
}

// registerSecret masks the values of a secret from now on (see
// redact.SecretData for which values count as secret).
func registerSecret(o *unstructured.Unstructured) {
	data, _, _ := unstructured.NestedStringMap(o.Object, "data")
	plain := make(map[string][]byte, len(data))
	for k, v := range data {
		if b, err := base64.StdEncoding.DecodeString(v); err == nil {
			plain[k] = b
		}
	}
	sd, _, _ := unstructured.NestedStringMap(o.Object, "stringData")
	for k, v := range sd {
		plain[k] = []byte(v)
	}
	redact.SecretData(plain)
}

// clean strips what the server owns or what would block re-creation in
// another (or a re-created) namespace: uid, resourceVersion,
// creationTimestamp, generation, managedFields, selfLink, deletion marks,
// ownerReferences (their uids never match after re-creation, and the
// garbage collector would delete the object), the namespace and status.
func clean(o *unstructured.Unstructured) *unstructured.Unstructured {
	for _, f := range []string{"uid", "resourceVersion", "creationTimestamp", "generation", "managedFields",
		"selfLink", "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences", "namespace", "finalizers"} {
		unstructured.RemoveNestedField(o.Object, "metadata", f)
	}
	unstructured.RemoveNestedField(o.Object, "status")
	return o
}
