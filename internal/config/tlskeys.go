package config

import (
	"fmt"
	"os"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/redact"
)

// tlsKeys are the secret keys of one connection's TLS settings, as the
// 3scale operator (2.16) writes them; the first key present of each list wins.
type tlsKeys struct {
	mode           string
	ca, cert, key  []string
	sentinelUser   string
	sentinelPass   string
	sentinelRole   string
	sentinelSecret string
}

var (
	dbTLSKeys = tlsKeys{mode: "DATABASE_SSL_MODE",
		ca: []string{"DB_SSL_CA", "DATABASE_SSL_CA"}, cert: []string{"DB_SSL_CERT", "DATABASE_SSL_CERT"}, key: []string{"DB_SSL_KEY", "DATABASE_SSL_KEY"}}
	storageKeys = tlsKeys{ca: []string{"REDIS_SSL_CA"}, cert: []string{"REDIS_SSL_CERT"}, key: []string{"REDIS_SSL_KEY"},
		sentinelUser: "REDIS_STORAGE_SENTINEL_USERNAME", sentinelPass: "REDIS_STORAGE_SENTINEL_PASSWORD", sentinelRole: "REDIS_STORAGE_SENTINEL_ROLE"}
	queuesKeys = tlsKeys{ca: []string{"REDIS_SSL_QUEUES_CA"}, cert: []string{"REDIS_SSL_QUEUES_CERT"}, key: []string{"REDIS_SSL_QUEUES_KEY"},
		sentinelUser: "REDIS_QUEUES_SENTINEL_USERNAME", sentinelPass: "REDIS_QUEUES_SENTINEL_PASSWORD", sentinelRole: "REDIS_QUEUES_SENTINEL_ROLE"}
	systemRedisKeys = tlsKeys{ca: []string{"REDIS_SSL_CA"}, cert: []string{"REDIS_SSL_CERT"}, key: []string{"REDIS_SSL_KEY"},
		sentinelUser: "REDIS_SENTINEL_USERNAME", sentinelPass: "REDIS_SENTINEL_PASSWORD", sentinelRole: "SENTINEL_ROLE"}
)

// piece reads one TLS piece: the flag's file, else the first secret key
// present. fromSecret is false in --local mode or when no secret applies.
func piece(s *secrets, secret string, keys []string, file, flag string, fromSecret bool) ([]byte, string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, "", errs.UsageError("fix "+flag, "%s: %v", flag, err)
		}
		registerPEM(b)
		return b, "flag " + flag, nil
	}
	if !fromSecret {
		return nil, "", nil
	}
	for _, k := range keys {
		if v, ok, err := s.value(secret, k); err == nil && ok {
			return []byte(v + "\n"), s.source(secret, k), nil
		}
	}
	return nil, "", nil
}

// registerPEM keeps a file's private key out of every output, whole and
// line by line (secrets read from Kubernetes are registered on read).
func registerPEM(b []byte) {
	v := strings.TrimSpace(string(b))
	if !strings.Contains(v, "PRIVATE KEY") {
		return
	}
	redact.Add(v)
	for _, l := range strings.Split(v, "\n") {
		if !strings.HasPrefix(l, "-----") {
			redact.Add(l)
		}
	}
}

// resolveTLS builds the TLS settings of one connection. engine is "mysql",
// "postgresql" or "redis"; urlMode is the mode the URL implies ("" for
// none) with urlModeSrc its description; fromSecret says whether the
// secret's keys apply (not when the URL came from a flag).
func resolveTLS(s *secrets, component, secret, engine string, keys tlsKeys, ov TLSOverride, urlMode, urlModeSrc string, fromSecret bool) (TLS, error) {
	p := "--" + FlagPrefix(component)
	t := TLS{component: component, fix: p + "-tls-ca"}
	var err error
	if t.CA, t.CASource, err = piece(s, secret, keys.ca, ov.CAFile, p+"-tls-ca", fromSecret); err != nil {
		return t, err
	}
	if t.Cert, t.CertSource, err = piece(s, secret, keys.cert, ov.CertFile, p+"-tls-cert", fromSecret); err != nil {
		return t, err
	}
	if t.Key, t.KeySource, err = piece(s, secret, keys.key, ov.KeyFile, p+"-tls-key", fromSecret); err != nil {
		return t, err
	}
	rawMode, modeSrc := ov.Mode, "flag "+p+"-ssl-mode"
	if rawMode == "" && fromSecret && keys.mode != "" {
		if v, ok, err := s.value(secret, keys.mode); err == nil && ok {
			rawMode, modeSrc = v, s.source(secret, keys.mode)
		}
	}
	switch {
	case rawMode != "":
		if t.Mode, err = ParseSSLMode(engine, rawMode); err != nil {
			return t, errs.UsageError(fmt.Sprintf("fix %s, or pass %s-ssl-mode", modeSrc, p), "%s: %s: %v", component, modeSrc, err)
		}
		t.ModeSource = modeSrc
	case urlMode != "":
		t.Mode, t.ModeSource = urlMode, urlModeSrc
	case len(t.CA) > 0 || len(t.Cert) > 0:
		// Certificates without a mode: verify fully, never silently less.
		t.Mode, t.ModeSource = ModeVerifyFull, "default (TLS material given)"
	case engine == "postgresql":
		t.Mode, t.ModeSource = ModePrefer, "default (libpq's prefer)"
	default:
		t.Mode, t.ModeSource = ModeOff, "default"
	}
	if t.Mode == ModeOff && (len(t.Cert) > 0 || len(t.CA) > 0) {
		// Material with TLS off: the installation asked for TLS elsewhere; say so rather than ignore it.
		return t, errs.UsageError(fmt.Sprintf("remove the certificates or choose a mode that uses TLS in %s", t.ModeSource),
			"%s: TLS certificates are configured but the SSL mode (%s) turns TLS off", component, t.ModeSource)
	}
	return t, t.validate()
}

// urlSSLMode takes the SSL mode a database URL carries (ssl_mode,
// sslmode, tls) out of its parameters.
func urlSSLMode(d *DB) (string, string, error) {
	for _, k := range []string{"sslrootcert", "sslcert", "sslkey", "sslpassword"} {
		d.Params.Del(k) // file paths of the pod; TLS material comes from the secret keys or flags
	}
	for _, k := range []string{"sslmode", "ssl_mode", "ssl-mode", "tls"} {
		v := d.Params.Get(k)
		if v == "" {
			continue
		}
		d.Params.Del(k)
		src := "URL parameter " + k
		if k == "tls" {
			switch strings.ToLower(v) {
			case "true":
				return ModeVerifyFull, src, nil
			case "skip-verify", "preferred":
				return ModeRequire, src, nil
			case "false":
				return ModeOff, src, nil
			}
		}
		m, err := ParseSSLMode(d.Kind, v)
		if err != nil {
			// libpq spellings in a MySQL URL (and back) were accepted before.
			other := "postgresql"
			if d.Kind == "postgresql" {
				other = "mysql"
			}
			if m2, err2 := ParseSSLMode(other, v); err2 == nil {
				return m2, src, nil
			}
			return "", "", err
		}
		return m, src, nil
	}
	return "", "", nil
}
