package e2e

import (
	"bufio"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/testenv"
)

// The README.txt of a snapshot of the generated installation, followed
// literally: every `$` line run in order with bash (pipefail: a failing
// decoder fails the step) from the snapshot's directory with the real
// mariadb, psql, zstd, tar and redis-cli clients, the variables it lists
// set to fresh stores, and the Redis servers started where it says to.
// The stores then equal the source.
func TestReadmeHandRestore(t *testing.T) {
	src := newInstall(t)
	src.seed(t)
	want := src.state(t)
	r := localRepo(t)
	id := backup(t, r, src)
	mustRun(t, r, "backups", "verify", id) // README.txt matches the manifest
	snapDir := filepath.Join(r.Args[1], "snapshots", id)
	readme, err := os.ReadFile(filepath.Join(snapDir, "README.txt"))
	if err != nil {
		t.Fatal(err)
	}

	debug := []string{"enable-debug-command local"}
	dst := &install{MySQL: testenv.MySQL(t), PG: testenv.Postgres(t),
		Backend: testenv.StartRedis(t, testenv.RedisOptions{ExtraConf: debug}),
		System:  testenv.StartRedis(t, testenv.RedisOptions{ExtraConf: debug}),
		Storage: filepath.Join(t.TempDir(), "system")}
	// The README starts from stopped Redis servers.
	dst.Backend.Stop()
	dst.System.Stop()
	my, _ := url.Parse(dst.MySQL.URL)
	myPW, _ := my.User.Password()
	pg, _ := url.Parse(dst.PG.URL)
	pgPW, _ := pg.User.Password()
	pg.User = url.User(pg.User.Username())
	vars := map[string]string{
		"MYSQL":             "mariadb -h " + my.Hostname() + " -P " + my.Port() + " -u " + my.User.Username() + " " + strings.TrimPrefix(my.Path, "/"),
		"PSQL":              "psql -X -q -v ON_ERROR_STOP=1 -d " + pg.String(),
		"STORAGE_DIR":       dst.Storage,
		"BACKEND_REDIS_DIR": dst.Backend.Dir, "BACKEND_REDIS_URL": "redis://" + dst.Backend.Addr,
		"SYSTEM_REDIS_DIR": dst.System.Dir, "SYSTEM_REDIS_URL": "redis://" + dst.System.Addr,
	}
	env := append(os.Environ(), "MYSQL_PWD="+myPW, "PGPASSWORD="+pgPW)

	section, inVars, commands := "", false, 0
	servers := map[string]*testenv.Redis{"backend-redis": dst.Backend, "system-redis": dst.System}
	sc := bufio.NewScanner(strings.NewReader(string(readme)))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "variables of the stores you restore"):
			inVars = true
		case inVars && strings.HasPrefix(line, "    ") && strings.Contains(line, "="):
			name, _, _ := strings.Cut(strings.TrimSpace(line), "=")
			v, ok := vars[name]
			if !ok {
				t.Fatalf("README.txt asks for variable %s, which this test does not know:\n%s", name, readme)
			}
			env = append(env, name+"="+v)
		case line != "" && !strings.HasPrefix(line, " "):
			inVars = false
			section = strings.TrimSpace(line)
		case strings.HasPrefix(line, "   Start Redis with appendonly no"):
			srv := servers[section]
			if srv == nil {
				t.Fatalf("README.txt says to start Redis in section %q", section)
			}
			srv.Restart() // its redis.conf has appendonly no
		case strings.HasPrefix(line, "    $ "):
			cmdline := strings.TrimPrefix(line, "    $ ")
			cmd := exec.Command("bash", "-o", "pipefail", "-ec", cmdline)
			cmd.Dir, cmd.Env = snapDir, env
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("README.txt (%s): %s\nfailed: %v\n%s", section, cmdline, err, out)
			}
			commands++
		}
	}
	if commands < 10 {
		t.Fatalf("README.txt holds only %d commands:\n%s", commands, readme)
	}
	// The AOF the README turned on holds the data across a restart.
	dst.Backend.Restart()
	dst.System.Restart()
	requireEqual(t, "stores restored by hand from README.txt vs the source", want, dst.state(t))
}
