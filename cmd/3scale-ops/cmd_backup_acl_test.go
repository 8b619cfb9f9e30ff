package main

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// adminClient connects to a TLS test Redis as its admin user.
func adminClient(t *testing.T, te testenv.TLSEnv, r *testenv.Redis) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr, Username: "admin", Password: r.Password, TLSConfig: te.ClientConfig(t, "client")})
	t.Cleanup(func() { c.Close() })
	return c
}

// TestRedisBackupWithLeastPrivilege backs up both Redis as the ACL user
// backup (replication allowed, nothing that writes) and as scanner (no
// replication): the first takes the replication path, the second falls
// back to SCAN+DUMP with a warning; both hold every key.
func TestRedisBackupWithLeastPrivilege(t *testing.T) {
	env := testenv.Get(t)
	in := newTLSInstall(t)
	ctx := context.Background()
	for _, r := range []*testenv.Redis{in.Backend, in.System} {
		c := adminClient(t, in.te, r)
		if err := c.Set(ctx, "probe:key", "value", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for _, user := range []string{"backup", "scanner"} {
		t.Run(user, func(t *testing.T) {
			ns := testenv.Namespace(t)
			installSecrets(t, ns, in.secrets(t, user))
			repoDir := filepath.Join(t.TempDir(), "repo")
			stdout, stderr, code := runCLI(t, "--kubeconfig", env.Kubeconfig, "-n", ns, "-r", repoDir, "backup", "--components", "backend-redis,system-redis")
			if code != 0 {
				t.Fatalf("backup as %s: exit %d\n%s\n%s", user, code, stdout, stderr)
			}
			fallback := strings.Contains(stderr, "falling back to SCAN+DUMP")
			if fallback != (user == "scanner") {
				t.Errorf("backup as %s: SCAN+DUMP fallback %v, want %v\n%s", user, fallback, user == "scanner", stderr)
			}
		})
	}
}

// TestSentinelFailoverNextBackupFindsTheNewMaster fails backend-redis
// over to its replica through Sentinel; the next backup, with the same
// secrets, asks Sentinel again and backs up the new master (the old one
// is stopped, so nothing else could answer).
func TestSentinelFailoverNextBackupFindsTheNewMaster(t *testing.T) {
	env := testenv.Get(t)
	in := newTLSInstall(t)
	ctx := context.Background()
	host, port, _ := strings.Cut(in.Backend.Addr, ":")
	replica := testenv.StartRedis(t, testenv.RedisOptions{TLS: true, Password: in.Backend.Password,
		ExtraConf: []string{"replicaof " + host + " " + port, "replica-priority 100"}})
	mc := adminClient(t, in.te, in.Backend)
	if err := mc.Set(ctx, "before", "failover", 0).Err(); err != nil {
		t.Fatal(err)
	}
	sc := redis.NewSentinelClient(&redis.Options{Addr: in.Sentinel.Addr, Username: "sentinel-client", Password: in.Sentinel.Password,
		TLSConfig: in.te.ClientConfig(t, "client")})
	defer sc.Close()
	// The sentinel learns of the replica from the master's INFO.
	waitUntil(t, "sentinel sees the replica", func() bool {
		rs, err := sc.Replicas(ctx, "backend-master").Result()
		return err == nil && len(rs) > 0 && strings.Contains(rs[0]["flags"], "slave") && !strings.Contains(rs[0]["flags"], "disconnected") &&
			rs[0]["master-link-status"] == "ok"
	})
	ns := testenv.Namespace(t)
	installSecrets(t, ns, in.secrets(t, "admin"))
	repoDir := filepath.Join(t.TempDir(), "repo")
	flags := []string{"--kubeconfig", env.Kubeconfig, "-n", ns, "-r", repoDir, "-o", "json"}
	if _, stderr, code := runCLI(t, append(flags, "backup", "--components", "backend-redis")...); code != 0 {
		t.Fatalf("backup before the failover: exit %d\n%s", code, stderr)
	}
	if err := sc.Failover(ctx, "backend-master").Err(); err != nil {
		t.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	waitUntil(t, "the replica becomes master", func() bool {
		a, err := sc.GetMasterAddrByName(ctx, "backend-master").Result()
		return err == nil && len(a) == 2 && a[0]+":"+a[1] == replica.Addr
	})
	rc := adminClient(t, in.te, replica)
	waitUntil(t, "the new master accepts writes", func() bool { return rc.Set(ctx, "after", "failover", 0).Err() == nil })
	// The old master is gone: only the new one can serve this backup.
	in.Backend.Stop()
	if _, stderr, code := runCLI(t, append(flags, "backup", "--components", "backend-redis")...); code != 0 {
		t.Fatalf("backup after the failover: exit %d\n%s", code, stderr)
	}
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSentinelFailoverDuringBackup fails backend-redis over while a backup
// is streaming it: the backup must fail (nothing committed), and the next
// one must find the new master.
func TestSentinelFailoverDuringBackup(t *testing.T) {
	env := testenv.Get(t)
	in := newTLSInstall(t)
	ctx := context.Background()
	mc := adminClient(t, in.te, in.Backend)
	if err := mc.Do(ctx, "CONFIG", "SET", "rdbcompression", "no").Err(); err != nil {
		t.Fatal(err)
	}
	// Enough data (about 100 MB) that the stream lasts past the failover.
	val := strings.Repeat("v", 512)
	for b := 0; b < 40; b++ {
		p := mc.Pipeline()
		for i := 0; i < 5000; i++ {
			p.Set(ctx, "k:"+strconv.Itoa(b*5000+i), val, 0)
		}
		if _, err := p.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	host, port, _ := strings.Cut(in.Backend.Addr, ":")
	replica := testenv.StartRedis(t, testenv.RedisOptions{TLS: true, Password: in.Backend.Password,
		ExtraConf: []string{"replicaof " + host + " " + port}})
	sc := redis.NewSentinelClient(&redis.Options{Addr: in.Sentinel.Addr, Username: "sentinel-client", Password: in.Sentinel.Password,
		TLSConfig: in.te.ClientConfig(t, "client")})
	defer sc.Close()
	waitUntil(t, "sentinel sees the synced replica", func() bool {
		rs, err := sc.Replicas(ctx, "backend-master").Result()
		return err == nil && len(rs) > 0 && rs[0]["master-link-status"] == "ok" && !strings.Contains(rs[0]["flags"], "disconnected")
	})
	ns := testenv.Namespace(t)
	installSecrets(t, ns, in.secrets(t, "admin"))
	repoDir := filepath.Join(t.TempDir(), "repo")
	flags := []string{"--kubeconfig", env.Kubeconfig, "-n", ns, "-r", repoDir}
	type res struct {
		stderr string
		code   int
	}
	done := make(chan res, 1)
	go func() {
		_, stderr, code := runCLI(t, append(flags, "backup", "--components", "backend-redis")...)
		done <- res{stderr, code}
	}()
	waitUntil(t, "the backup streams from the master", func() bool {
		info, err := mc.Info(ctx, "replication").Result()
		return err == nil && strings.Count(info, "slave") >= 2 // the replica and the backup
	})
	if err := sc.Failover(ctx, "backend-master").Err(); err != nil {
		t.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	r := <-done
	if r.code == 0 {
		t.Fatalf("a backup across a failover succeeded")
	}
	if snaps, _ := filepath.Glob(filepath.Join(repoDir, "snapshots", "*")); len(snaps) > 0 {
		t.Errorf("the failed backup committed snapshots: %v", snaps)
	}
	t.Logf("backup across the failover: exit %d: %s", r.code, strings.TrimSpace(r.stderr))
	waitUntil(t, "the replica becomes master", func() bool {
		a, err := sc.GetMasterAddrByName(ctx, "backend-master").Result()
		return err == nil && len(a) == 2 && a[0]+":"+a[1] == replica.Addr
	})
	rc := adminClient(t, in.te, replica)
	waitUntil(t, "the new master accepts writes", func() bool { return rc.Set(ctx, "after", "failover", 0).Err() == nil })
	if _, stderr, code := runCLI(t, append(flags, "backup", "--components", "backend-redis")...); code != 0 {
		t.Fatalf("backup after the failover: exit %d\n%s", code, stderr)
	}
}

// TestRedisRestoreWithLeastPrivilege restores a Redis backup as the ACL
// user restorer, allowed only testenv.RestoreACL.
func TestRedisRestoreWithLeastPrivilege(t *testing.T) {
	te := testenv.TLS(t)
	src := testenv.StartRedis(t, testenv.RedisOptions{TLS: true, AppendOnly: true})
	dst := testenv.StartRedis(t, testenv.RedisOptions{TLS: true, AppendOnly: true})
	ctx := context.Background()
	sc := adminClient(t, te, src)
	for i := 0; i < 100; i++ {
		if err := sc.HSet(ctx, "h:"+strconv.Itoa(i), "f", i).Err(); err != nil {
			t.Fatal(err)
		}
	}
	tlsArgs := []string{"--system-redis-tls-ca", te.File("ca.crt"), "--system-redis-tls-cert", te.File("client.crt"), "--system-redis-tls-key", te.File("client.key")}
	repoDir := filepath.Join(t.TempDir(), "repo")
	b := append([]string{"--local", "-r", repoDir, "--system-redis-url", src.UserURL("backup")}, tlsArgs...)
	stdout, stderr, code := runCLI(t, append(b, "backup", "--components", "system-redis")...)
	if code != 0 {
		t.Fatalf("backup: exit %d\n%s\n%s", code, stdout, stderr)
	}
	r := append([]string{"--local", "-r", repoDir, "--system-redis-url", dst.UserURL("restorer")}, tlsArgs...)
	if stdout, stderr, code = runCLI(t, append(r, "restore", "latest", "--components", "system-redis", "--yes", "--no-verify")...); code != 0 {
		t.Fatalf("restore as restorer: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if n, err := adminClient(t, te, dst).DBSize(ctx).Result(); err != nil || n != 100 {
		t.Fatalf("restored %d keys (%v), want 100", n, err)
	}
}
