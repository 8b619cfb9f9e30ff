package config

import (
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"crypto/sha256"
	"encoding/hex"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/redact"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// DB is a resolved SQL database connection.
type DB struct {
	Kind     string // "mysql", "postgresql" or "oracle"
	URL      string // as found (flag, env or secret)
	Host     string
	Port     int
	User     string
	Password string
	Database string
	Params   url.Values
	Source   string // where it came from, e.g. "secret system-database key URL"
	TLS      TLS    // transport security (mode, CA, client certificate)
}

// ParseDB parses the database URL forms 3scale uses: mysql2://, mysql://,
// postgresql://, postgres://, oracle-enhanced://. Its password (and any
// token in it) is registered with redact, also when it does not parse.
func ParseDB(raw string) (DB, error) {
	redact.AddURL(raw)
	d, err := parseDB(raw)
	if err == nil {
		redact.Add(d.Password)
	}
	return d, err
}

// parseDB is ParseDB without registering anything: it changes no global
// state (the fuzz target runs it). Its errors are usage errors (exit 2)
// that never show the password.
func parseDB(raw string) (DB, error) {
	d, err := parseDBURL(raw)
	return d, errs.Wrap(errs.Usage, err, "fix the database URL (flag, environment or the namespace's secret)")
}

func parseDBURL(raw string) (DB, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || !validHost(u) {
		return DB{}, fmt.Errorf("malformed database URL (%s): want mysql2://USER:PASSWORD@HOST[:PORT]/DATABASE or postgresql://…", shape(raw))
	}
	d := DB{URL: raw, Host: u.Hostname(), Database: strings.TrimPrefix(u.Path, "/"), Params: u.Query()}
	switch u.Scheme {
	case "mysql2", "mysql":
		d.Kind, d.Port = "mysql", 3306
	case "postgresql", "postgres":
		d.Kind, d.Port = "postgresql", 5432
	case "oracle-enhanced", "oracle":
		d.Kind, d.Port = "oracle", 1521
	default:
		return DB{}, fmt.Errorf("unsupported database URL scheme %q in %s: want mysql2://, mysql://, postgresql:// or oracle-enhanced://", u.Scheme, redact.URL(raw))
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return DB{}, fmt.Errorf("bad port %q in database URL %s", p, redact.URL(raw))
		}
		d.Port = n
	}
	if u.User != nil {
		d.User = u.User.Username()
		d.Password, _ = u.User.Password()
	}
	if d.Database == "" {
		return DB{}, fmt.Errorf("database URL %s names no database: add /DATABASE to its path", redact.URL(raw))
	}
	return d, nil
}

// validHost reports whether the URL names a host: a name or an address,
// an IPv6 address in brackets.
func validHost(u *url.URL) bool {
	h := u.Hostname()
	if h == "" || strings.ContainsAny(h, "[]") {
		return false
	}
	return !strings.Contains(h, ":") || strings.HasPrefix(u.Host, "[")
}

// shape describes an unparseable URL without echoing it (it may hold a
// password that could not be recognised as one).
func shape(raw string) string {
	scheme, _, ok := strings.Cut(strings.TrimSpace(raw), "://")
	if !ok {
		return "no scheme://"
	}
	return "scheme " + scheme + "://…"
}

// ErrOracle is returned by operations that cannot work on Oracle.
func oracleError() error {
	return errs.UsageError("operate on Oracle with its own tools; 3scale-ops supports MySQL/MariaDB and PostgreSQL",
		"Oracle is not supported for this operation")
}

// Addr is host:port.
func (d DB) Addr() string { return net.JoinHostPort(d.Host, strconv.Itoa(d.Port)) }

// Redacted is the URL with its password masked, for display.
func (d DB) Redacted() string { return redact.URL(d.URL) }

// mysqlConfig returns the go-sql-driver configuration (utf8mb4, no time
// parsing), its TLS built from d.TLS; obs records the handshake.
func (d DB) mysqlConfig(obs *Observed) (*mysql.Config, error) {
	switch d.Kind {
	case "mysql":
	case "oracle":
		return nil, oracleError()
	default:
		return nil, errs.UsageError("pass a mysql2:// URL", "system database %s is %s, not MySQL", d.Redacted(), d.Kind)
	}
	c := mysql.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr, c.DBName = d.User, d.Password, "tcp", d.Addr(), d.Database
	if err := c.Apply(mysql.Charset("utf8mb4", "utf8mb4_unicode_ci")); err != nil {
		return nil, err
	}
	c.Timeout = 10 * time.Second
	c.AllowNativePasswords = true
	c.MaxAllowedPacket = 0 // ask the server
	tc, err := d.TLS.Config(d.Addr(), obs)
	if err != nil {
		return nil, err
	}
	c.TLS = tc
	c.AllowFallbackToPlaintext = d.TLS.Mode == ModePrefer
	return c, nil
}

// MySQLDSN returns a go-sql-driver DSN. Its TLS configuration (CA, client
// certificate and key) is registered with the driver in memory under a
// name derived from the settings; the DSN carries only that name.
func (d DB) MySQLDSN() (string, error) {
	c, err := d.mysqlConfig(nil)
	if err != nil {
		return "", err
	}
	if c.TLS != nil {
		name := tlsName(d.TLS, d.Addr())
		if err := mysql.RegisterTLSConfig(name, c.TLS); err != nil {
			return "", err
		}
		c.TLS, c.TLSConfig = nil, name
	}
	return c.FormatDSN(), nil
}

// OpenMySQL opens a database handle (connections are made lazily).
func (d DB) OpenMySQL() (*sql.DB, error) {
	c, err := d.mysqlConfig(nil)
	if err != nil {
		return nil, err
	}
	conn, err := mysql.NewConnector(c)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(conn), nil
}

// Open opens a database/sql handle on d whatever its engine: MySQL /
// MariaDB through go-sql-driver, PostgreSQL through pgx, each with d.TLS.
// Queries run through it must be plain SQL both engines accept (no ?
// placeholders, booleans compared with TRUE/FALSE).
func (d DB) Open() (*sql.DB, error) {
	if d.Kind != "postgresql" {
		return d.OpenMySQL()
	}
	cfg, err := d.PostgresConfig(nil)
	if err != nil {
		return nil, err
	}
	return stdlib.OpenDB(*cfg), nil
}

// PostgresURL returns a postgres:// URL without TLS settings (sslmode=disable
// when TLS is handled by PostgresConfig): connect with PostgresConfig.
func (d DB) PostgresURL() (string, error) {
	switch d.Kind {
	case "postgresql":
	case "oracle":
		return "", oracleError()
	default:
		return "", errs.UsageError("pass a postgresql:// URL", "database %s is %s, not PostgreSQL", d.Redacted(), d.Kind)
	}
	u := url.URL{Scheme: "postgres", Host: d.Addr(), Path: "/" + d.Database}
	if d.User != "" {
		if d.Password != "" {
			u.User = url.UserPassword(d.User, d.Password)
		} else {
			u.User = url.User(d.User)
		}
	}
	q := url.Values{}
	for k, v := range d.Params {
		q[k] = v
	}
	if q.Get("connect_timeout") == "" {
		q.Set("connect_timeout", "10")
	}
	q.Set("sslmode", "disable")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// PostgresConfig returns the pgx configuration with d.TLS applied: the
// mode's fallbacks (prefer: TLS then plain; allow: plain then TLS), the CA
// and the client certificate. obs records the handshake.
func (d DB) PostgresConfig(obs *Observed) (*pgx.ConnConfig, error) {
	u, err := d.PostgresURL()
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		return nil, errs.UsageError("fix the database URL", "%s: %s", d.Redacted(), redact.String(err.Error()))
	}
	tc, err := d.TLS.Config(d.Addr(), obs)
	if err != nil {
		return nil, err
	}
	plain := &pgconn.FallbackConfig{Host: cfg.Host, Port: cfg.Port}
	secure := &pgconn.FallbackConfig{Host: cfg.Host, Port: cfg.Port, TLSConfig: tc}
	switch d.TLS.Mode {
	case ModeOff, "":
	case ModeAllow:
		cfg.Fallbacks = []*pgconn.FallbackConfig{secure}
	case ModePrefer:
		cfg.TLSConfig, cfg.Fallbacks = tc, []*pgconn.FallbackConfig{plain}
	default:
		cfg.TLSConfig = tc
	}
	return cfg, nil
}

// PostgresDSN registers the pgx configuration for database/sql (driver
// "pgx") and returns the name to open.
func (d DB) PostgresDSN() (string, error) {
	cfg, err := d.PostgresConfig(nil)
	if err != nil {
		return "", err
	}
	return stdlib.RegisterConnConfig(cfg), nil
}

// tlsName is a stable name for a TLS configuration in the driver's
// registry: the same settings share one entry, different ones never
// replace each other.
func tlsName(t TLS, addr string) string {
	h := sha256.New()
	for _, b := range [][]byte{[]byte(t.component), []byte(addr), []byte(t.Mode), t.CA, t.Cert, t.Key} {
		h.Write(b)
		h.Write([]byte{0})
	}
	return "3scale-ops-" + hex.EncodeToString(h.Sum(nil)[:8])
}

func firstParam(v url.Values, keys ...string) string {
	for _, k := range keys {
		if s := v.Get(k); s != "" {
			return s
		}
	}
	return ""
}
