package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/testenv"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// installSecrets creates the 3scale secrets that hold connection URLs.
func installSecrets(t *testing.T, ns string, data map[string]map[string]string) {
	t.Helper()
	cs := kubernetes.NewForConfigOrDie(testenv.KubeConfig(t))
	for name, kv := range data {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, StringData: kv}
		if _, err := cs.CoreV1().Secrets(ns).Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestConfigResolvesAndReachesEveryConnectionFromSecrets(t *testing.T) {
	env := testenv.Get(t)
	ns := testenv.Namespace(t)
	mysqlDB := testenv.MySQL(t)
	pg := testenv.Postgres(t)
	backend := testenv.StartRedis(t, testenv.RedisOptions{AppendOnly: true})
	system := testenv.StartRedis(t, testenv.RedisOptions{})
	storage := t.TempDir()
	installSecrets(t, ns, map[string]map[string]string{
		"system-database": {"URL": mysqlDB.URL},
		"zync":            {"DATABASE_URL": pg.URL},
		"backend-redis":   {"REDIS_STORAGE_URL": backend.URL, "REDIS_QUEUES_URL": strings.TrimSuffix(backend.URL, "/0") + "/1"},
		"system-redis":    {"URL": strings.TrimSuffix(system.URL, "/0") + "/1"},
	})
	stdout, stderr, code := runCLI(t, "--kubeconfig", env.Kubeconfig, "-n", ns, "-o", "json", "--system-storage", "dir://"+storage, "config")
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	var doc struct {
		Namespace   string `json:"namespace"`
		Connections []struct {
			Component, Target, Source, Version, Error string
			Reachable                                 bool
		} `json:"connections"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, stdout)
	}
	if doc.Namespace != ns || len(doc.Connections) != 6 {
		t.Fatalf("unexpected document: %+v", doc)
	}
	for _, c := range doc.Connections {
		if !c.Reachable || c.Version == "" {
			t.Errorf("%s not reachable: %+v", c.Component, c)
		}
	}
	if doc.Connections[0].Source != "secret system-database key URL" || !strings.HasPrefix(doc.Connections[0].Version, "MySQL") {
		t.Errorf("system db: %+v", doc.Connections[0])
	}
	u := mysqlDB.URL
	pw := u[strings.Index(u, "root:")+5 : strings.Index(u, "@")]
	if strings.Contains(stdout+stderr, pw) {
		t.Fatalf("password leaked into output:\n%s\n%s", stdout, stderr)
	}
}

func TestConfigErrorsNameTheObjectAndTheFix(t *testing.T) {
	env := testenv.Get(t)
	ns := testenv.Namespace(t)
	installSecrets(t, ns, map[string]map[string]string{
		"system-database": {"URL": "mysql2://root:leakme-9876@127.0.0.1:1/system"}, // unreachable
		"zync":            {"NOT_THE_URL": "x"},
	})
	stdout, stderr, code := runCLI(t, "--kubeconfig", env.Kubeconfig, "-n", ns, "config")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, stdout, stderr)
	}
	all := stdout + stderr
	for _, want := range []string{
		"secret " + ns + "/zync has no key DATABASE_URL", "--zync-db-url",
		`secret "system-redis" not found in namespace "` + ns + `"`, "--system-redis-url",
		"system-mysql", "ERROR",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("output lacks %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "leakme-9876") {
		t.Fatalf("password leaked:\n%s", all)
	}
}

func TestConfigBadKubeconfigAndMalformedURL(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(bad, []byte("not: [valid"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runCLI(t, "--kubeconfig", bad, "config")
	if code != 2 || !strings.Contains(stderr, "kubeconfig") || !strings.Contains(stderr, "hint:") || strings.Contains(stderr, "panic") {
		t.Fatalf("bad kubeconfig: exit %d\n%s", code, stderr)
	}
	stdout, stderr, code := runCLI(t, "--local", "--system-db-url", "mysql2//nohost", "config", "--check=false")
	if code != 2 || !strings.Contains(stdout+stderr, "malformed database URL") {
		t.Fatalf("malformed URL: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// TestSecretsNeverLeak runs every command with passwords in flags and in
// the environment, in ways that make them fail, and checks no output
// contains a password.
func TestSecretsNeverLeak(t *testing.T) {
	const pw, envPW = "flag-pw-31415926", "env-pw-27182818"
	t.Setenv("THREESCALE_OPS_PASSWORD", envPW)
	t.Setenv("THREESCALE_ZYNC_DB_URL", "postgresql://zync:"+envPW+"@127.0.0.1:1/zync")
	flags := []string{"--local", "--system-db-url", "mysql2://root:" + pw + "@127.0.0.1:1/system",
		"--backend-redis-url", "redis://:" + pw + "@127.0.0.1:1/0", "--system-redis-url", "redis://u:" + pw + "@127.0.0.1:1/1",
		"-r", filepath.Join(t.TempDir(), "repo")}
	// Certificate keys and the Sentinel and ACL passwords of the TLS
	// connections are secrets too.
	te := selfSignedFiles(t)
	const sentinelPW = "sentinel-pw-16180339"
	t.Setenv("THREESCALE_OPS_BACKEND_REDIS_SENTINEL_PASSWORD", sentinelPW)
	flags = append(flags, "--system-db-tls-cert", te.File("client.crt"), "--system-db-tls-key", te.File("client.key"),
		"--system-db-ssl-mode", "VERIFY_IDENTITY", "--backend-redis-tls-cert", te.File("client.crt"), "--backend-redis-tls-key", te.File("client.key"),
		"--backend-redis-sentinel-hosts", "127.0.0.1:1", "--backend-redis-sentinel-username", "sentinel-client")
	var keyLines []string
	for _, l := range strings.Split(strings.TrimSpace(string(te.PEM(t, "client.key"))), "\n") {
		if !strings.HasPrefix(l, "-----") {
			keyLines = append(keyLines, l)
		}
	}
	for _, cmd := range newApp(nil, nil, nil).Commands {
		args := append(append([]string{}, flags...), cmd.Name)
		for _, sub := range cmd.Subcommands {
			if sub.Name != "help" {
				args = append(args, sub.Name)
				break
			}
		}
		stdout, stderr, _ := runCLI(t, args...)
		if strings.Contains(stdout+stderr, pw) || strings.Contains(stdout+stderr, envPW) {
			t.Errorf("%v leaked a password:\n%s\n%s", args[len(flags):], stdout, stderr)
		}
		if strings.Contains(stdout+stderr, sentinelPW) || strings.Contains(stdout+stderr, "PRIVATE KEY") {
			t.Errorf("%v leaked the sentinel password or a key:\n%s\n%s", args[len(flags):], stdout, stderr)
		}
		for _, l := range keyLines {
			if strings.Contains(stdout+stderr, l) {
				t.Errorf("%v leaked a line of the client key:\n%s\n%s", args[len(flags):], stdout, stderr)
			}
		}
	}
}
