package testenv

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RedisOptions configures a private redis-server.
type RedisOptions struct {
	AppendOnly bool     // appendonly yes, as the 3scale images run
	Save       bool     // keep the default save points (off: save "")
	Dir        string   // data directory; default a fresh t.TempDir()
	ExtraConf  []string // extra redis.conf lines, e.g. `rename-command SYNC ""`
}

// Redis is a redis-server process owned by one test.
type Redis struct {
	Addr string // 127.0.0.1:PORT
	URL  string // redis://127.0.0.1:PORT/0
	Dir  string // data directory (dump.rdb, appendonly files)
	Conf string // path of redis.conf

	opts RedisOptions
	t    testing.TB
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// StartRedis starts a private redis-server on a free loopback port. It is
// stopped when the test ends. Restart and Stop let tests check what
// survives a restart (the AOF-loss case).
func StartRedis(t testing.TB, opts RedisOptions) *Redis {
	t.Helper()
	e := Get(t)
	bin := e.RedisServer
	if bin == "" {
		bin = "redis-server"
	}
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	r := &Redis{Dir: opts.Dir, opts: opts, t: t}
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	r.Addr = "127.0.0.1:" + strconv.Itoa(port)
	r.URL = "redis://" + r.Addr + "/0"
	r.Conf = filepath.Join(r.Dir, "redis.conf")
	var conf strings.Builder
	fmt.Fprintf(&conf, "bind 127.0.0.1\nport %d\ndir %s\ndbfilename dump.rdb\ndaemonize no\nprotected-mode yes\ndatabases 16\n", port, r.Dir)
	if opts.AppendOnly {
		conf.WriteString("appendonly yes\nappendfilename \"appendonly.aof\"\nappendfsync everysec\naof-load-truncated yes\n")
	} else {
		conf.WriteString("appendonly no\n")
	}
	if opts.Save {
		conf.WriteString("save 900 1\nsave 300 10\nsave 60 10000\n")
	} else {
		conf.WriteString("save \"\"\n")
	}
	for _, l := range opts.ExtraConf {
		conf.WriteString(l + "\n")
	}
	if err := os.WriteFile(r.Conf, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	r.start(bin)
	t.Cleanup(r.Stop)
	return r
}

func (r *Redis) start(bin string) {
	r.t.Helper()
	log, err := os.OpenFile(filepath.Join(r.Dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		r.t.Fatal(err)
	}
	r.cmd = exec.Command(bin, r.Conf)
	r.cmd.Stdout, r.cmd.Stderr = log, log
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	cmd, done := r.cmd, make(chan struct{})
	r.done = done
	go func() { _ = cmd.Wait(); log.Close(); close(done) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if pingRedis(r.Addr) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(r.Dir, "redis.log"))
	r.t.Fatalf("redis-server on %s not ready: %s", r.Addr, b)
}

// Stop shuts the server down the way a pod's termination does (SIGTERM:
// Redis writes its final AOF/RDB state) and waits for it.
func (r *Redis) Stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
	}
	_ = r.cmd.Process.Kill()
	r.cmd = nil
	for i := 0; i < 100 && pingRedis(r.Addr); i++ {
		time.Sleep(20 * time.Millisecond)
	}
}

// Restart stops the server and starts it again on the same port and data
// directory, so it loads whatever it persisted (AOF first, if enabled).
func (r *Redis) Restart() {
	r.t.Helper()
	e := Get(r.t)
	bin := e.RedisServer
	if bin == "" {
		bin = "redis-server"
	}
	r.Stop()
	r.start(bin)
}

func pingRedis(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	// -LOADING means the server is up but still reading its data files.
	return err == nil && strings.HasPrefix(line, "+PONG")
}

// FreePort asks the kernel for a free loopback TCP port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
