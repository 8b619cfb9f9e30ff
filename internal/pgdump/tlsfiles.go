package pgdump

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
)

// TLS is the transport security pg_dump (libpq) must use: the libpq
// sslmode and the PEM material. libpq reads certificates and keys only
// from files, so each run of pg_dump gets them in a private directory
// (0700, files 0600) removed as soon as it exits; nothing goes in argv.
type TLS struct {
	Mode     string // libpq sslmode: disable, allow, prefer, require, verify-ca, verify-full
	CA       []byte // PEM; empty with a verifying mode means the system CA pool
	Cert     []byte
	Key      []byte
	Verifies bool // the mode checks the server certificate
}

// libpqEnv writes the material and returns the PGSSL* environment and the
// function that removes the files.
func (t *TLS) libpqEnv() ([]string, func(), error) {
	if t == nil || t.Mode == "" {
		return nil, func() {}, nil
	}
	env := []string{"PGSSLMODE=" + t.Mode}
	if len(t.CA) == 0 && len(t.Cert) == 0 {
		if t.Verifies {
			env = append(env, "PGSSLROOTCERT=system")
		}
		return env, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "3scale-ops-pgtls-")
	if err != nil {
		return nil, nil, fmt.Errorf("zync-postgres: TLS files for pg_dump: %w", err)
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	write := func(name, envKey string, b []byte) error {
		if len(b) == 0 {
			return nil
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return fmt.Errorf("zync-postgres: TLS files for pg_dump: %w", err)
		}
		env = append(env, envKey+"="+p)
		return nil
	}
	for _, f := range []struct {
		name, env string
		b         []byte
	}{{"ca.crt", "PGSSLROOTCERT", t.CA}, {"client.crt", "PGSSLCERT", t.Cert}, {"client.key", "PGSSLKEY", t.Key}} {
		if err := write(f.name, f.env, f.b); err != nil {
			cleanup()
			return nil, nil, err
		}
	}
	if len(t.CA) == 0 && t.Verifies {
		env = append(env, "PGSSLROOTCERT=system")
	}
	return env, cleanup, nil
}

// withoutSSLMode drops the URL's own sslmode so that PGSSLMODE applies.
func withoutSSLMode(conn string) string {
	u, err := url.Parse(conn)
	if err != nil {
		return conn
	}
	q := u.Query()
	for _, k := range []string{"sslmode", "sslrootcert", "sslcert", "sslkey"} {
		q.Del(k)
	}
	u.RawQuery = q.Encode()
	return u.String()
}
