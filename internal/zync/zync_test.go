package zync

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/kube/kubetest"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const porta = `
CREATE TABLE accounts (id bigint PRIMARY KEY, org_name varchar(255), domain varchar(255), self_domain varchar(255),
  provider tinyint(1) DEFAULT 0, master tinyint(1) DEFAULT 0, state varchar(255));
CREATE TABLE services (id bigint PRIMARY KEY, account_id bigint, name varchar(255), state varchar(255), deployment_option varchar(255));
CREATE TABLE proxies (id bigint PRIMARY KEY, service_id bigint, endpoint varchar(255), sandbox_endpoint varchar(255));
INSERT INTO accounts VALUES (1,'Master','master.example.com','master.example.com',0,1,'approved'),
  (2,'Acme','acme.example.com','acme-admin.example.com',1,NULL,'approved'),
  (3,'Gone','gone.example.com','gone-admin.example.com',1,0,'suspended'),
  (4,'Buyer',NULL,NULL,0,0,'approved');
INSERT INTO services VALUES (10,2,'api','published','hosted'),(11,2,'self','published','self_managed'),(12,2,'old','deleted','hosted');
INSERT INTO proxies VALUES (100,10,'https://api-3scale-apicast-production.example.com:443','https://api-3scale-apicast-staging.example.com'),
  (101,11,'https://self.example.org',NULL),(102,12,'https://old.example.com',NULL);`

func route(ns, name, host, to string, zync bool, claimed bool) *unstructured.Unstructured {
	labels := map[string]any{}
	if zync {
		labels["3scale.net/created-by"] = "zync"
	}
	r := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "route.openshift.io/v1", "kind": "Route",
		"metadata": map[string]any{"name": name, "namespace": ns, "labels": labels},
		"spec":     map[string]any{"host": host, "to": map[string]any{"kind": "Service", "name": to}},
	}}
	if claimed {
		r.Object["status"] = map[string]any{"ingress": []any{map[string]any{"host": host, "conditions": []any{
			map[string]any{"type": "Admitted", "status": "False", "reason": "HostAlreadyClaimed"}}}}}
	}
	return r
}

func TestExpectedHostsAndRouteDiff(t *testing.T) {
	ctx := context.Background()
	d := testenv.MySQL(t)
	db, err := sql.Open("mysql", d.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(porta); err != nil {
		t.Fatal(err)
	}
	exp, err := ExpectedHosts(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	var hosts []string
	for _, e := range exp {
		hosts = append(hosts, e.Host+">"+e.Target)
	}
	want := "acme-admin.example.com>system-provider acme.example.com>system-developer api-3scale-apicast-production.example.com>apicast-production " +
		"api-3scale-apicast-staging.example.com>apicast-staging master.example.com>system-master"
	if strings.Join(hosts, " ") != want {
		t.Fatalf("expected hosts:\n%s\nwant\n%s", strings.Join(hosts, " "), want)
	}

	ns := testenv.Namespace(t)
	kc, err := kube.NewClients(testenv.KubeConfig(t), ns)
	if err != nil {
		t.Fatal(err)
	}
	rc := kc.Dynamic.Resource(RoutesGVR).Namespace(ns)
	for _, r := range []*unstructured.Unstructured{
		route(ns, "zync-3scale-master-a", "master.example.com", "system-master", true, false),
		route(ns, "zync-3scale-provider-b", "acme.example.com", "system-developer", true, false),
		route(ns, "old-admin", "acme-admin.example.com", "system-provider", false, false), // planted conflict
		route(ns, "zync-3scale-api-c", "api-3scale-apicast-production.example.com", "apicast-production", true, false),
		route(ns, "zync-3scale-api-d", "old.example.com", "apicast-production", true, false), // extra
	} {
		if _, err := rc.Create(ctx, r, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// the staging route exists but the router refused it
	claimedRoute := route(ns, "zync-3scale-api-e", "api-3scale-apicast-staging.example.com", "apicast-staging", true, true)
	created, err := rc.Create(ctx, claimedRoute, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	claimedRoute.SetResourceVersion(created.GetResourceVersion())
	if _, err := rc.UpdateStatus(ctx, claimedRoute, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	rep, err := CheckRoutes(ctx, kc, ns, exp)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range rep.Findings {
		got = append(got, f.Kind+":"+f.Host+":"+f.Route)
		if f.Fix == "" {
			t.Errorf("finding without a fix: %+v", f)
		}
	}
	wantF := "conflict:acme-admin.example.com:old-admin conflict:api-3scale-apicast-staging.example.com:zync-3scale-api-e extra:old.example.com:zync-3scale-api-d"
	if strings.Join(got, " ") != wantF {
		t.Fatalf("findings:\n%s\nwant\n%s", strings.Join(got, " "), wantF)
	}
	if rep.OK != 3 || rep.Expected != 5 || rep.Routes != 5 {
		t.Fatalf("report %+v", rep)
	}
	if !strings.Contains(rep.Findings[0].Fix, "delete route old-admin") {
		t.Errorf("fix: %s", rep.Findings[0].Fix)
	}

	// The whole check (what `zync resync --check` runs): the same report,
	// and its findings are a mismatch (exit 3) counting them.
	rep2, pod, err := Run(ctx, Request{Kube: kc, Namespace: ns, SystemDB: db, DBName: "system", CheckOnly: true})
	if rep2 == nil || pod != "" || len(rep2.Findings) != 3 || rep2.OK != 3 {
		t.Fatalf("Run --check: report %+v, pod %q", rep2, pod)
	}
	if errs.Code(err) != errs.Mismatch || !strings.Contains(err.Error(), "3 route findings in namespace "+ns) || errs.Hint(err) == "" {
		t.Errorf("Run --check with findings: %v (exit %d)", err, errs.Code(err))
	}
	if err := (&RouteReport{OK: 2}).Err(ns); err != nil {
		t.Errorf("a report without findings is an error: %v", err)
	}
}

func TestResyncRunsRakeInSidekiq(t *testing.T) {
	ctx := context.Background()
	ns := testenv.Namespace(t)
	cfg := testenv.KubeConfig(t)
	var gotCmd []string
	var gotPod string
	srv := kubetest.NewServer(t, cfg, func(ctx context.Context, req kubetest.Request, stdin io.Reader, stdout, stderr io.Writer) int {
		gotCmd, gotPod = req.Command, req.Pod
		io.WriteString(stdout, "Resyncing domains of 2 providers and 1 proxies\n")
		return 0
	})
	kc, err := kube.NewClients(srv.Config(), ns)
	if err != nil {
		t.Fatal(err)
	}
	// No pod yet: a clear error.
	if _, err := Resync(ctx, kc, ns, io.Discard); err == nil || !strings.Contains(err.Error(), "system-sidekiq") {
		t.Fatalf("no pod: %v", err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "system-sidekiq-1-abcde", Labels: map[string]string{"deploymentConfig": "system-sidekiq"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "system-sidekiq", Image: "system"}}}}
	p, err := kc.Typed.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status.Phase = corev1.PodRunning
	if _, err := kc.Typed.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	name, err := Resync(ctx, kc, ns, &out)
	if err != nil {
		t.Fatal(err)
	}
	if name != "system-sidekiq-1-abcde" || gotPod != name || strings.Join(gotCmd, " ") != "bundle exec rake zync:resync:domains" ||
		!strings.Contains(out.String(), "Resyncing domains") {
		t.Fatalf("pod %q cmd %v out %q", gotPod, gotCmd, out.String())
	}
}
