package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/testenv"
)

// tlsInstall is a 3scale installation whose every connection is TLS with
// a client certificate, as 3scale 2.16 configures one: fresh databases on
// the TLS MariaDB and PostgreSQL, two private TLS-only Redis with ACL
// users, and a TLS Sentinel with its own user in front of both.
type tlsInstall struct {
	te       testenv.TLSEnv
	MySQL    testenv.MySQLDatabase
	PG       testenv.PostgresDatabase
	Backend  *testenv.Redis
	System   *testenv.Redis
	Sentinel *testenv.Redis
}

func newTLSInstall(t *testing.T) *tlsInstall {
	t.Helper()
	in := &tlsInstall{te: testenv.TLS(t), MySQL: testenv.TLSMySQL(t), PG: testenv.TLSPostgres(t),
		Backend: testenv.StartRedis(t, testenv.RedisOptions{TLS: true, AppendOnly: true}),
		System:  testenv.StartRedis(t, testenv.RedisOptions{TLS: true, AppendOnly: true})}
	in.Sentinel = testenv.StartSentinel(t, map[string]*testenv.Redis{"backend-master": in.Backend, "system-master": in.System})
	return in
}

// secrets are the installation's secrets with every key the operator
// writes for TLS, ACL users and Sentinel; redisUser is the ACL user the
// Redis connections log in as. The certificates are PEM text in the keys.
func (in *tlsInstall) secrets(t *testing.T, redisUser string) map[string]map[string]string {
	t.Helper()
	pem := func(n string) string { return string(in.te.PEM(t, n)) }
	ca, cert, key := pem("ca.crt"), pem("client.crt"), pem("client.key")
	sentinels := "rediss://" + in.Sentinel.Addr
	return map[string]map[string]string{
		"system-database": {"URL": in.MySQL.URL, "DATABASE_SSL_MODE": "verify_identity",
			"DB_SSL_CA": ca, "DB_SSL_CERT": cert, "DB_SSL_KEY": key},
		"zync": {"DATABASE_URL": in.PG.URL, "DATABASE_SSL_MODE": "verify-full",
			"DB_SSL_CA": ca, "DB_SSL_CERT": cert, "DB_SSL_KEY": key},
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
}

type checkDoc struct {
	Connections []struct {
		Component, Target, Source, Version, Error, Hint string
		Reachable                                       bool
		Code                                            int `json:"exit_code"`
		TLS                                             *struct {
			Enabled, Handshake, Verified bool
			Mode                         string
			ServerName                   string     `json:"server_name"`
			NotAfter                     *time.Time `json:"certificate_expiry"`
			ClientCertSent               bool       `json:"client_certificate_sent"`
			Sentinel                     bool
			SentinelTLS                  bool   `json:"sentinel_tls"`
			SentinelAuth                 bool   `json:"sentinel_auth"`
			ACLUser                      string `json:"acl_user"`
		}
	}
}

func parseCheck(t *testing.T, stdout string) checkDoc {
	t.Helper()
	var doc checkDoc
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("config -o json is not one JSON document: %v\n%s", err, stdout)
	}
	return doc
}

// TestConfigCheckTLSFromSecrets resolves every connection from secrets in
// the real API server carrying the 3scale 2.16 TLS, ACL and Sentinel keys,
// and checks that config --check reports each one verified, with the
// server name, the certificate expiry and the client certificate sent.
func TestConfigCheckTLSFromSecrets(t *testing.T) {
	env := testenv.Get(t)
	in := newTLSInstall(t)
	ns := testenv.Namespace(t)
	sec := in.secrets(t, "admin")
	// system-redis asks Sentinel as a user allowed only to ask for the master.
	sec["system-redis"]["REDIS_SENTINEL_USERNAME"] = "sentinel-reader"
	installSecrets(t, ns, sec)
	stdout, stderr, code := runCLI(t, "--kubeconfig", env.Kubeconfig, "-n", ns, "-o", "json", "--system-storage", "dir://"+t.TempDir(), "config")
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	doc := parseCheck(t, stdout)
	for _, c := range doc.Connections {
		if c.Component == "system-storage" {
			continue
		}
		tl := c.TLS
		if !c.Reachable || tl == nil || !tl.Enabled || !tl.Handshake || !tl.Verified || !tl.ClientCertSent || tl.NotAfter == nil {
			t.Errorf("%s: want reachable, TLS verified with a client certificate: %+v tls %+v", c.Component, c, tl)
			continue
		}
		if tl.ServerName != "127.0.0.1" || time.Until(*tl.NotAfter) < 24*time.Hour || time.Until(*tl.NotAfter) > 31*24*time.Hour {
			t.Errorf("%s: server name %q, expiry %v", c.Component, tl.ServerName, tl.NotAfter)
		}
		if strings.Contains(c.Component, "redis") && (!tl.Sentinel || !tl.SentinelTLS || !tl.SentinelAuth || tl.ACLUser != "admin") {
			t.Errorf("%s: want Sentinel over TLS with auth and ACL user admin: %+v", c.Component, tl)
		}
	}
	for _, leak := range []string{in.Backend.Password, in.Sentinel.Password, "PRIVATE KEY"} {
		if strings.Contains(stdout+stderr, leak) {
			t.Errorf("output holds a secret (%q…)", leak[:4])
		}
	}
}

// expiredCert writes a server certificate for 127.0.0.1 signed by the test
// CA that expired yesterday, and its key; it returns their paths.
func expiredCert(t *testing.T, te testenv.TLSEnv) (string, string) {
	t.Helper()
	caPair, err := tls.LoadX509KeyPair(te.File("ca.crt"), te.File("ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caPair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "expired"},
		NotBefore: time.Now().Add(-72 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caPair.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	crt, kf := filepath.Join(dir, "expired.crt"), filepath.Join(dir, "expired.key")
	if err := os.WriteFile(crt, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return crt, kf
}

// TestTLSConfigurationErrors breaks one piece of a working TLS
// installation at a time. Each must be one line naming the connection and
// the secret key to fix, exit 2 when the configuration is wrong and 1
// when a server refuses, and a backup must write nothing.
func TestTLSConfigurationErrors(t *testing.T) {
	env := testenv.Get(t)
	in := newTLSInstall(t)
	te := in.te
	pemOf := func(n string) string { return string(te.PEM(t, n)) }
	crt, key := expiredCert(t, te)
	expired := testenv.StartRedis(t, testenv.RedisOptions{TLS: true, ExtraConf: []string{"tls-cert-file " + crt, "tls-key-file " + key}})
	cases := []struct {
		name, component string
		change          func(map[string]map[string]string)
		code            int
		want            []string
	}{
		{"wrong CA", "system-mysql", func(s map[string]map[string]string) { s["system-database"]["DB_SSL_CA"] = pemOf("other-ca.crt") },
			2, []string{"system-mysql", "not signed by the CA in secret system-database key DB_SSL_CA"}},
		{"client certificate refused", "zync-postgres", func(s map[string]map[string]string) {
			s["zync"]["DB_SSL_CERT"], s["zync"]["DB_SSL_KEY"] = pemOf("other-client.crt"), pemOf("other-client.key")
		}, 1, []string{"zync-postgres", "refused the client certificate from secret zync key DB_SSL_CERT"}},
		{"unknown SSL mode", "system-mysql", func(s map[string]map[string]string) { s["system-database"]["DATABASE_SSL_MODE"] = "sometimes" },
			2, []string{"system-mysql", "secret system-database key DATABASE_SSL_MODE", `unknown SSL mode "sometimes"`}},
		{"key of another certificate", "system-redis", func(s map[string]map[string]string) { s["system-redis"]["REDIS_SSL_KEY"] = pemOf("server.key") },
			2, []string{"system-redis", "secret system-redis key REDIS_SSL_CERT", "secret system-redis key REDIS_SSL_KEY", "do not match"}},
		{"sentinel names no master", "backend-redis", func(s map[string]map[string]string) {
			s["backend-redis"]["REDIS_STORAGE_URL"] = "redis://no-such-master/0"
		}, 2, []string{"backend-redis", `no sentinel (` + in.Sentinel.Addr + `) monitors a master named "no-such-master"`, "REDIS_STORAGE_URL"}},
		{"expired server certificate", "system-redis", func(s map[string]map[string]string) {
			delete(s["system-redis"], "SENTINEL_HOSTS")
			s["system-redis"]["URL"] = "rediss://" + expired.Addr + "/1"
			s["system-redis"]["REDIS_PASSWORD"] = expired.Password
		}, 1, []string{"system-redis", "server certificate of " + expired.Addr + " is outside its validity", "secret system-redis key REDIS_SSL_CA"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sec := in.secrets(t, "admin")
			c.change(sec)
			ns := testenv.Namespace(t)
			installSecrets(t, ns, sec)
			flags := []string{"--kubeconfig", env.Kubeconfig, "-n", ns, "--system-storage", "dir://" + t.TempDir()}
			stdout, stderr, code := runCLI(t, append(flags, "-o", "json", "config")...)
			doc := parseCheck(t, stdout)
			var line string
			for _, s := range doc.Connections {
				if s.Component == c.component {
					line = s.Error
				} else if s.Error != "" {
					t.Errorf("%s failed too: %s", s.Component, s.Error)
				}
			}
			if code != c.code {
				t.Errorf("config: exit %d, want %d\n%s", code, c.code, stderr)
			}
			if strings.Contains(line, "\n") {
				t.Errorf("the error is not one line: %q", line)
			}
			for _, w := range c.want {
				if !strings.Contains(line, w) {
					t.Errorf("%s error lacks %q: %s", c.component, w, line)
				}
			}
			repoDir := filepath.Join(t.TempDir(), "repo")
			_, berr, bcode := runCLI(t, append(flags, "-r", repoDir, "backup", "--components", c.component)...)
			if bcode != c.code || !strings.Contains(berr, c.component) {
				t.Errorf("backup: exit %d, want %d naming %s:\n%s", bcode, c.code, c.component, berr)
			}
			if snaps, _ := filepath.Glob(filepath.Join(repoDir, "snapshots", "*")); len(snaps) > 0 {
				t.Errorf("a failed backup left snapshots: %v", snaps)
			}
			t.Logf("config: %s; backup exit %d", line, bcode)
			if strings.Contains(stdout+stderr+berr, "PRIVATE KEY") || strings.Contains(stdout+stderr+berr, in.Sentinel.Password) {
				t.Errorf("output holds key material or a password")
			}
		})
	}
}

// TestConfigLocalTLSFlags connects with --local and only flags: the TLS
// pieces given as files, the Sentinel password in the environment.
func TestConfigLocalTLSFlags(t *testing.T) {
	in := newTLSInstall(t)
	te := in.te
	t.Setenv("THREESCALE_OPS_SYSTEM_REDIS_SENTINEL_PASSWORD", in.Sentinel.Password)
	args := []string{"--local", "-o", "json", "--system-storage", "dir://" + t.TempDir(),
		"--system-db-url", in.MySQL.URL, "--system-db-ssl-mode", "VERIFY_CA",
		"--zync-db-url", in.PG.URL, "--zync-db-ssl-mode", "verify-full",
		"--backend-redis-url", in.Backend.UserURL("backup"), "--backend-redis-queues-url", strings.TrimSuffix(in.Backend.UserURL("admin"), "/0") + "/1",
		"--system-redis-url", "redis://admin:" + in.System.Password + "@system-master/1",
		"--system-redis-sentinel-hosts", in.Sentinel.Addr, "--system-redis-sentinel-username", "sentinel-client"}
	for _, p := range []string{"system-db", "zync-db", "backend-redis", "backend-redis-queues", "system-redis"} {
		args = append(args, "--"+p+"-tls-ca", te.File("ca.crt"), "--"+p+"-tls-cert", te.File("client.crt"), "--"+p+"-tls-key", te.File("client.key"))
	}
	stdout, stderr, code := runCLI(t, append(args, "config")...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, c := range parseCheck(t, stdout).Connections {
		if c.TLS != nil && (!c.TLS.Verified || !c.TLS.ClientCertSent) {
			t.Errorf("%s: not verified with a client certificate: %+v", c.Component, c.TLS)
		}
	}
	if strings.Contains(stdout+stderr, in.Sentinel.Password) || strings.Contains(stdout+stderr, in.System.Password) {
		t.Errorf("a password is in the output")
	}
}

// keyFiles is a directory with a client.crt and client.key.
type keyFiles string

func (k keyFiles) File(n string) string { return filepath.Join(string(k), n) }

func (k keyFiles) PEM(t *testing.T, n string) []byte {
	t.Helper()
	b, err := os.ReadFile(k.File(n))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// selfSignedFiles writes a fresh self-signed client certificate and key,
// for tests that need key material but no TLS server.
func selfSignedFiles(t *testing.T) keyFiles {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tlsuser"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := keyFiles(t.TempDir())
	if err := os.WriteFile(dir.File("client.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir.File("client.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}
