package testenv

import (
	"bufio"
	"crypto/tls"
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
	// TLS makes the server TLS-only with the test CA, client certificates
	// required, the default user off and the ACL users of TLSRedisUsers.
	TLS bool
	// Password of the ACL users with TLS (default: a fresh one); a replica
	// shares its master's.
	Password string
}

// Redis is a redis-server process owned by one test.
type Redis struct {
	Addr string // 127.0.0.1:PORT
	URL  string // redis://127.0.0.1:PORT/0
	Dir  string // data directory (dump.rdb, appendonly files)
	Conf string // path of redis.conf

	// With TLS: the password of every ACL user (admin, backup, scanner, sentinel).
	Password string

	opts     RedisOptions
	tlsc     *tls.Config
	pingUser string // ACL user of the readiness probe (default admin)
	bin      string
	t        testing.TB
	cmd      *exec.Cmd
	done     chan struct{} // closed when cmd has exited
}

// StartRedis starts a private redis-server on a free loopback port. It is
// stopped when the test ends. Restart and Stop let tests check what
// survives a restart (the AOF-loss case).
func StartRedis(t testing.TB, opts RedisOptions) *Redis {
	t.Helper()
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
	if opts.TLS {
		te := TLS(t)
		r.Password, r.tlsc = opts.Password, te.ClientConfig(t, "client")
		if r.Password == "" {
			r.Password = Unique("pw")
		}
		r.URL = "rediss://" + r.Addr + "/0"
		fmt.Fprintf(&conf, "port 0\ntls-port %d\ntls-cert-file %s\ntls-key-file %s\ntls-ca-cert-file %s\ntls-auth-clients yes\ntls-replication yes\n",
			port, te.File("server.crt"), te.File("server.key"), te.File("ca.crt"))
		for _, u := range TLSRedisUsers {
			fmt.Fprintf(&conf, "user %s on >%s %s\n", u[0], r.Password, u[1])
		}
		fmt.Fprintf(&conf, "user default off\nmasteruser admin\nmasterauth %s\n", r.Password)
	}
	for _, l := range opts.ExtraConf {
		conf.WriteString(l + "\n")
	}
	if err := os.WriteFile(r.Conf, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	r.start(r.binary())
	t.Cleanup(r.Stop)
	return r
}

func (r *Redis) start(bin string) {
	r.t.Helper()
	if r.bin != "" {
		bin = r.bin
	}
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
		if r.ping() {
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
	for i := 0; i < 100 && r.ping(); i++ {
		time.Sleep(20 * time.Millisecond)
	}
}

// Restart stops the server and starts it again on the same port and data
// directory, so it loads whatever it persisted (AOF first, if enabled).
func (r *Redis) Restart() {
	r.t.Helper()
	r.Stop()
	r.start(r.binary())
}

func (r *Redis) binary() string {
	if bin := Get(r.t).RedisServer; bin != "" {
		return bin
	}
	return "redis-server"
}

// Crash kills the server with SIGKILL (no shutdown save, no final AOF
// fsync) and starts it again on the same port and data directory, so it
// loads only what it had written to its files before the kill.
func (r *Redis) Crash() {
	r.t.Helper()
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		<-r.done
		r.cmd = nil
	}
	r.start(r.binary())
}

// TLSRedisUsers are the ACL users of a TLS test Redis, with their rules:
// admin may do everything; backup only what a backup needs (replication,
// and SCAN+DUMP for the fallback); scanner the same without replication;
// sentinel what redis-sentinel needs.
var TLSRedisUsers = [][2]string{
	{"admin", "~* &* +@all"},
	{"backup", "~* &* -@all +@read +ping +info +select +psync +sync +replconf +scan +dump +pttl +type +dbsize +config|get"},
	{"scanner", "~* &* -@all +ping +info +select +scan +dump +pttl +type +dbsize +config|get"},
	{"sentinel", "~* &* +@all"},
	{"restorer", "~* &* -@all " + RestoreACL},
}

// RestoreACL are the commands a Redis restore needs (docs/connections-tls.md).
const RestoreACL = "+ping +info +select +dbsize +scan +type +exists +restore +del +flushdb +config|get +config|set +multi +exec +set +get +pttl +pexpire +eval +evalsha"

// UserURL is the server's URL with an ACL user's credentials.
func (r *Redis) UserURL(user string) string {
	return strings.Replace(r.URL, "://", "://"+user+":"+r.Password+"@", 1)
}

func (r *Redis) ping() bool {
	if r.tlsc == nil {
		return pingRedis(r.Addr)
	}
	d := &net.Dialer{Timeout: 200 * time.Millisecond}
	probe := r.tlsc.Clone()
	probe.InsecureSkipVerify = true // readiness only: tests may give a server a certificate clients must refuse
	c, err := tls.DialWithDialer(d, "tcp", r.Addr, probe)
	if err != nil {
		return false
	}
	user := r.pingUser
	if user == "" {
		user = "admin"
	}
	return pingConn(c, "AUTH "+user+" "+r.Password+"\r\nPING\r\n", 2)
}

func pingRedis(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	return pingConn(c, "PING\r\n", 1)
}

// pingConn sends cmds and reports whether the last of n replies is +PONG.
func pingConn(c net.Conn, cmds string, n int) bool {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte(cmds)); err != nil {
		return false
	}
	br := bufio.NewReader(c)
	for i := 1; i < n; i++ {
		if _, err := br.ReadString('\n'); err != nil {
			return false
		}
	}
	line, err := br.ReadString('\n')
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
