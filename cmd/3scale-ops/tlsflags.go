package main

import (
	"os"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/urfave/cli/v2"
)

// tlsFlagNames are the per-connection TLS and Sentinel flags, generated
// from the connection names: --system-db-tls-ca FILE, --system-db-ssl-mode,
// --backend-redis-sentinel-hosts, … Passwords come from the environment
// only (THREESCALE_OPS_<CONNECTION>_SENTINEL_PASSWORD), never from argv.
func tlsFlagNames(component string) (mode, ca, cert, key string) {
	p := config.FlagPrefix(component)
	return p + "-ssl-mode", p + "-tls-ca", p + "-tls-cert", p + "-tls-key"
}

func sentinelFlagNames(component string) (hosts, user, passwordEnv string) {
	p := config.FlagPrefix(component)
	return p + "-sentinel-hosts", p + "-sentinel-username", envName(p) + "_SENTINEL_PASSWORD"
}

func envName(flag string) string {
	return "THREESCALE_OPS_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// connectionTLSFlags are the flags for every TLS-capable connection.
func connectionTLSFlags() []cli.Flag {
	var out []cli.Flag
	for _, c := range config.TLSComponents {
		mode, ca, cert, key := tlsFlagNames(c)
		modes := "disable, require, verify-ca or verify-full"
		switch c {
		case config.SystemDB:
			modes = "MySQL: DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY; PostgreSQL: libpq's sslmode values"
		case config.ZyncDB:
			modes = "disable, allow, prefer, require, verify-ca or verify-full"
		}
		out = append(out,
			&cli.StringFlag{Name: mode, EnvVars: []string{envName(mode)}, Usage: c + " SSL mode (" + modes + ")"},
			&cli.StringFlag{Name: ca, EnvVars: []string{envName(ca)}, Usage: c + " CA certificate file (PEM) to verify the server with"},
			&cli.StringFlag{Name: cert, EnvVars: []string{envName(cert)}, Usage: c + " client certificate file (PEM) for mutual TLS"},
			&cli.StringFlag{Name: key, EnvVars: []string{envName(key)}, Usage: c + " client key file (PEM) for mutual TLS"},
		)
	}
	for _, c := range config.RedisComponents {
		hosts, user, pwEnv := sentinelFlagNames(c)
		out = append(out,
			&cli.StringFlag{Name: hosts, EnvVars: []string{envName(hosts)}, Usage: c + " Sentinel hosts (host:port,…); the URL host is then the master group name"},
			&cli.StringFlag{Name: user, EnvVars: []string{envName(user)}, Usage: c + " Sentinel ACL username (password: $" + pwEnv + ")"},
		)
	}
	return out
}

// tlsOverrides reads the TLS and Sentinel flags into o.
func tlsOverrides(c *cli.Context, o *config.Overrides) {
	o.TLS = map[string]config.TLSOverride{}
	o.Sentinel = map[string]config.SentinelOverride{}
	for _, comp := range config.TLSComponents {
		mode, ca, cert, key := tlsFlagNames(comp)
		o.TLS[comp] = config.TLSOverride{Mode: c.String(mode), CAFile: c.String(ca), CertFile: c.String(cert), KeyFile: c.String(key)}
	}
	for _, comp := range config.RedisComponents {
		hosts, user, pwEnv := sentinelFlagNames(comp)
		o.Sentinel[comp] = config.SentinelOverride{Hosts: c.String(hosts), Username: c.String(user), Password: os.Getenv(pwEnv)}
	}
}
