package main

import (
	"encoding/json"
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
	installSecrets(t, ns, in.secrets(t, "admin"))
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
