package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/e2e/fixture"
	"github.com/3scale-ops/3scale-ops/e2e/internal/fingerprint"
	"github.com/3scale-ops/3scale-ops/e2e/seed"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/kube/kubetest"
	"github.com/3scale-ops/3scale-ops/internal/kube/kubetest/controller"
	"github.com/3scale-ops/3scale-ops/internal/restore"
	"github.com/3scale-ops/3scale-ops/internal/scale"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// storagePath is where system-storage lives in the system-app pod.
const storagePath = "/opt/system/public/system"

// cluster is a namespace on the test API server behind a fake exec
// endpoint, with the controller simulator running.
type cluster struct {
	KC         *kube.Clients // direct to the API server
	NS         string
	Kubeconfig string // for the binary: the exec endpoint
	Exec       *kubetest.Server
	Sim        *controller.Sim

	mu         sync.Mutex
	storageDir string // what /opt/system/public/system is in the pods now
	resyncs    int
	// backendSyncs are the pods the backend configuration rewrite ran in;
	// providers is what the simulated task reports as enqueued.
	backendSyncs []string
	providers    int
	// reindexes are the pod/container pairs the search index rebuild ran in.
	reindexes []string
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	cfg := testenv.KubeConfig(t)
	kc, err := kube.NewClients(cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{KC: kc, NS: testenv.Namespace(t)}
	c.Exec = kubetest.NewServer(t, cfg, c.handle)
	c.Kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	kcfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster: {server: %q, insecure-skip-tls-verify: true}
users:
- name: e2e
  user: {}
contexts:
- name: e2e
  context: {cluster: e2e, user: e2e, namespace: %q}
current-context: e2e
`, c.Exec.URL, c.NS)
	if err := os.WriteFile(c.Kubeconfig, []byte(kcfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c.Sim = controller.Run(t, kc, c.NS, simulator(kc, c.NS))
	return c
}

// simulator is the controller simulator of namespace ns: the operator
// with the CR paths of package scale, building the fixture's Deployments
// for an APIManager that has none, the deployment controllers, and the
// pods of system-app and system-sidekiq.
func simulator(kc *kube.Clients, ns string) controller.Options {
	return controller.Options{Interval: 50 * time.Millisecond, CRPaths: scale.CRPaths(),
		Build: func(ctx context.Context, replicas map[string]int32) error {
			_, err := fixture.Workloads(ctx, kc, ns, fixture.Options{Kind: fixture.Operator, Replicas: replicas})
			return err
		}}
}

// handle is the containers' side of exec: the zync resync rake task in
// system-sidekiq, and everything else (tar) run locally with the storage
// path mapped to the current storage directory.
func (c *cluster) handle(ctx context.Context, req kubetest.Request, stdin io.Reader, stdout, stderr io.Writer) int {
	if strings.Join(req.Command, " ") == "bundle exec rake zync:resync:domains" {
		c.mu.Lock()
		c.resyncs++
		c.mu.Unlock()
		fmt.Fprintln(stdout, "Resyncing domains of every provider and service (simulated)")
		return 0
	}
	if strings.Join(req.Command, " ") == "bundle exec rake backend:storage:enqueue_rewrite" {
		c.mu.Lock()
		c.backendSyncs = append(c.backendSyncs, req.Pod)
		n := c.providers
		c.mu.Unlock()
		fmt.Fprintf(stdout, "Enqueued %d accounts for rewrite\n", n)
		return 0
	}
	if strings.Join(req.Command, " ") == "bundle exec rake searchd:optimal_index" {
		c.mu.Lock()
		c.reindexes = append(c.reindexes, req.Pod+"/"+req.Container)
		c.mu.Unlock()
		// What porta's task prints: ts:index's progress, then one line
		// per index queued for OPTIMIZE (on stderr).
		fmt.Fprintln(stdout, "Generating configuration to /opt/system/config/production.sphinx.conf")
		for _, idx := range []string{"account_core", "cms_page_core", "proxy_core", "service_core", "topic_core"} {
			fmt.Fprintf(stderr, "%s enqueued for optimization\n", idx)
		}
		return 0
	}
	c.mu.Lock()
	dir := c.storageDir
	c.mu.Unlock()
	return kubetest.LocalCommand(map[string]string{storagePath: dir})(ctx, req, stdin, stdout, stderr)
}

// installFixture installs the fixture of kind for the dataset rep with
// the connections of in, lets the simulator bring every workload to its
// replicas, and serves in's storage directory as system-app's volume.
func (c *cluster) installFixture(ctx context.Context, t *testing.T, kind fixture.Kind, rep *seed.Report, in *install) {
	t.Helper()
	if _, err := fixture.Install(ctx, c.KC, c.NS, fixture.Options{Kind: kind, Dataset: rep, Conns: in.conns()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "workloads settled", func() bool { return c.Sim.Reconcile(ctx) == nil })
	c.setStorage(in.Storage)
}

func (c *cluster) setStorage(dir string) {
	c.mu.Lock()
	c.storageDir = dir
	c.mu.Unlock()
}

// flags are the global flags of a run against the namespace with the
// data stores of in (the secrets may be gone, so the connections are given).
func (c *cluster) flags(in *install) []string {
	f := in.flags()[1:] // not --local
	for i, a := range f {
		if a == "--system-storage" {
			f[i+1] = "pod"
		}
	}
	return append([]string{"--kubeconfig", c.Kubeconfig, "-n", c.NS}, f...)
}

func (c *cluster) state(t *testing.T) fingerprint.State {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := fingerprint.Kube(ctx, c.KC, c.NS)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// wipe deletes the namespace's secrets and configmaps (the API server's
// own root CA configmap and token secrets aside) and the APIManager.
// setSystemAppTag sets the image tag of system-app (Deployment or
// DeploymentConfig), which tells the installation's 3scale version.
func (c *cluster) setSystemAppTag(t *testing.T, tag string) {
	t.Helper()
	ctx := context.Background()
	for _, gvr := range []schema.GroupVersionResource{kube.DeploymentGVR, kube.DeploymentConfigGVR} {
		w, err := c.KC.Dynamic.Resource(gvr).Namespace(c.NS).Get(ctx, "system-app", metav1.GetOptions{})
		if err != nil {
			continue
		}
		cs, _, _ := unstructured.NestedSlice(w.Object, "spec", "template", "spec", "containers")
		for _, ct := range cs {
			m := ct.(map[string]any)
			img, _ := m["image"].(string)
			m["image"] = img[:strings.LastIndex(img, ":")+1] + tag
		}
		_ = unstructured.SetNestedSlice(w.Object, cs, "spec", "template", "spec", "containers")
		if _, err := c.KC.Dynamic.Resource(gvr).Namespace(c.NS).Update(ctx, w, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatal("no system-app workload to set the image tag of")
}

func (c *cluster) wipe(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	secrets, err := c.KC.Typed.CoreV1().Secrets(c.NS).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets.Items {
		if s.Type != "kubernetes.io/service-account-token" {
			if err := c.KC.Typed.CoreV1().Secrets(c.NS).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	cms, err := c.KC.Typed.CoreV1().ConfigMaps(c.NS).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cm := range cms.Items {
		if cm.Name != "kube-root-ca.crt" {
			if err := c.KC.Typed.CoreV1().ConfigMaps(c.NS).Delete(ctx, cm.Name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestKubeRoundTrip is the full drill on Kubernetes for both installation
// methods: fixture + generated data → backup (pod-mode storage through
// exec) → every secret and configmap deleted, data restored into empty
// stores → restore with quiesce, scale back, rollout and zync resync →
// data, secrets, configmaps, APIManager and replicas equal the originals.
func TestKubeRoundTrip(t *testing.T) {
	src := newInstall(t)
	rep := src.seed(t)
	want := src.state(t)
	for _, kind := range []fixture.Kind{fixture.Template, fixture.Operator} {
		t.Run(kind.String(), func(t *testing.T) {
			c := newCluster(t)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			inst, err := fixture.Install(ctx, c.KC, c.NS, fixture.Options{Kind: kind, Dataset: rep, Conns: src.conns()})
			if err != nil {
				t.Fatalf("install the %s fixture: %v", kind, err)
			}
			// Let the simulator bring every workload to its replicas.
			waitFor(t, "workloads settled", func() bool { return c.Sim.Reconcile(ctx) == nil })
			kwant := c.state(t)
			if kwant.Count("secret:") < 5 || kwant.Count("configmap:") < 1 || kwant.Count("deployment") < 8 {
				t.Fatalf("fixture too small: %v", kwant)
			}
			c.setStorage(src.Storage)
			r := localRepo(t)
			res := mustRun(t, r, append(c.flags(src), "backup")...)
			id := strings.TrimSpace(res.Stdout)
			show := mustRun(t, r, append(c.flags(src), "backups", "show", id)...)
			for _, comp := range []string{"secrets", "configmaps", "system-mysql", "system-storage", "zync-postgres", "backend-redis", "system-redis", "verify"} {
				if !strings.Contains(show.Stdout, comp) {
					t.Errorf("snapshot %s has no component %s:\n%s", id, comp, show.Stdout)
				}
			}
			if !strings.Contains(show.Stdout, "3scale       2.15") { // the fixture's system-app image tag
				t.Errorf("snapshot %s does not record the installation's 3scale version:\n%s", id, show.Stdout)
			}
			list := mustRun(t, r, append(c.flags(src), "backups", "list")...)
			if !strings.Contains(list.Stdout, "3SCALE") || !strings.Contains(list.Stdout, id+"  ") || !strings.Contains(list.Stdout, " 2.15 ") {
				t.Errorf("backups list does not show the snapshot's 3scale version:\n%s", list.Stdout)
			}
			if kind == fixture.Operator && !strings.Contains(show.Stdout, "apimanager") {
				t.Errorf("operator snapshot %s has no apimanager component:\n%s", id, show.Stdout)
			}

			c.wipe(t)
			dst := newInstall(t)
			c.setStorage(dst.Storage)
			if err := os.MkdirAll(dst.Storage, 0o755); err != nil {
				t.Fatal(err)
			}
			// A target running another 3scale minor version: warned, and
			// refused (exit 2, nothing changed) without --allow-version-change.
			c.setSystemAppTag(t, "3scale2.16")
			if res := run(t, r, append(c.flags(dst), "restore", id, "--yes")...); res.Code != 2 || !strings.Contains(res.Stderr, "--allow-version-change") ||
				!strings.Contains(res.Stderr, "3scale 2.15, the target runs 3scale 2.16") {
				t.Fatalf("restore into another 3scale version: exit %d\n%s", res.Code, res.Stderr)
			}
			c.setSystemAppTag(t, "3scale2.15")
			plan := mustRun(t, r, append(c.flags(dst), "restore", id, "--dry-run")...)
			t.Logf("plan (%s):\n%s", kind, plan.Stdout)
			if !strings.Contains(plan.Stdout, "backend-sync") || !strings.Contains(plan.Stdout, "enqueue_rewrite") {
				t.Errorf("the plan has no backend sync step (guide 7.5.6):\n%s", plan.Stdout)
			}
			// The search index: rebuilt over exec on system-searchd
			// (operator 2.15), left to the rollout on system-sphinx (template).
			if hasReindex := strings.Contains(plan.Stdout, "searchd-reindex") && strings.Contains(plan.Stdout, "searchd:optimal_index"); hasReindex != (kind == fixture.Operator) {
				t.Errorf("%s: searchd-reindex planned = %t, want %t:\n%s", kind, hasReindex, kind == fixture.Operator, plan.Stdout)
			}
			if kind == fixture.Operator {
				noIdx := mustRun(t, r, append(c.flags(dst), "restore", id, "--dry-run", "--skip-reindex")...)
				if strings.Contains(noIdx.Stdout, "searchd-reindex ") || !strings.Contains(noIdx.Stdout, "warning: --skip-reindex") {
					t.Errorf("--skip-reindex: the step is still planned or not warned about:\n%s", noIdx.Stdout)
				}
			}
			noSync := mustRun(t, r, append(c.flags(dst), "restore", id, "--dry-run", "--skip-backend-sync")...)
			if strings.Contains(noSync.Stdout, "backend-sync ") || !strings.Contains(noSync.Stdout, "warning: --skip-backend-sync") {
				t.Errorf("--skip-backend-sync: the step is still planned or not warned about:\n%s", noSync.Stdout)
			}
			partial := mustRun(t, r, append(c.flags(dst), "restore", id, "--dry-run", "--components", "backend-redis")...)
			if !strings.Contains(partial.Stdout, "warning: partial restore: backend-redis will hold the snapshot's point in time, while system-mysql, system-storage, zync-postgres, system-redis keep their current data") {
				t.Errorf("a restore of one store does not warn naming the others:\n%s", partial.Stdout)
			}
			c.mu.Lock()
			c.providers = len(rep.Tenants) + 1
			c.mu.Unlock()
			res = run(t, r, append(c.flags(dst), "restore", id, "--yes", "--timeout", "2m")...)
			if res.Code != 0 {
				// Keep going: what was restored is still compared, so the
				// report says exactly which part is wrong.
				t.Errorf("restore into the %s namespace failed (simulator: %q):\n%s", kind, c.Sim.LastError(), res)
			} else {
				t.Logf("restore (%s):\n%s", kind, res.Stdout)
			}
			if d := diffLines(want, dst.state(t)); d != "" {
				t.Errorf("restored data differs from the source:\n%s", d)
			}
			if d := diffLines(kwant, c.state(t)); d != "" {
				t.Errorf("restored secrets, configmaps, APIManager or replicas differ from the originals:\n%s", d)
			}
			if res.Code != 0 {
				return
			}
			c.mu.Lock()
			resyncs := c.resyncs
			c.mu.Unlock()
			if resyncs != 1 {
				t.Errorf("zync resync ran %d times in system-sidekiq, want 1", resyncs)
			}
			c.mu.Lock()
			syncs := c.backendSyncs
			c.mu.Unlock()
			if len(syncs) != 1 || !strings.HasPrefix(syncs[0], "system-sidekiq") {
				t.Errorf("backend sync ran in pods %v, want once in a system-sidekiq pod", syncs)
			}
			// The journal's mirror in the namespace: a ConfigMap (the
			// generated Role's verbs), not a Namespace annotation.
			mirror, err := c.KC.Typed.CoreV1().ConfigMaps(c.NS).Get(ctx, restore.JournalConfigMap, metav1.GetOptions{})
			if err != nil {
				t.Errorf("no restore journal mirror in the namespace: %v", err)
			} else if d := mirror.Data; d["snapshot"] != id || d["finished"] != "true" || !strings.Contains(d["steps"], "backend-sync=done") ||
				strings.Contains(d["steps"], "searchd-reindex=done") != (kind == fixture.Operator) {
				t.Errorf("restore journal mirror: %v", d)
			}
			c.mu.Lock()
			reindexes := c.reindexes
			c.mu.Unlock()
			switch {
			case kind == fixture.Operator && (len(reindexes) != 1 || !strings.HasPrefix(reindexes[0], "system-sidekiq") || !strings.HasSuffix(reindexes[0], "/system-sidekiq")):
				t.Errorf("search index rebuild ran in %v, want once in a system-sidekiq pod's system-sidekiq container", reindexes)
			case kind == fixture.Template && len(reindexes) != 0:
				t.Errorf("search index rebuild ran on system-sphinx (%v): the rollout re-indexes it", reindexes)
			}
			if kind == fixture.Operator && !strings.Contains(res.Stdout, "5 indexes rebuilt") {
				t.Errorf("the report does not say how many indexes were rebuilt:\n%s", res.Stdout)
			}
			if want := fmt.Sprintf("%d accounts enqueued", len(rep.Tenants)+1); !strings.Contains(res.Stdout, want) {
				t.Errorf("the report does not say %q:\n%s", want, res.Stdout)
			}
			if len(inst.Workloads) == 0 {
				t.Errorf("the fixture installed no workloads")
			}
		})
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
