package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// SentinelReaderACL are the Sentinel commands 3scale-ops needs
// (docs/connections-tls.md); the user sentinel-reader has only these.
const SentinelReaderACL = "+ping +hello +auth +sentinel|get-master-addr-by-name"

// StartSentinel starts a private redis-sentinel (TLS only, client
// certificates required, the default user off, ACL user sentinel-client
// with the returned Redis's Password) watching each TLS master under its
// group name. It is stopped when the test ends. The masters must have
// been started with RedisOptions{TLS: true}.
func StartSentinel(t testing.TB, masters map[string]*Redis) *Redis {
	t.Helper()
	te := TLS(t)
	dir := t.TempDir()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s := &Redis{Dir: dir, t: t, Password: Unique("pw"), tlsc: te.ClientConfig(t, "client"), pingUser: "sentinel-client", bin: "redis-sentinel"}
	s.Addr = "127.0.0.1:" + strconv.Itoa(port)
	s.URL = "rediss://" + s.Addr
	s.Conf = filepath.Join(dir, "sentinel.conf")
	var c strings.Builder
	fmt.Fprintf(&c, "bind 127.0.0.1\nport 0\ntls-port %d\ntls-cert-file %s\ntls-key-file %s\ntls-ca-cert-file %s\n", port,
		te.File("server.crt"), te.File("server.key"), te.File("ca.crt"))
	fmt.Fprintf(&c, "tls-auth-clients yes\ntls-replication yes\ndir %s\ndaemonize no\nuser default off\n", dir)
	fmt.Fprintf(&c, "user sentinel-client on >%s allchannels +@all\n", s.Password)
	// What 3scale-ops itself needs: ask for the master.
	fmt.Fprintf(&c, "user sentinel-reader on >%s -@all %s\n", s.Password, SentinelReaderACL)
	for name, m := range masters {
		host, p, _ := strings.Cut(m.Addr, ":")
		fmt.Fprintf(&c, "sentinel monitor %s %s %s 1\nsentinel auth-user %s sentinel\nsentinel auth-pass %s %s\n", name, host, p, name, name, m.Password)
		fmt.Fprintf(&c, "sentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 5000\n", name, name)
	}
	if err := os.WriteFile(s.Conf, []byte(c.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	s.start("redis-sentinel")
	t.Cleanup(s.Stop)
	return s
}
