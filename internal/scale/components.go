// Package scale scales, quiesces, resumes and rolls out the components of a
// 3scale installation the way that sticks: through the APIManager CR when
// the 3scale operator manages the workload (it reverts direct scaling),
// otherwise through the scale subresource of the DeploymentConfig or
// Deployment. It is the library behind `scale`, `rollout` and restore's
// quiesce step. It must never touch data, and never print: progress goes
// to a *progress.Task, results are returned.
package scale

import (
	"sort"
	"strings"
)

// Component is one 3scale workload and, when the operator manages it, the
// APIManager spec path of its replica count.
type Component struct {
	Name string
	// CRPath is the APIManager spec object holding replicas (and hpa);
	// nil when the CR cannot scale it.
	CRPath []string
	// HPA reports whether the CR may hand replica control to an HPA.
	HPA bool
	// Quiesce marks the components --down-all stops: everything that
	// serves traffic or writes data, never the databases restore loads into.
	Quiesce bool
	// Direct marks the components without a CR field whose replicas the
	// operator does not enforce (its searchd and memcached reconcilers
	// leave them alone): they are scaled directly on operator installs too.
	Direct bool
}

// components lists every 3scale workload, in quiesce order: traffic first
// (gateways), then writers (backend, system, zync). Resume goes in reverse.
var components = []Component{
	{Name: "apicast-production", CRPath: []string{"spec", "apicast", "productionSpec"}, HPA: true, Quiesce: true},
	{Name: "apicast-staging", CRPath: []string{"spec", "apicast", "stagingSpec"}, Quiesce: true},
	{Name: "backend-listener", CRPath: []string{"spec", "backend", "listenerSpec"}, HPA: true, Quiesce: true},
	{Name: "backend-worker", CRPath: []string{"spec", "backend", "workerSpec"}, HPA: true, Quiesce: true},
	{Name: "backend-cron", CRPath: []string{"spec", "backend", "cronSpec"}, Quiesce: true},
	{Name: "system-app", CRPath: []string{"spec", "system", "appSpec"}, Quiesce: true},
	{Name: "system-sidekiq", CRPath: []string{"spec", "system", "sidekiqSpec"}, Quiesce: true},
	{Name: "system-sphinx", Quiesce: true},
	{Name: "system-searchd", Quiesce: true, Direct: true},
	{Name: "zync", CRPath: []string{"spec", "zync", "appSpec"}, Quiesce: true},
	{Name: "zync-que", CRPath: []string{"spec", "zync", "queSpec"}, Quiesce: true},
	{Name: "system-memcache", Direct: true},
	{Name: "backend-redis"},
	{Name: "system-redis"},
	{Name: "system-mysql"},
	{Name: "system-postgresql"},
	{Name: "zync-database"},
}

// Components returns every known component, in quiesce order.
func Components() []Component { return append([]Component(nil), components...) }

// Names returns the valid component names, sorted.
func Names() []string {
	out := make([]string, len(components))
	for i, c := range components {
		out[i] = c.Name
	}
	sort.Strings(out)
	return out
}

// Lookup finds a component by name.
func Lookup(name string) (Component, bool) {
	for _, c := range components {
		if c.Name == name {
			return c, true
		}
	}
	return Component{}, false
}

// CRPaths maps each component the APIManager CR scales to the spec object
// holding its replicas: what the operator copies into the component's
// Deployment (the test simulator of the operator reads it).
func CRPaths() map[string][]string {
	out := map[string][]string{}
	for _, c := range components {
		if c.CRPath != nil {
			out[c.Name] = append([]string(nil), c.CRPath...)
		}
	}
	return out
}

func (c Component) crField() string { return strings.Join(c.CRPath, ".") + ".replicas" }
