package kube

import (
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Kind is one Kubernetes resource 3scale-ops reads or writes. The table
// Kinds is the single source of what the tool touches: the backup
// components collect and restore the kinds whose Component they are, the
// capability kinds are discovered by Group, and the least-privilege Role
// (Rules) grants exactly the Verbs listed here, so that a kind backed up
// is a kind the Role allows.
type Kind struct {
	Group    string
	Resource string // plural, or "plural/subresource"
	Kind     string // empty for subresources
	// Version is the version the kind is known at; discovery prefers the
	// group's preferred version when the server serves the kind there.
	Version string
	Verbs   []string
	// Component is the backup component holding the kind's objects
	// ("secrets", "configmaps", "apimanager"); empty when not backed up.
	Component string
	// Required kinds fail a backup when their read is Forbidden; the
	// others are a warning recorded in the snapshot.
	Required bool
	// Refs marks kinds whose objects name Secrets the backup follows.
	Refs bool
}

// Groups of the 3scale operator.
const (
	AppsGroup         = "apps.3scale.net"
	CapabilitiesGroup = "capabilities.3scale.net"
)

var (
	objectVerbs = []string{"get", "list", "create", "update", "delete"}
	crVerbs     = objectVerbs
)

// Kinds is every resource the tool uses, in restore order within a
// component (what others refer to first).
var Kinds = []Kind{
	{Resource: "secrets", Kind: "Secret", Version: "v1", Verbs: objectVerbs, Component: "secrets", Required: true},
	// configmaps also hold the restore journal's mirror (get, create, update).
	{Resource: "configmaps", Kind: "ConfigMap", Version: "v1", Verbs: objectVerbs, Component: "configmaps", Required: true},
	// The exec paths (storage tar, zync resync, backend sync, reindex,
	// Redis file mode): verbs derived from the calls in exec.go.
	{Resource: "pods", Kind: "Pod", Version: "v1", Verbs: PodVerbs},
	{Resource: "pods/exec", Version: "v1", Verbs: ExecVerbs},
	{Group: "apps", Resource: "deployments", Kind: "Deployment", Version: "v1", Verbs: []string{"get", "list", "patch"}},
	{Group: "apps", Resource: "deployments/scale", Version: "v1", Verbs: []string{"get", "patch"}},
	{Group: "apps.openshift.io", Resource: "deploymentconfigs", Kind: "DeploymentConfig", Version: "v1", Verbs: []string{"get", "list", "patch"}},
	{Group: "apps.openshift.io", Resource: "deploymentconfigs/scale", Version: "v1", Verbs: []string{"get", "patch"}},
	{Group: "apps.openshift.io", Resource: "deploymentconfigs/instantiate", Version: "v1", Verbs: []string{"create"}},
	// The restore's lock on the namespace (package targetlock).
	{Group: "coordination.k8s.io", Resource: "leases", Kind: "Lease", Version: "v1", Verbs: []string{"get", "create", "update", "delete"}},
	{Group: "route.openshift.io", Resource: "routes", Kind: "Route", Version: "v1", Verbs: []string{"get", "list"}},
	{Group: AppsGroup, Resource: "apimanagers", Kind: "APIManager", Version: "v1alpha1", Verbs: append(slices.Clone(crVerbs), "patch"), Component: "apimanager", Required: true, Refs: true},
	{Group: CapabilitiesGroup, Resource: "tenants", Kind: "Tenant", Version: "v1alpha1", Verbs: crVerbs, Component: "apimanager", Refs: true},
	{Group: CapabilitiesGroup, Resource: "backends", Kind: "Backend", Version: "v1beta1", Verbs: crVerbs, Component: "apimanager", Refs: true},
	{Group: CapabilitiesGroup, Resource: "products", Kind: "Product", Version: "v1beta1", Verbs: crVerbs, Component: "apimanager", Refs: true},
	{Group: CapabilitiesGroup, Resource: "activedocs", Kind: "ActiveDoc", Version: "v1beta1", Verbs: crVerbs, Component: "apimanager", Refs: true},
	{Group: CapabilitiesGroup, Resource: "openapis", Kind: "OpenAPI", Version: "v1beta1", Verbs: crVerbs, Component: "apimanager", Refs: true},
	{Group: CapabilitiesGroup, Resource: "custompolicydefinitions", Kind: "CustomPolicyDefinition", Version: "v1beta1", Verbs: crVerbs, Component: "apimanager", Refs: true},
	{Group: CapabilitiesGroup, Resource: "developeraccounts", Kind: "DeveloperAccount", Version: "v1beta1", Verbs: crVerbs, Component: "apimanager", Refs: true},
	{Group: CapabilitiesGroup, Resource: "developerusers", Kind: "DeveloperUser", Version: "v1beta1", Verbs: crVerbs, Component: "apimanager", Refs: true},
	{Group: CapabilitiesGroup, Resource: "applications", Kind: "Application", Version: "v1beta1", Verbs: crVerbs, Component: "apimanager", Refs: true},
	{Group: CapabilitiesGroup, Resource: "applicationauths", Kind: "ApplicationAuth", Version: "v1beta1", Verbs: crVerbs, Component: "apimanager", Refs: true},
	{Group: CapabilitiesGroup, Resource: "proxyconfigpromotes", Kind: "ProxyConfigPromote", Version: "v1beta1", Verbs: crVerbs, Component: "apimanager", Refs: true},
}

// KindsOf returns the kinds of a backup component, in table order.
func KindsOf(component string) []Kind {
	var out []Kind
	for _, k := range Kinds {
		if k.Component == component {
			out = append(out, k)
		}
	}
	return out
}

// KindsInGroup returns the table's kinds of one API group (subresources left out).
func KindsInGroup(group string) []Kind {
	var out []Kind
	for _, k := range Kinds {
		if k.Group == group && k.Kind != "" {
			out = append(out, k)
		}
	}
	return out
}

// LookupKind finds a kind of the table by group and kind name.
func LookupKind(group, kind string) (Kind, bool) {
	for _, k := range Kinds {
		if k.Group == group && k.Kind == kind {
			return k, true
		}
	}
	return Kind{}, false
}

// GVR is the kind's resource at its table version.
func (k Kind) GVR() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: k.Group, Version: k.Version, Resource: k.Resource}
}

// QualifiedResource is "resource.group" ("secrets" for the core group).
func (k Kind) QualifiedResource() string {
	if k.Group == "" {
		return k.Resource
	}
	return k.Resource + "." + k.Group
}

// Rule is the Role rule the kind needs for verb, in the words of RBAC:
// "list applications.capabilities.3scale.net".
func Rule(verb, group, resource string) string {
	if group == "" {
		return verb + " " + resource
	}
	return verb + " " + resource + "." + group
}

// Rules is the least-privilege Role of 3scale-ops: one rule per API group
// and verb set, in table order, granting exactly the table's verbs.
func Rules() []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	index := map[string]int{}
	for _, k := range Kinds {
		key := k.Group + " " + strings.Join(k.Verbs, ",")
		if i, ok := index[key]; ok {
			out[i].Resources = append(out[i].Resources, k.Resource)
			continue
		}
		index[key] = len(out)
		out = append(out, rbacv1.PolicyRule{APIGroups: []string{k.Group}, Resources: []string{k.Resource}, Verbs: slices.Clone(k.Verbs)})
	}
	return out
}
