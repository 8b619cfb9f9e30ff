package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/e2e/fixture"
	"github.com/3scale-ops/3scale-ops/e2e/internal/fingerprint"
	"github.com/3scale-ops/3scale-ops/e2e/seed"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// tlsInstall is a 3scale installation as 3scale 2.16 configures one on
// managed servers: every connection TLS with a client certificate (the TLS
// MariaDB and PostgreSQL of the environment, two private TLS-only Redis
// with ACL users), and a TLS Sentinel with its own user in front of both
// Redis. Its connections live only in the secrets of its namespace.
type tlsInstall struct {
	te       testenv.TLSEnv
	MySQL    testenv.MySQLDatabase
	PG       testenv.PostgresDatabase
	Backend  *testenv.Redis
	System   *testenv.Redis
	Sentinel *testenv.Redis
	Storage  string
	NS       string
	kubecfg  string
	client   *tls.Config
}

func newTLSInstall(t *testing.T) *tlsInstall {
	t.Helper()
	conf := []string{"enable-debug-command local"}
	in := &tlsInstall{te: testenv.TLS(t), MySQL: testenv.TLSMySQL(t), PG: testenv.TLSPostgres(t),
		Backend: testenv.StartRedis(t, testenv.RedisOptions{TLS: true, AppendOnly: true, ExtraConf: conf}),
		System:  testenv.StartRedis(t, testenv.RedisOptions{TLS: true, AppendOnly: true, ExtraConf: conf}),
		Storage: filepath.Join(t.TempDir(), "system"), NS: testenv.Namespace(t), kubecfg: testenv.Get(t).Kubeconfig}
	in.client = in.te.ClientConfig(t, "client")
	in.Sentinel = testenv.StartSentinel(t, map[string]*testenv.Redis{"backend-master": in.Backend, "system-master": in.System})
	return in
}

// install writes the installation's secrets, with the Redis connections
// logging in as redisUser.
func (in *tlsInstall) install(t *testing.T, redisUser string) {
	t.Helper()
	pem := func(n string) string { return string(in.te.PEM(t, n)) }
	ca, cert, key := pem("ca.crt"), pem("client.crt"), pem("client.key")
	sentinels := "rediss://" + in.Sentinel.Addr
	data := map[string]map[string]string{
		"system-database": {"URL": in.MySQL.URL, "DATABASE_SSL_MODE": "VERIFY_IDENTITY",
			"DATABASE_SSL_CA": ca, "DATABASE_SSL_CERT": cert, "DATABASE_SSL_KEY": key},
		"zync": {"DATABASE_URL": in.PG.URL, "DATABASE_SSL_MODE": "verify-full", "DB_SSL_CA": ca, "DB_SSL_CERT": cert, "DB_SSL_KEY": key},
		"backend-redis": {
			"REDIS_STORAGE_URL": "redis://backend-master/0", "REDIS_STORAGE_SENTINEL_HOSTS": sentinels, "REDIS_STORAGE_SENTINEL_ROLE": "master",
			"REDIS_STORAGE_USERNAME": redisUser, "REDIS_STORAGE_PASSWORD": in.Backend.Password,
			"REDIS_STORAGE_SENTINEL_USERNAME": "sentinel-client", "REDIS_STORAGE_SENTINEL_PASSWORD": in.Sentinel.Password,
			"REDIS_SSL_CA": ca, "REDIS_SSL_CERT": cert, "REDIS_SSL_KEY": key,
			"REDIS_QUEUES_URL": "redis://backend-master/1", "REDIS_QUEUES_SENTINEL_HOSTS": sentinels, "REDIS_QUEUES_SENTINEL_ROLE": "master",
			"REDIS_QUEUES_USERNAME": redisUser, "REDIS_QUEUES_PASSWORD": in.Backend.Password,
			"REDIS_QUEUES_SENTINEL_USERNAME": "sentinel-client", "REDIS_QUEUES_SENTINEL_PASSWORD": in.Sentinel.Password,
			"REDIS_SSL_QUEUES_CA": ca, "REDIS_SSL_QUEUES_CERT": cert, "REDIS_SSL_QUEUES_KEY": key,
		},
		"system-redis": {"URL": "redis://system-master/1", "SENTINEL_HOSTS": sentinels, "SENTINEL_ROLE": "master",
			"REDIS_USERNAME": redisUser, "REDIS_PASSWORD": in.System.Password,
			"REDIS_SENTINEL_USERNAME": "sentinel-client", "REDIS_SENTINEL_PASSWORD": in.Sentinel.Password,
			"REDIS_SSL_CA": ca, "REDIS_SSL_CERT": cert, "REDIS_SSL_KEY": key},
	}
	cs := kubernetes.NewForConfigOrDie(testenv.KubeConfig(t))
	ctx := context.Background()
	for name, kv := range data {
		// Merged into what a fixture installed, as the operator adds TLS keys.
		s, err := cs.CoreV1().Secrets(in.NS).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			s, err = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, StringData: kv}, nil
			_, err = cs.CoreV1().Secrets(in.NS).Create(ctx, s, metav1.CreateOptions{})
		} else if err == nil {
			s.StringData = kv
			_, err = cs.CoreV1().Secrets(in.NS).Update(ctx, s, metav1.UpdateOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// flags point a run at the namespace; only system-storage (a directory
// here, not a pod volume) is given on the command line.
func (in *tlsInstall) flags() []string {
	return []string{"--kubeconfig", in.kubecfg, "-n", in.NS, "--system-storage", "dir://" + in.Storage}
}

// pgURL is the zync database URL with libpq TLS parameters, for the
// generator and the fingerprint (the tool reads them from the secret).
func (in *tlsInstall) pgURL() string {
	q := url.Values{"sslmode": {"verify-full"}, "sslrootcert": {in.te.File("ca.crt")},
		"sslcert": {in.te.File("client.crt")}, "sslkey": {in.te.File("client.key")}}
	return in.PG.URL + "?" + q.Encode()
}

func (in *tlsInstall) redisOpts(r *testenv.Redis) *redis.Options {
	return &redis.Options{Addr: r.Addr, Username: "admin", Password: r.Password, TLSConfig: in.client.Clone()}
}

func (in *tlsInstall) seed(t *testing.T) *seed.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := seed.Generate(ctx, seed.Targets{
		MySQLDSN: in.MySQL.DSN, PostgresURL: in.pgURL(),
		BackendRedisURL: in.Backend.UserURL("admin"), BackendQueuesURL: strings.TrimSuffix(in.Backend.UserURL("admin"), "/0") + "/1",
		SystemRedisURL: strings.TrimSuffix(in.System.UserURL("admin"), "/0") + "/1", StorageDir: in.Storage,
		RedisTLS: in.client,
	}, seed.Options{Seed: 42, Scale: 2 << 20, Now: seedNow, Parallel: 2})
	if err != nil {
		t.Fatalf("generate the installation: %v", err)
	}
	return rep
}

func (in *tlsInstall) state(t *testing.T) fingerprint.State {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st := fingerprint.State{}
	parts := []struct {
		prefix string
		get    func() (fingerprint.State, error)
	}{
		{"system-mysql/", func() (fingerprint.State, error) { return fingerprint.MySQL(ctx, in.MySQL.DSN) }},
		{"zync-postgres/", func() (fingerprint.State, error) { return fingerprint.Postgres(ctx, in.pgURL()) }},
		{"backend-redis/", func() (fingerprint.State, error) { return fingerprint.RedisWith(ctx, in.redisOpts(in.Backend)) }},
		{"system-redis/", func() (fingerprint.State, error) { return fingerprint.RedisWith(ctx, in.redisOpts(in.System)) }},
		{"system-storage/", func() (fingerprint.State, error) { return fingerprint.Tree(in.Storage) }},
	}
	for _, p := range parts {
		s, err := p.get()
		if err != nil {
			t.Fatalf("fingerprint %s: %v", p.prefix, err)
		}
		st.Merge(p.prefix, s)
	}
	return st
}

const tlsComponents = "system-mysql,system-storage,zync-postgres,backend-redis,system-redis"

// TestTLSRoundTrip backs up a generated installation whose every
// connection is mutual TLS (Redis through an authenticated TLS Sentinel,
// as ACL users), each found from the secrets in the real API server;
// restores it into a second such installation; verifies it by replaying
// probes; and compares every store with the source.
func TestTLSRoundTrip(t *testing.T) {
	src := newTLSInstall(t)
	src.install(t, "admin")
	rep := src.seed(t)
	want := src.state(t)
	if want.Count("system-mysql/table:") < 10 || want.Count("backend-redis/") < 50 {
		t.Fatalf("the generated installation is too small: %d tables, %d backend keys", want.Count("system-mysql/table:"), want.Count("backend-redis/"))
	}
	r := localRepo(t)
	res := mustRun(t, r, append(src.flags(), "backup", "--components", tlsComponents+",verify")...)
	id := strings.TrimSpace(res.Stdout)

	dst, c := newTLSTarget(t, rep)
	dflags := []string{"--kubeconfig", c.Kubeconfig, "-n", c.NS, "--system-storage", "dir://" + dst.Storage}
	rr := mustRun(t, r, append(dflags, "restore", id, "--components", tlsComponents, "--yes", "--timeout", "2m")...)
	t.Logf("restore: %s", lastLines(rr.Stdout, 12))
	requireEqual(t, "restored TLS installation vs source", want, dst.state(t))
	v := mustRun(t, r, append(dflags, "verify", "--snapshot", id)...)
	t.Logf("verify: %s", lastLines(v.Stdout, 3))
	for _, leak := range []string{src.Backend.Password, src.Sentinel.Password, dst.System.Password, "PRIVATE KEY"} {
		if strings.Contains(res.Stdout+res.Stderr+v.Stdout+v.Stderr, leak) {
			t.Errorf("output holds a secret: %s", fmt.Sprintf("%.4s…", leak))
		}
	}
}

// newTLSTarget is a namespace with 3scale's workloads (a template install,
// a controller simulator and an exec endpoint) whose secrets point at a
// second set of TLS servers.
func newTLSTarget(t *testing.T, rep *seed.Report) (*tlsInstall, *cluster) {
	t.Helper()
	dst := newTLSInstall(t)
	c := newCluster(t)
	dst.NS = c.NS
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := fixture.Install(ctx, c.KC, c.NS, fixture.Options{Kind: fixture.Template, Dataset: rep, Conns: fixture.Conns{
		SystemDatabaseURL: dst.MySQL.URL, ZyncDatabaseURL: dst.PG.URL, BackendRedisStorageURL: "redis://backend-master/0",
		BackendRedisQueuesURL: "redis://backend-master/1", SystemRedisURL: "redis://system-master/1"}}); err != nil {
		t.Fatalf("install the fixture: %v", err)
	}
	dst.install(t, "admin")
	waitFor(t, "workloads settled", func() bool { return c.Sim.Reconcile(ctx) == nil })
	c.setStorage(dst.Storage)
	return dst, c
}

// TestTLSDrill drills a generated TLS installation into a scratch TLS
// namespace: backup, restore and verification in one command, every
// connection of both sides found from secrets in the API server, the
// source's Redis read as the least-privilege ACL user backup.
func TestTLSDrill(t *testing.T) {
	src := newTLSInstall(t)
	src.install(t, "backup")
	rep := src.seed(t)
	want := src.state(t)
	dst, c := newTLSTarget(t, rep)
	if err := os.MkdirAll(dst.Storage, 0o755); err != nil {
		t.Fatal(err)
	}
	r := localRepo(t)
	res := run(t, r, "--kubeconfig", c.Kubeconfig, "-n", src.NS, "--system-storage", "dir://"+src.Storage,
		"drill", "--target-namespace", c.NS, "--components", "system-mysql,zync-postgres,backend-redis,system-redis")
	if res.Code != 0 {
		t.Fatalf("drill failed:\n%s", res)
	}
	t.Logf("drill: %s", lastLines(res.Stdout, 4))
	got := dst.state(t)
	for k := range want {
		if strings.HasPrefix(k, "system-storage/") {
			delete(want, k) // system-storage goes through the pods' exec; the TLS connections are the point here
		}
	}
	for k := range got {
		if strings.HasPrefix(k, "system-storage/") {
			delete(got, k)
		}
	}
	requireEqual(t, "drilled TLS installation vs source", want, got)
}
