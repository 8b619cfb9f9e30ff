package config

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/redact"
	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
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
}

// ParseDB parses the database URL forms 3scale uses: mysql2://, mysql://,
// postgresql://, postgres://, oracle-enhanced://.
func ParseDB(raw string) (DB, error) {
	redact.AddURL(raw)
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
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
		redact.Add(d.Password)
	}
	if d.Database == "" {
		return DB{}, fmt.Errorf("database URL %s names no database: add /DATABASE to its path", redact.URL(raw))
	}
	return d, nil
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

// MySQLDSN returns a go-sql-driver DSN (utf8mb4, no time parsing).
func (d DB) MySQLDSN() (string, error) {
	switch d.Kind {
	case "mysql":
	case "oracle":
		return "", oracleError()
	default:
		return "", errs.UsageError("pass a mysql2:// URL", "system database %s is %s, not MySQL", d.Redacted(), d.Kind)
	}
	c := mysql.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr, c.DBName = d.User, d.Password, "tcp", d.Addr(), d.Database
	c.Params = map[string]string{"charset": "utf8mb4"}
	c.Collation = "utf8mb4_unicode_ci"
	c.Timeout = 10 * time.Second
	c.AllowNativePasswords = true
	c.MaxAllowedPacket = 0 // ask the server
	if v := firstParam(d.Params, "ssl_mode", "sslmode", "tls"); v != "" {
		switch strings.ToLower(v) {
		case "disabled", "false", "disable":
		case "verify_identity", "verify-full", "true":
			c.TLSConfig = "true"
		default:
			c.TLSConfig = "skip-verify"
		}
	}
	return c.FormatDSN(), nil
}

// OpenMySQL opens a database handle (connections are made lazily).
func (d DB) OpenMySQL() (*sql.DB, error) {
	dsn, err := d.MySQLDSN()
	if err != nil {
		return nil, err
	}
	return sql.Open("mysql", dsn)
}

// PostgresURL returns a postgres:// URL for pgx.
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
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func firstParam(v url.Values, keys ...string) string {
	for _, k := range keys {
		if s := v.Get(k); s != "" {
			return s
		}
	}
	return ""
}

// Redis is a resolved Redis connection (plain, TLS or through Sentinel).
type Redis struct {
	URL           string
	Addr          string // host:port; for Sentinel, resolved by Options
	DB            int
	Username      string
	Password      string
	TLS           bool
	SentinelAddrs []string // host:port of each sentinel; empty without Sentinel
	MasterName    string   // Sentinel master group name
	Source        string
}

// ParseRedis parses redis:// and rediss:// URLs with an optional db number;
// sentinels (the REDIS_*_SENTINEL_HOSTS list) turn the URL host into the
// master group name.
func ParseRedis(raw, sentinels string) (Redis, error) {
	redact.AddURL(raw)
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return Redis{}, fmt.Errorf("malformed Redis URL (%s): want redis://[USER:PASSWORD@]HOST[:PORT][/DB]", shape(raw))
	}
	r := Redis{URL: raw}
	switch u.Scheme {
	case "redis":
	case "rediss":
		r.TLS = true
	default:
		return Redis{}, fmt.Errorf("unsupported Redis URL scheme %q in %s: want redis:// or rediss://", u.Scheme, redact.URL(raw))
	}
	if u.User != nil {
		r.Username = u.User.Username()
		r.Password, _ = u.User.Password()
		redact.Add(r.Password)
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return Redis{}, fmt.Errorf("bad database number %q in Redis URL %s", p, redact.URL(raw))
		}
		r.DB = n
	}
	if s := strings.TrimSpace(sentinels); s != "" {
		r.MasterName = u.Hostname()
		for _, h := range strings.Split(s, ",") {
			h = strings.TrimSpace(h)
			if h == "" {
				continue
			}
			if strings.Contains(h, "://") {
				su, err := url.Parse(h)
				if err != nil || su.Host == "" {
					return Redis{}, fmt.Errorf("malformed sentinel host %q", redact.URL(h))
				}
				h = su.Host
			}
			if _, _, err := net.SplitHostPort(h); err != nil {
				h = net.JoinHostPort(h, "26379")
			}
			r.SentinelAddrs = append(r.SentinelAddrs, h)
		}
		return r, nil
	}
	port := u.Port()
	if port == "" {
		port = "6379"
	}
	r.Addr = net.JoinHostPort(u.Hostname(), port)
	return r, nil
}

// Redacted is the URL with its password masked.
func (r Redis) Redacted() string {
	s := redact.URL(r.URL)
	if len(r.SentinelAddrs) > 0 {
		s += " via sentinels " + strings.Join(r.SentinelAddrs, ",")
	}
	return s
}

// Options returns go-redis options for the server; with Sentinel it asks
// the sentinels for the current master address first.
func (r Redis) Options() (*redis.Options, error) {
	o := &redis.Options{Addr: r.Addr, DB: r.DB, Username: r.Username, Password: r.Password,
		DialTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second, WriteTimeout: 60 * time.Second}
	if r.TLS {
		o.TLSConfig = tlsConfig(r.Addr)
	}
	if len(r.SentinelAddrs) == 0 {
		return o, nil
	}
	var lastErr error
	for _, s := range r.SentinelAddrs {
		sc := redis.NewSentinelClient(&redis.Options{Addr: s, DialTimeout: 5 * time.Second})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		addr, err := sc.GetMasterAddrByName(ctx, r.MasterName).Result()
		cancel()
		sc.Close()
		if err == nil && len(addr) == 2 {
			o.Addr = net.JoinHostPort(addr[0], addr[1])
			if r.TLS {
				o.TLSConfig = tlsConfig(o.Addr)
			}
			return o, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("no sentinel (%s) knows master %q: %v", strings.Join(r.SentinelAddrs, ","), r.MasterName, lastErr)
}
