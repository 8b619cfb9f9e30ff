package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/e2e/fixture"
	"github.com/3scale-ops/3scale-ops/e2e/internal/fingerprint"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// handRestore follows a snapshot's README.txt literally: every `$` line
// run in order with bash (pipefail: a failing decoder fails the step)
// from the snapshot's directory, with the real mariadb, psql, zstd, age,
// jq, tar, redis-cli and the test environment's kubectl (first on PATH,
// pointed at the real API server), the variables the README lists set to
// fresh stores, and the Redis servers started where it says to.
type handRestore struct {
	t    *testing.T
	dir  string // the snapshot's directory
	dst  *install
	ns   string // NAMESPACE: not created yet, the README creates it
	kc   *kube.Clients
	vars map[string]string
	env  []string
	// passphrase is typed on the terminal of the command that recovers
	// the repository key from config.json (age asks for it there).
	passphrase string
	commands   int
}

var readmeVar = regexp.MustCompile(`^    ([A-Z][A-Z0-9_]*)=`)

func newHandRestore(t *testing.T, snapDir string, systemPG bool) *handRestore {
	t.Helper()
	debug := []string{"enable-debug-command local"}
	dst := &install{MySQL: testenv.MySQL(t), PG: testenv.Postgres(t),
		Backend: testenv.StartRedis(t, testenv.RedisOptions{ExtraConf: debug}),
		System:  testenv.StartRedis(t, testenv.RedisOptions{ExtraConf: debug}),
		Storage: filepath.Join(t.TempDir(), "system")}
	if systemPG {
		sys := testenv.Postgres(t)
		dst.SystemPG = &sys
	}
	// The README starts from stopped Redis servers.
	dst.Backend.Stop()
	dst.System.Stop()
	my, _ := url.Parse(dst.MySQL.URL)
	myPW, _ := my.User.Password()
	pgURL := func(raw string) (string, string) {
		u, _ := url.Parse(raw)
		pw, _ := u.User.Password()
		u.User = url.User(u.User.Username())
		return u.String(), pw
	}
	zync, pgPW := pgURL(dst.PG.URL)
	h := &handRestore{t: t, dir: snapDir, dst: dst, ns: testenv.Unique("t-"), vars: map[string]string{
		"MYSQL":             "mariadb -h " + my.Hostname() + " -P " + my.Port() + " -u " + my.User.Username() + " " + strings.TrimPrefix(my.Path, "/"),
		"PSQL":              "psql -X -q -v ON_ERROR_STOP=1 -d " + zync,
		"STORAGE_DIR":       dst.Storage,
		"BACKEND_REDIS_DIR": dst.Backend.Dir, "BACKEND_REDIS_URL": "redis://" + dst.Backend.Addr,
		"SYSTEM_REDIS_DIR": dst.System.Dir, "SYSTEM_REDIS_URL": "redis://" + dst.System.Addr,
		"REPO_CONFIG": "../../config.json", // the README's own value: a local repository
	}}
	if systemPG {
		sys, _ := pgURL(dst.SystemPG.URL) // the server of zync's, with its password
		h.vars["SYSTEM_PSQL"] = "psql -X -q -v ON_ERROR_STOP=1 -d " + sys
	}
	h.vars["NAMESPACE"] = h.ns
	e := testenv.Get(t)
	bin := t.TempDir()
	path := os.Getenv("PATH")
	if e.Kubectl != "" {
		if _, err := os.Stat(e.Kubectl); err != nil {
			t.Fatalf("kubectl %s: %v; build it with scripts/testenv.sh kubectl", e.Kubectl, err)
		}
		if err := os.Symlink(e.Kubectl, filepath.Join(bin, "kubectl")); err != nil {
			t.Fatal(err)
		}
		path = bin + ":" + path
		kc, err := kube.NewClients(testenv.KubeConfig(t), "")
		if err != nil {
			t.Fatal(err)
		}
		h.kc = kc
		t.Cleanup(func() {
			_ = kc.Typed.CoreV1().Namespaces().Delete(context.Background(), h.ns, metav1.DeleteOptions{})
		})
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "KUBECONFIG=") {
			h.env = append(h.env, kv)
		}
	}
	h.env = append(h.env, "PATH="+path, "KUBECONFIG="+e.Kubeconfig, "MYSQL_PWD="+myPW, "PGPASSWORD="+pgPW)
	return h
}

// follow runs the commands of readme (named what) and returns the output
// of the last one.
func (h *handRestore) follow(what, readme string) string {
	t := h.t
	t.Helper()
	section, last := "", ""
	servers := map[string]*testenv.Redis{"backend-redis": h.dst.Backend, "system-redis": h.dst.System}
	env := append([]string(nil), h.env...)
	sc := bufio.NewScanner(strings.NewReader(readme))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case readmeVar.MatchString(line):
			name := readmeVar.FindStringSubmatch(line)[1]
			v, ok := h.vars[name]
			if !ok {
				t.Fatalf("%s asks for variable %s, which this test does not know:\n%s", what, name, readme)
			}
			env = append(env, name+"="+v)
		case line != "" && !strings.HasPrefix(line, " "):
			section = strings.TrimSpace(line)
		case strings.HasPrefix(line, "   Start Redis with appendonly no"):
			srv := servers[section]
			if srv == nil {
				t.Fatalf("%s says to start Redis in section %q", what, section)
			}
			srv.Restart() // its redis.conf has appendonly no
		case strings.HasPrefix(line, "    $ "):
			cmdline := strings.TrimPrefix(line, "    $ ")
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			cmd := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-ec", cmdline)
			cmd.Dir, cmd.Env = h.dir, env
			var out []byte
			var err error
			_, noKey := os.Stat(h.vars["AGE_KEY"])
			if noKey != nil && h.passphrase != "" && strings.Contains(cmdline, "passphrase_key") {
				// No key yet: age asks for the passphrase, on the terminal.
				var screen string
				out, screen, err = runWithTerminal(cmd, h.passphrase)
				if err == nil && !strings.Contains(strings.ToLower(screen), "passphrase") {
					t.Errorf("%s: %s\nrecovered the key without asking for the passphrase (terminal: %q)", what, cmdline, screen)
				}
			} else {
				out, err = cmd.CombinedOutput()
			}
			cancel()
			if err != nil {
				t.Fatalf("%s (%s): %s\nfailed: %v\n%s", what, section, cmdline, err, out)
			}
			last = string(out)
			h.commands++
		}
	}
	return last
}

// requireRestored compares the stores (and, when kwant is set, the
// namespace's secrets, configmaps, APIManager and capability objects) with
// the source.
func (h *handRestore) requireRestored(want, kwant fingerprint.State, capsWant map[string]string, caps []*unstructured.Unstructured) {
	t := h.t
	t.Helper()
	if h.commands < 15 {
		t.Fatalf("README.txt holds only %d commands", h.commands)
	}
	// The AOF the README turned on holds the data: the servers restarted
	// with appendonly yes, as the README says to configure them, without
	// the dump.rdb it placed, load everything from it.
	for _, r := range []*testenv.Redis{h.dst.Backend, h.dst.System} {
		r.Stop()
		conf := readFile(t, r.Conf)
		if !strings.Contains(conf, "appendonly no\n") {
			t.Fatalf("%s: no appendonly no to turn on:\n%s", r.Conf, conf)
		}
		conf = strings.Replace(conf, "appendonly no\n", "appendonly yes\nappendfilename \"appendonly.aof\"\n", 1)
		if err := os.WriteFile(r.Conf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(r.Dir, "dump.rdb"), filepath.Join(r.Dir, "dump.rdb.placed")); err != nil {
			t.Fatal(err)
		}
		r.Restart()
	}
	requireEqual(t, "stores restored by hand from README.txt vs the source", want, h.dst.state(t))
	if kwant == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := fingerprint.Kube(ctx, h.kc, h.ns)
	if err != nil {
		t.Fatal(err)
	}
	requireEqual(t, "secrets, configmaps and APIManager applied by hand from README.txt vs the source", kwant, only(got, "secret:", "configmap:", "apimanager:"))
	gotCaps := capabilitySpecsIn(t, h.kc, h.ns, caps)
	for k, w := range capsWant {
		if gotCaps[k] != w {
			t.Errorf("%s applied by hand: spec %s, want %s", k, gotCaps[k], w)
		}
	}
}

// capabilitySpecsIn reads the spec of each capability object in ns (Kind/name → JSON).
func capabilitySpecsIn(t *testing.T, kc *kube.Clients, ns string, objs []*unstructured.Unstructured) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, o := range objs {
		got, err := kc.Dynamic.Resource(capabilityGVR(t, o)).Namespace(ns).Get(context.Background(), o.GetName(), metav1.GetOptions{})
		if err != nil {
			out[o.GetKind()+"/"+o.GetName()] = "missing: " + err.Error()
			continue
		}
		b, _ := json.Marshal(got.Object["spec"])
		out[o.GetKind()+"/"+o.GetName()] = string(b)
	}
	return out
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReadmeHandRestore: the README.txt of a snapshot of the generated
// installation (an operator install: its secrets, configmaps, APIManager
// and capability objects too), followed literally, restores every store
// and object into new ones equal to the source (MySQL CHECKSUM TABLE,
// PostgreSQL md5 per table, Redis value digests, the storage tree, the
// objects' data) — from a plain repository, and from an encrypted one,
// with the repository key recovered from config.json with the passphrase
// by the real age (and README.txt.age opened as well with an age identity
// of a recipient). A system database on PostgreSQL is restored the same
// way.
func TestReadmeHandRestore(t *testing.T) {
	src := newInstall(t)
	rep := src.seed(t)
	want := src.state(t)
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := fixture.Install(ctx, c.KC, c.NS, fixture.Options{Kind: fixture.Operator, Dataset: rep, Conns: src.conns()}); err != nil {
		t.Fatalf("install the operator fixture: %v", err)
	}
	caps, refs := capabilities(c.NS)
	for _, s := range refs {
		if _, err := c.KC.Typed.CoreV1().Secrets(c.NS).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range caps {
		if _, err := c.KC.Dynamic.Resource(capabilityGVR(t, o)).Namespace(c.NS).Create(ctx, o, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s/%s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	waitFor(t, "workloads settled", func() bool { return c.Sim.Reconcile(ctx) == nil })
	kwant := only(c.state(t), "secret:", "configmap:", "apimanager:")
	if kwant.Count("secret:") < 5 || kwant.Count("configmap:") < 1 || kwant.Count("apimanager:") != 1 {
		t.Fatalf("fixture too small: %v", kwant)
	}
	capsWant := capabilitySpecsIn(t, c.KC, c.NS, caps)
	c.setStorage(src.Storage)
	snapshot := func(t *testing.T, r *repo) string {
		id := strings.TrimSpace(mustRun(t, r, append(c.flags(src), "backup")...).Stdout)
		mustRun(t, r, "backups", "verify", id) // README.txt matches the manifest
		return filepath.Join(r.Args[1], "snapshots", id)
	}

	t.Run("plain", func(t *testing.T) {
		dir := snapshot(t, localRepo(t))
		h := newHandRestore(t, dir, false)
		h.follow("README.txt", readFile(t, filepath.Join(dir, "README.txt")))
		h.requireRestored(want, kwant, capsWant, caps)
	})

	t.Run("encrypted", func(t *testing.T) {
		for _, tool := range []string{"age", "age-keygen", "jq"} {
			if _, err := exec.LookPath(tool); err != nil {
				t.Skipf("%s is not installed (Debian packages age and jq; scripts/testenv.sh install installs them): the hand restore of an encrypted snapshot needs it", tool)
			}
		}
		tmp := t.TempDir()
		pw := filepath.Join(tmp, "pw")
		if err := os.WriteFile(pw, []byte("correct horse battery staple\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		idFile := filepath.Join(tmp, "identity.txt")
		if out, err := exec.Command("age-keygen", "-o", idFile).CombinedOutput(); err != nil {
			t.Fatalf("age-keygen: %v\n%s", err, out)
		}
		pub, err := exec.Command("age-keygen", "-y", idFile).Output()
		if err != nil {
			t.Fatalf("age-keygen -y: %v", err)
		}
		r := localRepo(t)
		mustRun(t, r, "--password-file", pw, "--recipient", strings.TrimSpace(string(pub)), "init")
		r.Args = append(r.Args, "--password-file", pw)
		dir := snapshot(t, r)
		stub := readFile(t, filepath.Join(dir, "README.txt"))
		for _, name := range []string{"system-mysql", "zync-postgres", "data/"} {
			if strings.Contains(stub, name) {
				t.Fatalf("README.txt of an encrypted snapshot names %q:\n%s", name, stub)
			}
		}

		// With an age identity of a recipient, the key line does nothing
		// and README.txt.age opens.
		hid := newHandRestore(t, dir, false)
		hid.vars["AGE_KEY"] = idFile
		byIdentity := hid.follow("README.txt (identity)", stub)

		// With the passphrase, the key is recovered from config.json.
		h := newHandRestore(t, dir, false)
		key := filepath.Join(tmp, "key.txt")
		h.vars["AGE_KEY"], h.passphrase = key, "correct horse battery staple"
		readme := h.follow("README.txt (passphrase)", stub)
		if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("the recovered repository key %s: %v %v, want mode 0600", key, fi, err)
		}
		if readme != byIdentity || !strings.Contains(readme, "Components, in restore order") {
			t.Fatalf("README.txt.age as printed with the passphrase's key and with the identity differ, or are not the instructions:\n%s\n---\n%s", readme, byIdentity)
		}
		if entries, _ := os.ReadDir(dir); len(entries) > 0 {
			for _, e := range entries {
				if n := e.Name(); n == "manifest.json" || strings.HasPrefix(n, "key") {
					t.Errorf("following README.txt wrote %s into the snapshot's directory", n)
				}
			}
		}
		h.follow("README.txt.age", readme)
		h.requireRestored(want, kwant, capsWant, caps)
		// The snapshot is still intact: nothing was written into it.
		mustRun(t, r, "backups", "verify", filepath.Base(dir))
	})

	t.Run("porta-on-postgres", func(t *testing.T) {
		src := newPGInstall(t)
		src.seed(t)
		want := src.state(t)
		r := localRepo(t)
		id := backup(t, r, src)
		mustRun(t, r, "backups", "verify", id)
		dir := filepath.Join(r.Args[1], "snapshots", id)
		h := newHandRestore(t, dir, true)
		h.follow("README.txt", readFile(t, filepath.Join(dir, "README.txt")))
		h.requireRestored(want, nil, nil, nil)
	})
}
