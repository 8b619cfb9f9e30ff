package kubeobjects

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	authv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/restmapper"
)

// Preflight checks, changing nothing, that the artifact parses and its
// metadata agrees with it, that the namespace exists, that the target
// knows every kind, and that the caller may get, create and update each
// resource there (SelfSubjectAccessReview).
func (e *Engine) Preflight(ctx context.Context, src artifact.Source) error {
	objs, err := readList(ctx, src, e.component)
	if err != nil {
		return err
	}
	var meta Meta
	if err := src.Get(MetaKey, &meta); err != nil {
		return errs.Wrap(errs.Mismatch, fmt.Errorf("%s: snapshot metadata: %w", e.component, err), "the snapshot is incomplete; pick another one")
	}
	if meta.Count != len(objs) {
		return errs.New(errs.Mismatch, "run `3scale-ops backups verify --read-data` and use another snapshot",
			"%s: %s holds %d objects, its metadata says %d", e.component, FileName(e.component), len(objs), meta.Count)
	}
	if _, err := e.kc.Typed.CoreV1().Namespaces().Get(ctx, e.ns, metav1.GetOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return errs.New(errs.Usage, "create it (kubectl create namespace "+e.ns+") or pass -n", "%s: namespace %s does not exist", e.component, e.ns)
		}
		if !apierrors.IsForbidden(err) { // a namespaced role cannot read the Namespace object: not an error
			return errs.Wrap(errs.Failure, fmt.Errorf("%s: namespace %s: %v", e.component, e.ns, apiMessage(err)), "check that the cluster is reachable (3scale-ops config --check)")
		}
	}
	gvrs, err := e.mapper(objs)
	if err != nil {
		return err
	}
	var denied []string
	for _, gvr := range gvrs {
		for _, verb := range []string{"get", "create", "update"} {
			r, err := e.kc.Typed.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authv1.SelfSubjectAccessReview{
				Spec: authv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authv1.ResourceAttributes{
					Namespace: e.ns, Verb: verb, Group: gvr.Group, Version: gvr.Version, Resource: gvr.Resource}},
			}, metav1.CreateOptions{})
			if err != nil {
				return errs.Wrap(errs.Failure, fmt.Errorf("%s: access review: %v", e.component, apiMessage(err)), "check that the cluster is reachable (3scale-ops config --check)")
			}
			if !r.Status.Allowed {
				res := gvr.Resource
				if gvr.Group != "" {
					res += "." + gvr.Group
				}
				denied = append(denied, verb+" "+res)
			}
		}
	}
	if len(denied) > 0 {
		sort.Strings(denied)
		return errs.New(errs.Usage, "grant these permissions in the namespace (3scale-ops manifests rbac) and run again",
			"%s: not allowed in namespace %s: %s", e.component, e.ns, strings.Join(denied, ", "))
	}
	return nil
}

// MissingKinds lists the kinds of the objects in src that the cluster does
// not serve, as "APIManager (apps.3scale.net/v1alpha1)": their CRDs are not
// installed (for the apimanager component: the 3scale operator is not).
// It reads the API discovery and changes nothing.
func MissingKinds(ctx context.Context, kc *kube.Clients, src artifact.Source, component string) ([]string, error) {
	objs, err := readList(ctx, src, component)
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, nil
	}
	groups, err := restmapper.GetAPIGroupResources(kc.Typed.Discovery())
	if err != nil && len(groups) == 0 {
		return nil, errs.Wrap(errs.Failure, fmt.Errorf("%s: API discovery: %w", component, err), "check that the cluster is reachable (3scale-ops config --check)")
	}
	rm := restmapper.NewDiscoveryRESTMapper(groups)
	seen := map[schema.GroupVersionKind]bool{}
	var missing []string
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		if seen[gvk] {
			continue
		}
		seen[gvk] = true
		if _, err := rm.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
			if !meta.IsNoMatchError(err) {
				return nil, fmt.Errorf("%s: map %s: %w", component, gvk, err)
			}
			missing = append(missing, gvk.Kind+" ("+gvk.GroupVersion().String()+")")
		}
	}
	return missing, nil
}
