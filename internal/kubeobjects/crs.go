package kubeobjects

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// discover returns (as table kinds, their Version the one served) the apimanager component's kinds the server serves, in
// table order then (capabilities group only) the others by name, each at
// the group's preferred version when served there, else at the first
// other served version that has it; and the table kinds not served.
// In apps.3scale.net only the table's kinds count: APIManagerBackup and
// APIManagerRestore objects would start the operator's own backup or
// restore if re-created.
func (e *Engine) discover(ctx context.Context) ([]kube.Kind, []string, error) {
	groups, err := e.kc.Typed.Discovery().ServerGroups()
	if err != nil {
		return nil, nil, e.readErr("API discovery", err)
	}
	var out []kube.Kind
	var skipped []string
	for _, group := range []string{kube.AppsGroup, kube.CapabilitiesGroup} {
		byKind := map[string]kube.Kind{}
		for _, g := range groups.Groups {
			if g.Name != group {
				continue
			}
			versions := []string{g.PreferredVersion.Version}
			for _, v := range g.Versions {
				if !slices.Contains(versions, v.Version) {
					versions = append(versions, v.Version)
				}
			}
			for _, v := range versions {
				rl, err := e.kc.Typed.Discovery().ServerResourcesForGroupVersion(group + "/" + v)
				if apierrors.IsNotFound(err) {
					continue
				}
				if err != nil {
					return nil, nil, e.readErr("API discovery of "+group+"/"+v, err)
				}
				for _, r := range rl.APIResources {
					if strings.Contains(r.Name, "/") || !r.Namespaced || !slices.Contains(r.Verbs, "list") {
						continue
					}
					if _, seen := byKind[r.Kind]; seen {
						continue
					}
					k, known := kube.LookupKind(group, r.Kind)
					if !known {
						k = kube.Kind{Group: group, Resource: r.Name, Kind: r.Kind, Component: APIManager, Refs: true}
					}
					k.Version, k.Resource = v, r.Name
					byKind[r.Kind] = k
				}
			}
		}
		for _, k := range kube.KindsInGroup(group) {
			if s, ok := byKind[k.Kind]; ok {
				out = append(out, s)
				delete(byKind, k.Kind)
			} else {
				skipped = append(skipped, k.Kind)
			}
		}
		if group == kube.CapabilitiesGroup {
			extra := make([]string, 0, len(byKind))
			for kind := range byKind {
				extra = append(extra, kind)
			}
			sort.Strings(extra)
			for _, kind := range extra {
				out = append(out, byKind[kind])
			}
		}
	}
	return out, skipped, nil
}

// forbidden is a read the caller's role does not allow.
type forbidden struct {
	kind, rule string
}

func (f forbidden) String() string { return f.kind + " (needs " + f.rule + ")" }

// listKind lists one served kind. A Forbidden read of a required kind is
// an error naming the missing rule; of an optional kind it is returned as
// a forbidden record. A kind gone since discovery is an empty list.
func (e *Engine) listKind(ctx context.Context, k kube.Kind) ([]*unstructured.Unstructured, *forbidden, error) {
	gvr := k.GVR()
	list, err := e.kc.Dynamic.Resource(gvr).Namespace(e.ns).List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil, nil
	}
	if apierrors.IsForbidden(err) {
		rule := kube.Rule("list", k.Group, k.Resource)
		if k.Required {
			return nil, nil, errs.Wrap(errs.Failure, fmt.Errorf("%s: read %s in namespace %s: forbidden", e.component, gvr.Resource+"."+gvr.Group, e.ns),
				"grant "+rule+" in the namespace (3scale-ops manifests rbac) and run again")
		}
		return nil, &forbidden{k.Kind, rule}, nil
	}
	if err != nil {
		return nil, nil, e.readErr(gvr.Resource+"."+gvr.Group, err)
	}
	out := make([]*unstructured.Unstructured, 0, len(list.Items))
	for i := range list.Items {
		o := &list.Items[i]
		o.SetAPIVersion(gvr.GroupVersion().String())
		o.SetKind(k.Kind)
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out, nil, nil
}

// collectCRs reads the APIManager and every capability object, kind by
// kind in table order. It returns the objects, the table kinds the server
// does not serve, and the optional kinds the role may not read.
func (e *Engine) collectCRs(ctx context.Context) ([]*unstructured.Unstructured, []string, []string, error) {
	kinds, skipped, err := e.discover(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	var out []*unstructured.Unstructured
	var denied []string
	for _, k := range kinds {
		objs, f, err := e.listKind(ctx, k)
		if err != nil {
			return nil, nil, nil, err
		}
		if f != nil {
			denied = append(denied, f.String())
			e.log.Warn(e.component+": not allowed to read a kind; its objects are not in this backup", "kind", f.kind, "missing_rule", f.rule)
			continue
		}
		for _, o := range objs {
			out = append(out, clean(o))
		}
	}
	return out, skipped, denied, nil
}

// secretRef reports whether a field names a Secret: providerAccountRef,
// authSecretRef, masterCredentialsRef, configurationSecretRef and any
// other "...SecretRef" or "...CredentialsRef".
func secretRef(key string) bool {
	k := strings.ToLower(key)
	return strings.HasSuffix(k, "secretref") || strings.HasSuffix(k, "credentialsref") || k == "provideraccountref"
}

// referencedSecrets returns the names of the Secrets in the namespace that
// the APIManager and the capability objects refer to, de-duplicated and
// sorted, so that they are backed up (and restored, secrets first) with
// the objects using them. Kinds the role may not read are left to the
// apimanager component, which records them.
func (e *Engine) referencedSecrets(ctx context.Context) ([]string, error) {
	kinds, _, err := e.discover(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, k := range kinds {
		if !k.Refs {
			continue
		}
		objs, _, err := e.listKind(ctx, k)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			names = append(names, e.refsOf(o)...)
		}
	}
	sort.Strings(names)
	return slices.Compact(names), nil
}

// refsOf walks an object's spec for secret references in its namespace.
func (e *Engine) refsOf(o *unstructured.Unstructured) []string {
	var names []string
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if secretRef(key) {
				n, _ := x["name"].(string)
				ns, _ := x["namespace"].(string)
				switch {
				case n == "":
				case ns != "" && ns != e.ns:
					e.log.Info(e.component+": a secret reference points to another namespace; back that namespace up separately",
						"object", o.GetKind()+"/"+o.GetName(), "field", key, "namespace", ns)
				default:
					names = append(names, n)
				}
			}
			for k, c := range x {
				walk(k, c)
			}
		case []any:
			for _, c := range x {
				walk(key, c)
			}
		}
	}
	walk("", o.Object["spec"])
	return names
}

// moveRefs points the secret references of o that name the namespace it
// was backed up from (from) to the namespace it is restored into (to), so
// that a restore into another namespace does not use the old one's secrets.
func moveRefs(o *unstructured.Unstructured, from, to string) {
	if from == "" || from == to {
		return
	}
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if secretRef(key) && x["namespace"] == from {
				x["namespace"] = to
			}
			for k, c := range x {
				walk(k, c)
			}
		case []any:
			for _, c := range x {
				walk(key, c)
			}
		}
	}
	walk("", o.Object["spec"])
}

// VersionAnnotation is where the 3scale operator records the 3scale
// release an APIManager runs ("2.15").
const VersionAnnotation = "apps.3scale.net/apimanager-threescale-version"

// ReleaseKey is the key of the system-environment ConfigMap where the
// operator (pkg/3scale/amp/component/system.go) and the templates record
// the 3scale release System runs ("2.15").
const ReleaseKey = "AMP_RELEASE"

// installVersion is the 3scale release of the installation and where it was
// read: the APIManager's annotation, else AMP_RELEASE in the
// system-environment ConfigMap, else the tag of the system-app image
// ("…/system-rhel8:3scale2.15" → "2.15"); empty when none says.
func (e *Engine) installVersion(ctx context.Context, objs []*unstructured.Unstructured) (version, source string) {
	for _, o := range objs {
		if o.GetKind() == "APIManager" {
			if v := o.GetAnnotations()[VersionAnnotation]; v != "" {
				return v, "APIManager " + o.GetName() + " annotation " + VersionAnnotation
			}
		}
	}
	if cm, err := e.kc.Typed.CoreV1().ConfigMaps(e.ns).Get(ctx, "system-environment", metav1.GetOptions{}); err == nil {
		if v := majorMinor(cm.Data[ReleaseKey]); v != "" {
			return v, "ConfigMap system-environment " + ReleaseKey
		}
	}
	for _, gvr := range []schema.GroupVersionResource{kube.DeploymentGVR, kube.DeploymentConfigGVR} {
		w, err := e.kc.Dynamic.Resource(gvr).Namespace(e.ns).Get(ctx, "system-app", metav1.GetOptions{})
		if err != nil {
			continue
		}
		cs, _, _ := unstructured.NestedSlice(w.Object, "spec", "template", "spec", "containers")
		for _, c := range cs {
			img, _ := c.(map[string]any)["image"].(string)
			if v := versionFromTag(img); v != "" {
				return v, "system-app image " + img
			}
		}
	}
	return "", ""
}

// versionFromTag reads "2.15" from an image tag like "3scale2.15",
// "3scale-2.15.1" or "2.15".
func versionFromTag(image string) string {
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return ""
	}
	return majorMinor(image[i+1:])
}

// majorMinor reads "2.15" from a release like "2.15", "2.15.1",
// "3scale2.15" or "3scale-2.15"; empty when it is none of those.
func majorMinor(release string) string {
	tag := strings.TrimLeft(strings.TrimPrefix(strings.TrimSpace(release), "3scale"), "-v")
	parts := strings.Split(tag, ".")
	if len(parts) < 2 || parts[0] == "" || strings.Trim(parts[0], "0123456789") != "" || parts[1] == "" || strings.Trim(parts[1], "0123456789") != "" {
		return ""
	}
	return parts[0] + "." + parts[1]
}

// InstallVersion returns the 3scale release of the installation in
// namespace ns and where it was read (see Meta.Version); empty when
// nothing says, or the APIManager cannot be read.
func InstallVersion(ctx context.Context, kc *kube.Clients, ns string) (version, source string) {
	if kc == nil {
		return "", ""
	}
	e, _ := New(kc, ns, APIManager, Options{})
	var objs []*unstructured.Unstructured
	if list, err := kc.Dynamic.Resource(APIManagerGVR).Namespace(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for i := range list.Items {
			list.Items[i].SetKind("APIManager")
			objs = append(objs, &list.Items[i])
		}
	}
	return e.installVersion(ctx, objs)
}
