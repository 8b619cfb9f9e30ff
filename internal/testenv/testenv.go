// Package testenv gives tests isolated pieces of the real servers that
// scripts/testenv.sh starts on loopback: a fresh MariaDB or PostgreSQL
// database, a private redis-server process, an S3 bucket, a Kubernetes
// namespace. Each piece is removed when the test ends.
//
// It is for tests only and must never be imported by non-test code.
// When the environment is not running, tests fail (they never skip
// silently) with the command that starts it.
package testenv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Env is the running environment, read from the env file that
// scripts/testenv.sh writes.
type Env struct {
	Dir             string
	MySQLURL        string // mysql://root:PW@127.0.0.1:PORT/ (admin)
	MySQLSocket     string
	PostgresURL     string // postgresql://postgres:PW@127.0.0.1:PORT/postgres (admin)
	BackendRedisURL string // the long-running backend-redis (AOF on), for the demo and fixtures
	BackendRedisDir string
	SystemRedisURL  string
	SystemRedisDir  string
	RedisServer     string // path of redis-server, for StartRedis
	PGBin           string // PostgreSQL server binaries (pg_dump, psql live on PATH)
	S3Endpoint      string // host:port, plain http
	S3AccessKey     string
	S3SecretKey     string
	Kubeconfig      string
	Kubectl         string // kubectl built by scripts/testenv.sh, same release as kube-apiserver
	TLS             TLSEnv // the TLS servers (empty with TESTENV_NO_TLS)
}

var (
	loadOnce sync.Once
	loaded   *Env
	loadErr  error
)

// EnvFile returns the path of the env file: $TESTENV_FILE, or .testenv/env
// in the repository root.
func EnvFile() string {
	if f := os.Getenv("TESTENV_FILE"); f != "" {
		return f
	}
	return filepath.Join(RepoRoot(), ".testenv", "env")
}

// RepoRoot finds the directory holding go.mod, starting from the working
// directory (go test runs in the package directory).
func RepoRoot() string {
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

// Load reads the env file without a testing.TB, for benchmarks' main
// functions and the dataset generator.
func Load() (*Env, error) {
	loadOnce.Do(func() {
		f, err := os.Open(EnvFile())
		if err != nil {
			loadErr = fmt.Errorf("test environment not running (%v): start it with `make testenv-up` or `scripts/testenv.sh up`", err)
			return
		}
		defer f.Close()
		v := map[string]string{}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			k, val, ok := strings.Cut(line, "=")
			if ok {
				v[k] = val
			}
		}
		loaded = &Env{
			Dir: v["TESTENV_DIR"], MySQLURL: v["TESTENV_MYSQL_URL"], MySQLSocket: v["TESTENV_MYSQL_SOCKET"],
			PostgresURL: v["TESTENV_POSTGRES_URL"], BackendRedisURL: v["TESTENV_BACKEND_REDIS_URL"],
			BackendRedisDir: v["TESTENV_BACKEND_REDIS_DIR"], SystemRedisURL: v["TESTENV_SYSTEM_REDIS_URL"],
			SystemRedisDir: v["TESTENV_SYSTEM_REDIS_DIR"], RedisServer: v["TESTENV_REDIS_SERVER"],
			PGBin: v["TESTENV_PG_BIN"], S3Endpoint: v["TESTENV_S3_ENDPOINT"],
			S3AccessKey: v["TESTENV_S3_ACCESS_KEY"], S3SecretKey: v["TESTENV_S3_SECRET_KEY"],
			Kubeconfig: v["TESTENV_KUBECONFIG"], Kubectl: v["TESTENV_KUBECTL"], TLS: loadTLS(v),
		}
	})
	return loaded, loadErr
}

// Get returns the environment or fails the test.
func Get(t testing.TB) *Env {
	t.Helper()
	e, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Unique returns prefix followed by 8 random hex characters; it is a valid
// database, bucket and namespace name when prefix is lower-case.
func Unique(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// MySQLAdminDSN converts the env's mysql:// URL to a go-sql-driver DSN for db.
func (e *Env) MySQLAdminDSN(db string) string {
	u, _ := url.Parse(e.MySQLURL)
	pw, _ := u.User.Password()
	c := mysql.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr, c.DBName = u.User.Username(), pw, "tcp", u.Host, db
	c.ParseTime = false
	c.MultiStatements = true
	c.Params = map[string]string{"charset": "utf8mb4"}
	return c.FormatDSN()
}

// MySQLDatabase is a fresh, empty database on the test MariaDB.
type MySQLDatabase struct {
	Name string
	DSN  string // go-sql-driver DSN (multiStatements on)
	URL  string // mysql2://root:PW@127.0.0.1:PORT/NAME, the form 3scale secrets use
}

// MySQL creates a fresh database that is dropped when the test ends.
func MySQL(t testing.TB) MySQLDatabase {
	t.Helper()
	e := Get(t)
	name := Unique("t_")
	admin, err := sql.Open("mysql", e.MySQLAdminDSN(""))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		admin.Close()
		t.Fatalf("create MySQL database: %v", err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec("DROP DATABASE IF EXISTS `" + name + "`")
		admin.Close()
	})
	u, _ := url.Parse(e.MySQLURL)
	return MySQLDatabase{Name: name, DSN: e.MySQLAdminDSN(name), URL: "mysql2://" + u.User.String() + "@" + u.Host + "/" + name}
}

// PostgresDatabase is a fresh, empty database on the test PostgreSQL.
type PostgresDatabase struct {
	Name string
	URL  string // postgresql://postgres:PW@127.0.0.1:PORT/NAME
}

// Postgres creates a fresh database that is dropped when the test ends.
func Postgres(t testing.TB) PostgresDatabase {
	t.Helper()
	e := Get(t)
	name := Unique("t_")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.PostgresURL)
	if err != nil {
		t.Fatalf("connect to test PostgreSQL: %v", err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0 ENCODING 'UTF8'"); err != nil {
		conn.Close(ctx)
		t.Fatalf("create PostgreSQL database: %v", err)
	}
	t.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		conn.Close(context.Background())
	})
	u, _ := url.Parse(e.PostgresURL)
	u.Path = "/" + name
	return PostgresDatabase{Name: name, URL: u.String()}
}

// S3 returns a client for the test S3 server and a fresh bucket, emptied
// and removed when the test ends.
func S3(t testing.TB) (*minio.Client, string) {
	t.Helper()
	e := Get(t)
	if e.S3Endpoint == "" {
		t.Fatal("the test environment was started without S3 (TESTENV_NO_S3); restart it with scripts/testenv.sh up")
	}
	c, err := minio.New(e.S3Endpoint, &minio.Options{Creds: credentials.NewStaticV4(e.S3AccessKey, e.S3SecretKey, ""), Secure: false})
	if err != nil {
		t.Fatal(err)
	}
	bucket := Unique("t-")
	ctx := context.Background()
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
			if o.Err == nil {
				_ = c.RemoveObject(ctx, bucket, o.Key, minio.RemoveObjectOptions{})
			}
		}
		_ = c.RemoveBucket(ctx, bucket)
	})
	return c, bucket
}

// KubeConfig returns a rest.Config for the test API server (admin).
func KubeConfig(t testing.TB) *rest.Config {
	t.Helper()
	e := Get(t)
	if e.Kubeconfig == "" {
		t.Fatal("the test environment was started without Kubernetes (TESTENV_NO_KUBE); restart it with scripts/testenv.sh up")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", e.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	return cfg
}

// Namespace creates a fresh namespace in the test API server, deleted when
// the test ends (no controllers run, so deletion only marks it; names never
// repeat).
func Namespace(t testing.TB) string {
	t.Helper()
	cs, err := kubernetes.NewForConfig(KubeConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	name := Unique("t-")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		// The test API server runs no namespace controller: a deleted
		// namespace keeps its Services, and with them their cluster IPs
		// (the /24 range fills up). Delete them first.
		if svcs, err := cs.CoreV1().Services(name).List(context.Background(), metav1.ListOptions{}); err == nil {
			for _, s := range svcs.Items {
				_ = cs.CoreV1().Services(name).Delete(context.Background(), s.Name, metav1.DeleteOptions{})
			}
		}
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

// Kubectl runs the environment's kubectl against the test API server with
// args, stdin as its input, and returns its combined output and error.
func Kubectl(t testing.TB, stdin []byte, args ...string) ([]byte, error) {
	t.Helper()
	e := Get(t)
	if e.Kubectl == "" {
		t.Fatal("the test environment has no kubectl; restart it with scripts/testenv.sh up (it builds kubectl once)")
	}
	if _, err := os.Stat(e.Kubectl); err != nil {
		t.Fatalf("kubectl %s: %v; build it with scripts/testenv.sh kubectl", e.Kubectl, err)
	}
	cmd := exec.Command(e.Kubectl, append([]string{"--kubeconfig", e.Kubeconfig}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	return cmd.CombinedOutput()
}
