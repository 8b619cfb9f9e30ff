package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
)

// TLSEnv is the TLS part of the environment: the throwaway CA and
// certificates, and the TLS servers (each verifies client certificates).
type TLSEnv struct {
	Dir                 string // ca.crt, server.*, client.*, other-ca.crt, other-client.*
	MySQLURL            string // mysql://tlsuser:PW@127.0.0.1:PORT/ (REQUIRE X509)
	PostgresURL         string // postgresql://postgres:PW@127.0.0.1:PORT/postgres (admin, password over TLS)
	BackendRedisAddr    string // TLS-only Redis (users admin, backup, scanner, sentinel)
	SystemRedisAddr     string
	RedisAdminPassword  string
	RedisBackupPassword string // of the users backup and scanner
	SentinelAddr        string // TLS Sentinel watching backend-master and system-master
	SentinelPassword    string // of the Sentinel user sentinel-client
}

// File returns the path of one certificate or key file (e.g. "ca.crt").
func (t TLSEnv) File(name string) string { return filepath.Join(t.Dir, name) }

// PEM reads one certificate or key file.
func (t TLSEnv) PEM(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(t.File(name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// ClientConfig is a crypto/tls configuration that trusts the test CA and
// presents the client certificate named (e.g. "client" or "other-client").
func (t TLSEnv) ClientConfig(tb testing.TB, client string) *tls.Config {
	tb.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(t.PEM(tb, "ca.crt"))
	pair, err := tls.LoadX509KeyPair(t.File(client+".crt"), t.File(client+".key"))
	if err != nil {
		tb.Fatal(err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// TLS returns the TLS servers or fails the test.
func TLS(tb testing.TB) TLSEnv {
	tb.Helper()
	e := Get(tb)
	if e.TLS.Dir == "" {
		tb.Fatal("the test environment was started without its TLS servers (TESTENV_NO_TLS); restart it with scripts/testenv.sh up")
	}
	return e.TLS
}

func loadTLS(v map[string]string) TLSEnv {
	return TLSEnv{Dir: v["TESTENV_TLS_DIR"], MySQLURL: v["TESTENV_TLS_MYSQL_URL"], PostgresURL: v["TESTENV_TLS_POSTGRES_URL"],
		BackendRedisAddr: v["TESTENV_TLS_BACKEND_REDIS_ADDR"], SystemRedisAddr: v["TESTENV_TLS_SYSTEM_REDIS_ADDR"],
		RedisAdminPassword: v["TESTENV_TLS_REDIS_ADMIN_PASSWORD"], RedisBackupPassword: v["TESTENV_TLS_REDIS_BACKUP_PASSWORD"],
		SentinelAddr: v["TESTENV_TLS_SENTINEL_ADDR"], SentinelPassword: v["TESTENV_TLS_SENTINEL_PASSWORD"]}
}

var registerOnce sync.Once

// TLSMySQL creates a fresh database on the TLS MariaDB, dropped when the
// test ends. DSN connects with the client certificate (multiStatements
// on); URL is the mysql2:// form a 3scale secret holds (the TLS pieces
// go in other keys).
func TLSMySQL(tb testing.TB) MySQLDatabase {
	tb.Helper()
	te := TLS(tb)
	registerOnce.Do(func() { _ = mysql.RegisterTLSConfig("testenv-client", te.ClientConfig(tb, "client")) })
	u, _ := url.Parse(te.MySQLURL)
	pw, _ := u.User.Password()
	dsn := func(db string) string {
		c := mysql.NewConfig()
		c.User, c.Passwd, c.Net, c.Addr, c.DBName = u.User.Username(), pw, "tcp", u.Host, db
		c.MultiStatements, c.TLSConfig = true, "testenv-client"
		c.Params = map[string]string{"charset": "utf8mb4"}
		return c.FormatDSN()
	}
	name := Unique("t_")
	admin, err := sql.Open("mysql", dsn(""))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := admin.Exec("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		admin.Close()
		tb.Fatalf("create MySQL database on the TLS server: %v", err)
	}
	tb.Cleanup(func() {
		_, _ = admin.Exec("DROP DATABASE IF EXISTS `" + name + "`")
		admin.Close()
	})
	return MySQLDatabase{Name: name, DSN: dsn(name), URL: "mysql2://" + u.User.String() + "@" + u.Host + "/" + name}
}

// TLSPostgres creates a fresh database on the TLS PostgreSQL, owned by
// tlsuser (who logs in by client certificate only), dropped when the test
// ends. URL is postgresql://tlsuser@HOST:PORT/NAME, without TLS settings.
func TLSPostgres(tb testing.TB) PostgresDatabase {
	tb.Helper()
	te := TLS(tb)
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(te.PostgresURL + "?sslmode=require")
	if err != nil {
		tb.Fatal(err)
	}
	cfg.TLSConfig = te.ClientConfig(tb, "client")
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		tb.Fatalf("connect to the TLS PostgreSQL: %v", err)
	}
	name := Unique("t_")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" OWNER tlsuser TEMPLATE template0 ENCODING 'UTF8'"); err != nil {
		conn.Close(ctx)
		tb.Fatalf("create PostgreSQL database on the TLS server: %v", err)
	}
	tb.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		conn.Close(context.Background())
	})
	u, _ := url.Parse(te.PostgresURL)
	u.User, u.Path = url.User("tlsuser"), "/"+name
	return PostgresDatabase{Name: name, URL: u.String()}
}
