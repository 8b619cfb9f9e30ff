// The end-to-end restore suite: a generated 3scale installation on the
// real servers of the test environment, backed up and restored by the
// real 3scale-ops binary (built once in TestMain so tests can SIGKILL it),
// and compared store by store with e2e/internal/fingerprint.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/e2e/fixture"
	"github.com/3scale-ops/3scale-ops/e2e/internal/fingerprint"
	"github.com/3scale-ops/3scale-ops/e2e/seed"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
)

// bin is the 3scale-ops binary under test.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "3scale-ops-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "3scale-ops")
	build := exec.Command("go", "build", "-o", bin, "./cmd/3scale-ops")
	build.Dir = testenv.RepoRoot()
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build 3scale-ops:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// seedNow is the generator's clock: fixed, so every run generates the same data.
var seedNow = time.Date(2025, 4, 23, 17, 42, 31, 0, time.UTC)

// seedScale keeps each installation around 5 MB.
const seedScale = 5 << 20

// install is one set of 3scale stores on the test servers.
type install struct {
	MySQL testenv.MySQLDatabase
	PG    testenv.PostgresDatabase
	// SystemPG, when set, is the system database (Porta on PostgreSQL)
	// instead of MySQL.
	SystemPG *testenv.PostgresDatabase
	Backend  *testenv.Redis
	System   *testenv.Redis
	Storage  string
}

// newInstall creates empty stores: fresh databases, two private
// redis-servers with AOF on as the 3scale images run them (DEBUG allowed
// locally, for value digests), and an empty storage directory.
func newInstall(t *testing.T) *install {
	t.Helper()
	conf := []string{"enable-debug-command local"}
	return &install{
		MySQL:   testenv.MySQL(t),
		PG:      testenv.Postgres(t),
		Backend: testenv.StartRedis(t, testenv.RedisOptions{AppendOnly: true, ExtraConf: conf}),
		System:  testenv.StartRedis(t, testenv.RedisOptions{AppendOnly: true, ExtraConf: conf}),
		Storage: filepath.Join(t.TempDir(), "system"),
	}
}

// seed generates the installation into in.
func (in *install) seed(t *testing.T) *seed.Report {
	t.Helper()
	return in.seedWith(t, 42, seedScale)
}

// seedWith generates an installation from another seed and scale.
func (in *install) seedWith(t *testing.T, seedN, scale int64) *seed.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	t2 := seed.Targets{MySQLDSN: in.MySQL.DSN}
	if in.SystemPG != nil {
		t2 = seed.Targets{SystemPostgresURL: in.SystemPG.URL}
	}
	rep, err := seed.Generate(ctx, seed.Targets{
		MySQLDSN: t2.MySQLDSN, SystemPostgresURL: t2.SystemPostgresURL, PostgresURL: in.PG.URL,
		BackendRedisURL: "redis://" + in.Backend.Addr + "/0", BackendQueuesURL: "redis://" + in.Backend.Addr + "/1",
		SystemRedisURL: "redis://" + in.System.Addr + "/1", StorageDir: in.Storage,
	}, seed.Options{Seed: seedN, Scale: scale, Now: seedNow, Parallel: 2})
	if err != nil {
		t.Fatalf("generate the installation: %v", err)
	}
	return rep
}

// flags are the global connection flags of a --local run against in.
// conns are the fixture's connections to the data stores of in (backend
// storage in db 0, queues in db 1, system-redis in db 1), changed by each
// of edit.
func (in *install) conns(edit ...func(*fixture.Conns)) fixture.Conns {
	c := fixture.Conns{
		SystemDatabaseURL: in.MySQL.URL, ZyncDatabaseURL: in.PG.URL,
		BackendRedisStorageURL: "redis://" + in.Backend.Addr + "/0", BackendRedisQueuesURL: "redis://" + in.Backend.Addr + "/1",
		SystemRedisURL: "redis://" + in.System.Addr + "/1"}
	for _, e := range edit {
		e(&c)
	}
	return c
}

func (in *install) flags() []string {
	return []string{"--local",
		"--system-db-url", in.systemURL(),
		"--zync-db-url", in.PG.URL,
		"--backend-redis-url", "redis://" + in.Backend.Addr + "/0",
		"--backend-redis-queues-url", "redis://" + in.Backend.Addr + "/1",
		"--system-redis-url", "redis://" + in.System.Addr + "/1",
		"--system-storage", "dir://" + in.Storage,
	}
}

// systemURL is the system database's URL.
func (in *install) systemURL() string {
	if in.SystemPG != nil {
		return in.SystemPG.URL
	}
	return in.MySQL.URL
}

// state fingerprints every store of in.
func (in *install) state(t *testing.T) fingerprint.State {
	t.Helper()
	st, err := in.fingerprint()
	if err != nil {
		t.Fatalf("fingerprint: %v", err)
	}
	return st
}

func (in *install) fingerprint() (fingerprint.State, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st := fingerprint.State{}
	parts := []struct {
		prefix string
		get    func() (fingerprint.State, error)
	}{
		{"system-mysql/", func() (fingerprint.State, error) {
			if in.SystemPG != nil {
				return fingerprint.Postgres(ctx, in.SystemPG.URL)
			}
			return fingerprint.MySQL(ctx, in.MySQL.DSN)
		}},
		{"zync-postgres/", func() (fingerprint.State, error) { return fingerprint.Postgres(ctx, in.PG.URL) }},
		{"backend-redis/", func() (fingerprint.State, error) { return fingerprint.Redis(ctx, in.Backend.Addr, "") }},
		{"system-redis/", func() (fingerprint.State, error) { return fingerprint.Redis(ctx, in.System.Addr, "") }},
		{"system-storage/", func() (fingerprint.State, error) { return fingerprint.Tree(in.Storage) }},
	}
	for _, p := range parts {
		s, err := p.get()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", strings.TrimSuffix(p.prefix, "/"), err)
		}
		st.Merge(p.prefix, s)
	}
	return st, nil
}

// requireEqual fails the test with the first differences.
func requireEqual(t *testing.T, what string, want, got fingerprint.State) {
	t.Helper()
	if d := fingerprint.Diff(want, got, 25); len(d) > 0 {
		t.Fatalf("%s: %d differences:\n  %s", what, len(d), strings.Join(d, "\n  "))
	}
}

// result is one finished run of the binary.
type result struct {
	Code           int
	Stdout, Stderr string
	Args           []string
}

func (r result) String() string {
	return fmt.Sprintf("3scale-ops %s\nexit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.Args, " "), r.Code, r.Stdout, r.Stderr)
}

// repo is a backup repository the binary is pointed at.
type repo struct {
	Args []string // -r … [--s3-insecure] [--password-file …]
	Env  []string
}

// localRepo is a repository in a temp directory.
func localRepo(t *testing.T) *repo {
	return &repo{Args: []string{"-r", filepath.Join(t.TempDir(), "repo")}}
}

// s3Repo is a repository in a fresh bucket of the test S3 server.
func s3Repo(t *testing.T) *repo {
	_, bucket := testenv.S3(t)
	e := testenv.Get(t)
	return &repo{Args: []string{"-r", "s3://" + e.S3Endpoint + "/" + bucket + "/3scale", "--s3-insecure"},
		Env: []string{"AWS_ACCESS_KEY_ID=" + e.S3AccessKey, "AWS_SECRET_ACCESS_KEY=" + e.S3SecretKey}}
}

// command prepares a run of the binary.
func command(ctx context.Context, r *repo, args ...string) *exec.Cmd {
	full := append(append([]string{"--no-progress"}, r.Args...), args...)
	cmd := exec.CommandContext(ctx, bin, full...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "THREESCALE_OPS_PASSWORD=") { // set but empty is refused
			env = append(env, kv)
		}
	}
	cmd.Env = append(append(env, "KUBECONFIG=/nonexistent"), r.Env...)
	return cmd
}

// run runs the binary to completion.
func run(t *testing.T, r *repo, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := command(ctx, r, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := result{Stdout: out.String(), Stderr: errb.String(), Args: args}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run 3scale-ops %v: %v", args, err)
		}
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			t.Fatalf("3scale-ops %v died of %v\n%s", args, ws.Signal(), res)
		}
		res.Code = ee.ExitCode()
	}
	return res
}

// mustRun runs the binary and requires exit 0.
func mustRun(t *testing.T, r *repo, args ...string) result {
	t.Helper()
	res := run(t, r, args...)
	if res.Code != 0 {
		t.Fatalf("unexpected failure:\n%s", res)
	}
	return res
}

// backup takes a snapshot of in and returns its id.
func backup(t *testing.T, r *repo, in *install, extra ...string) string {
	t.Helper()
	res := mustRun(t, r, append(append(in.flags(), "backup"), extra...)...)
	id := strings.TrimSpace(res.Stdout)
	if id == "" || strings.ContainsAny(id, " \n") {
		t.Fatalf("backup printed no snapshot id:\n%s", res)
	}
	return id
}

// diffLines renders the first differences from want to got ("" if none).
func diffLines(want, got fingerprint.State) string {
	d := fingerprint.Diff(want, got, 15)
	if len(d) == 0 {
		return ""
	}
	return "  " + strings.Join(d, "\n  ")
}

// lastLines returns the last n non-empty lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
