// Package zync runs zync's route resync after a restore and checks its
// result: the rake task `zync:resync:domains` in a system-sidekiq pod,
// then a comparison of the hosts the system database says should be
// routed (admin and developer portals per tenant, apicast staging and
// production per hosted service) with the Routes zync created.
//
// It reads the system database and Kubernetes; the only thing it changes
// is what the rake task changes.
package zync

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/kube"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// RoutesGVR is OpenShift's Route resource.
var RoutesGVR = schema.GroupVersionResource{Group: "route.openshift.io", Version: "v1", Resource: "routes"}

// ResyncCommand is what the guide runs in system-sidekiq.
var ResyncCommand = []string{"bundle", "exec", "rake", "zync:resync:domains"}

// Resync runs the rake task in the first running system-sidekiq pod,
// streaming its output to out.
func Resync(ctx context.Context, kc *kube.Clients, namespace string, out io.Writer) (pod string, err error) {
	p, err := kube.FindPod(ctx, kc.Typed, namespace, "system-sidekiq")
	if err != nil {
		return "", fmt.Errorf("zync resync needs a running system-sidekiq pod: %w", err)
	}
	if err := kube.Exec(ctx, kc.Config, namespace, p.Name, "system-sidekiq", ResyncCommand, nil, out, out); err != nil {
		return p.Name, fmt.Errorf("`%s` in pod %s: %w", strings.Join(ResyncCommand, " "), p.Name, err)
	}
	return p.Name, nil
}

// Expected is a host that should have a zync route.
type Expected struct {
	Host    string `json:"host"`
	Target  string `json:"target"` // service the route points to
	Tenant  int64  `json:"tenant_id"`
	Service int64  `json:"service_id,omitempty"`
}

// ExpectedHosts reads from the system database the hosts zync routes:
// master portal, each provider's developer and admin portals, and the
// staging/production hosts of each hosted (built-in APIcast) proxy.
func ExpectedHosts(ctx context.Context, db *sql.DB) ([]Expected, error) {
	var out []Expected
	rows, err := db.QueryContext(ctx, `SELECT id, COALESCE(domain,''), COALESCE(self_domain,''), COALESCE(master,FALSE) FROM accounts
		WHERE (COALESCE(provider,FALSE) = TRUE OR COALESCE(master,FALSE) = TRUE) AND (state IS NULL OR state NOT IN ('suspended','scheduled_for_deletion','deleted'))`)
	if err != nil {
		return nil, fmt.Errorf("read provider accounts: %w", err)
	}
	for rows.Next() {
		var id int64
		var domain, self string
		var master bool
		if err := rows.Scan(&id, &domain, &self, &master); err != nil {
			rows.Close()
			return nil, err
		}
		if master {
			out = append(out, Expected{Host: domain, Target: "system-master", Tenant: id})
			continue
		}
		if domain != "" {
			out = append(out, Expected{Host: domain, Target: "system-developer", Tenant: id})
		}
		if self != "" {
			out = append(out, Expected{Host: self, Target: "system-provider", Tenant: id})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	prow, err := db.QueryContext(ctx, `SELECT s.id, s.account_id, COALESCE(p.endpoint,''), COALESCE(p.sandbox_endpoint,'')
		FROM services s JOIN proxies p ON p.service_id = s.id
		WHERE s.deployment_option = 'hosted' AND (s.state IS NULL OR s.state <> 'deleted')`)
	if err != nil {
		return nil, fmt.Errorf("read hosted proxies: %w", err)
	}
	defer prow.Close()
	for prow.Next() {
		var sid, tenant int64
		var prod, staging string
		if err := prow.Scan(&sid, &tenant, &prod, &staging); err != nil {
			return nil, err
		}
		if h := hostOf(prod); h != "" {
			out = append(out, Expected{Host: h, Target: "apicast-production", Tenant: tenant, Service: sid})
		}
		if h := hostOf(staging); h != "" {
			out = append(out, Expected{Host: h, Target: "apicast-staging", Tenant: tenant, Service: sid})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out, prow.Err()
}

func hostOf(endpoint string) string {
	if endpoint == "" {
		return ""
	}
	if !strings.Contains(endpoint, "://") {
		endpoint = "https://" + endpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// ErrNoRoutes means the cluster has no OpenShift Routes
// (route.openshift.io/v1): zync's route check does not apply.
var ErrNoRoutes = errors.New("this cluster has no OpenShift Routes (route.openshift.io/v1): zync's route check does not apply")

// Finding is one difference between expected hosts and routes.
type Finding struct {
	Kind  string `json:"kind"` // missing, extra, conflict, wrong-target
	Host  string `json:"host"`
	Route string `json:"route,omitempty"`
	Want  string `json:"want,omitempty"`
	Fix   string `json:"fix"`
}

// RouteReport is the outcome of CheckRoutes.
type RouteReport struct {
	Expected int       `json:"expected"`
	Routes   int       `json:"zync_routes"`
	OK       int       `json:"ok"`
	Findings []Finding `json:"findings"`
}

// CheckRoutes compares the expected hosts with the namespace's routes:
// missing (no zync route), extra (a zync route no longer expected),
// wrong-target, and conflicts (another route holds the host, or the
// router reports HostAlreadyClaimed), each with the command that fixes it.
func CheckRoutes(ctx context.Context, kc *kube.Clients, namespace string, expected []Expected) (*RouteReport, error) {
	list, err := kc.Dynamic.Resource(RoutesGVR).Namespace(namespace).List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return nil, ErrNoRoutes
	}
	if err != nil {
		return nil, fmt.Errorf("list routes in namespace %s: %w", namespace, err)
	}
	rep := &RouteReport{Expected: len(expected)}
	byHost := map[string][]unstructured.Unstructured{}
	for _, r := range list.Items {
		h, _, _ := unstructured.NestedString(r.Object, "spec", "host")
		byHost[h] = append(byHost[h], r)
		if r.GetLabels()["3scale.net/created-by"] == "zync" {
			rep.Routes++
		}
	}
	want := map[string]Expected{}
	for _, e := range expected {
		want[e.Host] = e
		routes := byHost[e.Host]
		var zyncRoute *unstructured.Unstructured
		for i := range routes {
			r := &routes[i]
			if r.GetLabels()["3scale.net/created-by"] != "zync" {
				rep.Findings = append(rep.Findings, Finding{Kind: "conflict", Host: e.Host, Route: r.GetName(), Want: e.Target,
					Fix: fmt.Sprintf("oc -n %s delete route %s && 3scale-ops -n %s zync resync", namespace, r.GetName(), namespace)})
				continue
			}
			zyncRoute = r
		}
		if zyncRoute == nil {
			if len(routes) == 0 {
				rep.Findings = append(rep.Findings, Finding{Kind: "missing", Host: e.Host, Want: e.Target,
					Fix: fmt.Sprintf("3scale-ops -n %s zync resync (check zync-que logs if it stays missing)", namespace)})
			}
			continue
		}
		if claimed(zyncRoute) {
			rep.Findings = append(rep.Findings, Finding{Kind: "conflict", Host: e.Host, Route: zyncRoute.GetName(), Want: e.Target,
				Fix: fmt.Sprintf("find the route holding %s in another namespace (oc get routes -A | grep %s), delete it, then 3scale-ops -n %s zync resync", e.Host, e.Host, namespace)})
			continue
		}
		to, _, _ := unstructured.NestedString(zyncRoute.Object, "spec", "to", "name")
		if to != "" && to != e.Target {
			rep.Findings = append(rep.Findings, Finding{Kind: "wrong-target", Host: e.Host, Route: zyncRoute.GetName(), Want: e.Target,
				Fix: fmt.Sprintf("oc -n %s delete route %s && 3scale-ops -n %s zync resync", namespace, zyncRoute.GetName(), namespace)})
			continue
		}
		rep.OK++
	}
	for h, routes := range byHost {
		if _, ok := want[h]; ok {
			continue
		}
		for _, r := range routes {
			if r.GetLabels()["3scale.net/created-by"] == "zync" {
				rep.Findings = append(rep.Findings, Finding{Kind: "extra", Host: h, Route: r.GetName(),
					Fix: fmt.Sprintf("oc -n %s delete route %s (no tenant or hosted service uses %s)", namespace, r.GetName(), h)})
			}
		}
	}
	sort.Slice(rep.Findings, func(i, j int) bool {
		if rep.Findings[i].Host != rep.Findings[j].Host {
			return rep.Findings[i].Host < rep.Findings[j].Host
		}
		return rep.Findings[i].Kind < rep.Findings[j].Kind
	})
	return rep, nil
}

// claimed reports the router's HostAlreadyClaimed rejection.
func claimed(r *unstructured.Unstructured) bool {
	ingress, _, _ := unstructured.NestedSlice(r.Object, "status", "ingress")
	for _, in := range ingress {
		m, _ := in.(map[string]any)
		conds, _, _ := unstructured.NestedSlice(m, "conditions")
		for _, c := range conds {
			cm, _ := c.(map[string]any)
			if cm["type"] == "Admitted" && cm["status"] == "False" && cm["reason"] == "HostAlreadyClaimed" {
				return true
			}
		}
	}
	return false
}
