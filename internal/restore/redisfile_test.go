package restore

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/kube/kubetest"
	"github.com/3scale-ops/3scale-ops/internal/rdb"
	"github.com/3scale-ops/3scale-ops/internal/scale"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/redis/go-redis/v9"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const podConf = "dir /var/lib/redis/data\ndbfilename dump.rdb\nappendonly yes\nappendfilename \"appendonly.aof\"\nsave 900 1\nsave 300 10\nsave 60 10000\n"

// redisPod plays the backend-redis pod of a namespace in the real API
// server: a Deployment and a Running pod exist there; a local
// redis-server stands in for the container. A controller loop (test code
// only — no controllers or kubelet run here) restarts that server with the
// ConfigMap's persistence settings whenever the Deployment is rolled out,
// and reports the rollout done in the Deployment's status.
type redisPod struct {
	t    *testing.T
	kc   *kube.Clients
	ns   string
	r    *testenv.Redis
	mu   sync.Mutex
	seen string
}

func (p *redisPod) apply(ctx context.Context) error {
	d, err := p.kc.Typed.AppsV1().Deployments(p.ns).Get(ctx, "backend-redis", metav1.GetOptions{})
	if err != nil {
		return err
	}
	stamp := fmt.Sprint(d.Spec.Template.Annotations)
	p.mu.Lock()
	defer p.mu.Unlock()
	if stamp != p.seen {
		p.seen = stamp
		cm, err := p.kc.Typed.CoreV1().ConfigMaps(p.ns).Get(ctx, RedisConfigMap, metav1.GetOptions{})
		if err != nil {
			return err
		}
		save, aof := parsePersistence(cm.Data["redis.conf"])
		local, err := os.ReadFile(p.r.Conf)
		if err != nil {
			return err
		}
		if err := os.WriteFile(p.r.Conf, []byte(withPersistence(string(local), save, aof)), 0o600); err != nil {
			return err
		}
		p.r.Restart()
	}
	n := *d.Spec.Replicas
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
	_, err = p.kc.Typed.AppsV1().Deployments(p.ns).UpdateStatus(ctx, d, metav1.UpdateOptions{})
	return err
}

func TestKubeRedisFileModeRestoresThroughConfigMapRolloutAndExec(t *testing.T) {
	ctx := context.Background()
	ns := testenv.Namespace(t)
	cfg := testenv.KubeConfig(t)

	// The source and its backup.
	src := testenv.StartRedis(t, testenv.RedisOptions{})
	so, _ := redis.ParseURL(src.URL)
	sc := redis.NewClient(so)
	defer sc.Close()
	for i := 0; i < 500; i++ {
		sc.Set(ctx, fmt.Sprintf("application/service_id:1/id:%d/state", i), "active", 0)
		sc.SAdd(ctx, fmt.Sprintf("application/service_id:1/id:%d/keys", i), "k1", "k2")
	}
	sc.Set(ctx, "alerts/current_id", "42", 0)
	mem := artifact.NewMemory()
	be, err := rdb.New(rdb.Config{Component: rdb.BackendRedis, Server: so})
	if err != nil {
		t.Fatal(err)
	}
	if err := be.Backup(ctx, mem, nil); err != nil {
		t.Fatal(err)
	}

	// The target "pod": a Redis with AOF on, holding other data.
	dst := testenv.StartRedis(t, testenv.RedisOptions{AppendOnly: true, Save: true})
	do, _ := redis.ParseURL(dst.URL)
	dc := redis.NewClient(do)
	defer dc.Close()
	dc.Set(ctx, "stale", "from before the restore", 0)

	srv := kubetest.NewServer(t, cfg, func(ctx context.Context, req kubetest.Request, stdin io.Reader, stdout, stderr io.Writer) int {
		args := make([]string, len(req.Command))
		for i, a := range req.Command {
			args[i] = strings.ReplaceAll(a, RedisDataDir, dst.Dir)
		}
		c := exec.CommandContext(ctx, args[0], args[1:]...)
		c.Stdin, c.Stdout, c.Stderr = stdin, stdout, stderr
		if err := c.Run(); err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				return ee.ExitCode()
			}
			return 127
		}
		return 0
	})
	kc, err := kube.NewClients(srv.Config(), ns)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kc.Typed.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: RedisConfigMap},
		Data: map[string]string{"redis.conf": podConf}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	one := int32(1)
	labels := map[string]string{"deployment": "backend-redis"}
	if _, err := kc.Typed.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "backend-redis"},
		Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "backend-redis", Image: "redis"}}}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod, err := kc.Typed.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "backend-redis-1", Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "backend-redis", Image: "redis"}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status.Phase = corev1.PodRunning
	if _, err := kc.Typed.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	sim := &redisPod{t: t, kc: kc, ns: ns, r: dst}
	if err := sim.apply(ctx); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				_ = sim.apply(ctx)
			}
		}
	}()
	defer func() { close(stop); <-done }()

	s := scale.New(kc, ns)
	s.Poll = 100 * time.Millisecond
	target := &KubeRedisTarget{KC: kc, Namespace: ns, Workload: "backend-redis", Scaler: s, Redis: do, Timeout: time.Minute}
	j := &Journal{Snapshot: "s", Namespace: ns}
	saves := 0
	steps := &JournalSteps{J: j, Key: "backend-redis", Save: func() error { saves++; return nil }}
	eng, err := rdb.New(rdb.Config{Component: rdb.BackendRedis, Server: do, Mode: rdb.ModeFile, File: target, Journal: steps, Overwrite: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Preflight(ctx, mem); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Restore(ctx, mem, nil); err != nil {
		t.Fatal(err)
	}
	if saves == 0 || len(j.Values) == 0 {
		t.Fatalf("file-mode sub-steps not journaled: %v", j.Values)
	}
	check := func(when string) {
		t.Helper()
		c := redis.NewClient(do)
		defer c.Close()
		n, _ := c.DBSize(ctx).Result()
		if n != 1001 {
			t.Fatalf("%s: %d keys, want 1001", when, n)
		}
		if v, _ := c.Get(ctx, "alerts/current_id").Result(); v != "42" {
			t.Fatalf("%s: alerts/current_id = %q", when, v)
		}
		if c.Exists(ctx, "stale").Val() != 0 {
			t.Fatalf("%s: a key from before the restore survived", when)
		}
	}
	check("after restore")
	cm, _ := kc.Typed.CoreV1().ConfigMaps(ns).Get(ctx, RedisConfigMap, metav1.GetOptions{})
	if save, aof := parsePersistence(cm.Data["redis.conf"]); !aof || save != "900 1 300 10 60 10000" {
		t.Fatalf("redis-config not restored: save %q appendonly %v\n%s", save, aof, cm.Data["redis.conf"])
	}
	// The classic loss: a restart with appendonly yes loads the AOF. It
	// must hold the restored data.
	dst.Restart()
	check("after a restart with appendonly yes")
	if _, err := os.Stat(dst.Dir); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dst.Dir)
	old := 0
	for _, e := range entries {
		if strings.Contains(e.Name(), "-old-") {
			old++
		}
	}
	if old == 0 {
		t.Fatal("the previous dump.rdb/AOF were not kept aside")
	}
}
