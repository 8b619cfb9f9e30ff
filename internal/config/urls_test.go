package config

import (
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/errs"
)

func TestParseDB(t *testing.T) {
	cases := []struct {
		in                       string
		kind, host, user, pw, db string
		port                     int
	}{
		{"mysql2://root:pw1234@system-mysql/system", "mysql", "system-mysql", "root", "pw1234", "system", 3306},
		{"mysql://u:p%40ss@10.0.0.5:3307/porta?ssl_mode=disabled", "mysql", "10.0.0.5", "u", "p@ss", "porta", 3307},
		{"postgresql://zync:zpw@zync-database:5432/zync_production", "postgresql", "zync-database", "zync", "zpw", "zync_production", 5432},
		{"postgres://zync@db/zync", "postgresql", "db", "zync", "", "zync", 5432},
		{"oracle-enhanced://sys:o@oracle/threescale", "oracle", "oracle", "sys", "o", "threescale", 1521},
	}
	for _, c := range cases {
		d, err := ParseDB(c.in)
		if err != nil {
			t.Fatalf("ParseDB(%q): %v", c.in, err)
		}
		if d.Kind != c.kind || d.Host != c.host || d.User != c.user || d.Password != c.pw || d.Database != c.db || d.Port != c.port {
			t.Errorf("ParseDB(%q) = %+v", c.in, d)
		}
	}
	for _, bad := range []string{"", "system-mysql", "http://x/y", "mysql2://h:99999/db", "mysql2://root:pw@host/"} {
		if _, err := ParseDB(bad); err == nil {
			t.Errorf("ParseDB(%q) accepted", bad)
		}
	}
}

func TestOracleIsRefusedClearly(t *testing.T) {
	d, _ := ParseDB("oracle-enhanced://sys:secretora@oracle/threescale")
	_, err := d.MySQLDSN()
	if err == nil || !strings.Contains(err.Error(), "Oracle is not supported for this operation") || errs.Code(err) != errs.Usage {
		t.Fatalf("MySQLDSN on Oracle: %v (code %d)", err, errs.Code(err))
	}
	if _, err := d.PostgresURL(); err == nil {
		t.Fatal("PostgresURL on Oracle accepted")
	}
}

func TestMySQLDSNAndPostgresURL(t *testing.T) {
	d, _ := ParseDB("mysql2://root:pw@127.0.0.1:3306/system")
	dsn, err := d.MySQLDSN()
	if err != nil || !strings.Contains(dsn, "root:pw@tcp(127.0.0.1:3306)/system") || !strings.Contains(dsn, "charset=utf8mb4") {
		t.Fatalf("dsn %q, %v", dsn, err)
	}
	p, _ := ParseDB("postgresql://zync:z%2Fpw@127.0.0.1:5433/zync_production")
	u, err := p.PostgresURL()
	if err != nil || !strings.HasPrefix(u, "postgres://zync:z%2Fpw@127.0.0.1:5433/zync_production?") {
		t.Fatalf("pg url %q, %v", u, err)
	}
}

func TestParseRedis(t *testing.T) {
	r, err := ParseRedis("redis://backend-redis:6379/1", "")
	if err != nil || r.Addr != "backend-redis:6379" || r.DB != 1 || r.TLS.On() {
		t.Fatalf("%+v %v", r, err)
	}
	r, err = ParseRedis("rediss://user:pw@redis.example.com/0", "")
	if err != nil || r.Addr != "redis.example.com:6379" || !r.TLS.On() || r.Username != "user" || r.Password != "pw" {
		t.Fatalf("%+v %v", r, err)
	}
	r, err = ParseRedis("redis://:mpw@mymaster/2", "redis://s1:26379, s2 ,redis://s3:26380")
	if err != nil || r.MasterName != "mymaster" || r.DB != 2 || r.Password != "mpw" ||
		strings.Join(r.SentinelAddrs, ",") != "s1:26379,s2:26379,s3:26380" || r.Addr != "" {
		t.Fatalf("%+v %v", r, err)
	}
	for _, bad := range []string{"backend-redis:6379", "http://x", "redis://h/x"} {
		if _, err := ParseRedis(bad, ""); err == nil {
			t.Errorf("ParseRedis(%q) accepted", bad)
		}
	}
}

func TestParseStorage(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AK")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "SKsecret")
	for in, want := range map[string]string{"dir:///srv/files": "dir:/srv/files", "/srv/x": "dir:/srv/x", "pod": "pod:" + PodStoragePath} {
		s, err := ParseStorage(in)
		if err != nil || s.Kind+":"+s.Path != want {
			t.Errorf("ParseStorage(%q) = %+v, %v", in, s, err)
		}
	}
	s, err := ParseStorage("s3://127.0.0.1:9000/bucket/pre/fix?insecure=1")
	if err != nil || s.Kind != "s3" || s.S3.Bucket != "bucket" || s.S3.Prefix != "pre/fix" || !s.S3.Insecure || s.S3.AccessKey != "AK" {
		t.Fatalf("%+v %v", s, err)
	}
	for _, bad := range []string{"dir://relative", "s3://host", "ftp://x", "relative/path"} {
		if _, err := ParseStorage(bad); err == nil {
			t.Errorf("ParseStorage(%q) accepted", bad)
		}
	}
}
