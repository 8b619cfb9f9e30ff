package config

import (
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/redact"
)

// The connection URLs come from flags, the environment and the
// namespace's secrets. The fuzz targets run the parsers without
// registering anything with redact (parseDB, parseRedis), so a run does
// not grow the global set of secrets; ParseDB and ParseRedis register.

// Seeds: the URL forms of 3scale's secrets (system-database,
// zync DATABASE_URL, backend-redis, system-redis with Sentinel).
var dbSeeds = []string{
	"mysql2://root:password@system-mysql/system",
	"mysql2://user:p%40ss%3Aword@system-mysql:3306/system?sslmode=verify-full",
	"postgresql://system:s3cret@system-postgresql:5432/system",
	"postgresql://zync:zyncpass@zync-database:5432/zync_production",
	"postgres://u@[::1]:5433/db",
	"oracle-enhanced://system:oraclepass@oracle:1521/threescale",
	"mysql://host/db", "mysql2://:@/", "sqlite:///x", "mysql2://h:99999/db", " mysql2://a:b@h/d ",
}

var redisSeeds = [][2]string{
	{"redis://backend-redis:6379/0", ""},
	{"redis://:redispass@system-redis:6379/1", ""},
	{"rediss://default:tlspass@backend-redis:6380/0", ""},
	{"redis://mymaster/0", "redis://:sentinelpass@sentinel-0:26379,sentinel-1:26379, rediss://sentinel-2"},
	{"redis://mymaster", "sentinel-0,[::1]:26379"},
	{"redis://h/-1", ""}, {"http://h", ""}, {"redis://", ""},
}

// passwordIn is the password of a URL's user information when it is long
// enough to tell apart from the rest of the text (else ""); a message
// shows it when it has ":PASSWORD@".
func passwordIn(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.User == nil {
		return ""
	}
	pw, _ := u.User.Password()
	rest := strings.Replace(raw, pw, "", 1)
	if len(pw) < 4 || strings.Contains(rest, pw) || strings.Contains(url.QueryEscape(pw), "%") {
		return ""
	}
	return pw
}

func FuzzParseDB(f *testing.F) {
	for _, s := range dbSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		d, err := parseDB(raw)
		pw := passwordIn(raw)
		if err != nil {
			if errs.Code(err) != errs.Usage || errs.Hint(err) == "" {
				t.Fatalf("parseDB(%q): error without exit 2 and a hint: %v", raw, err)
			}
			if pw != "" && strings.Contains(err.Error(), ":"+pw+"@") {
				t.Fatalf("parseDB(%q): the error shows the password: %v", raw, err)
			}
			return
		}
		if d.Port <= 0 || d.Port > 65535 || d.Database == "" || (d.Kind != "mysql" && d.Kind != "postgresql" && d.Kind != "oracle") {
			t.Fatalf("parseDB(%q) = %+v", raw, d)
		}
		if ru, err := url.Parse(strings.TrimSpace(d.Redacted())); err != nil {
			t.Fatalf("parseDB(%q): Redacted() %q does not parse: %v", raw, d.Redacted(), err)
		} else if p, ok := ru.User.Password(); ok && p != redact.Mask && (p == d.Password || d.Password == "") && len(p) >= 4 {
			t.Fatalf("parseDB(%q): Redacted() shows the password: %s", raw, d.Redacted())
		}
		// What was parsed, written as a URL again, parses to the same.
		u := url.URL{Scheme: map[string]string{"mysql": "mysql2", "postgresql": "postgresql", "oracle": "oracle-enhanced"}[d.Kind],
			Host: net.JoinHostPort(d.Host, strconv.Itoa(d.Port)), Path: "/" + d.Database}
		if d.User != "" || d.Password != "" {
			u.User = url.UserPassword(d.User, d.Password)
		}
		d2, err := parseDB(u.String())
		if err != nil {
			t.Fatalf("parseDB(%q) = %+v, whose URL %q does not parse: %v", raw, d, u.String(), err)
		}
		if d2.Kind != d.Kind || d2.Host != d.Host || d2.Port != d.Port || d2.User != d.User || d2.Password != d.Password || d2.Database != d.Database {
			t.Fatalf("parseDB(%q) = %+v; its URL %q parses to %+v", raw, d, u.String(), d2)
		}
	})
}

func FuzzParseRedis(f *testing.F) {
	for _, s := range redisSeeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, raw, sentinels string) {
		r, err := parseRedis(raw, sentinels)
		pws := []string{passwordIn(raw)}
		for _, h := range strings.Split(sentinels, ",") {
			pws = append(pws, passwordIn(strings.TrimSpace(h)))
		}
		shows := func(s string) string {
			for _, pw := range pws {
				if pw != "" && strings.Contains(s, ":"+pw+"@") {
					return pw
				}
			}
			return ""
		}
		if err != nil {
			if errs.Code(err) != errs.Usage || errs.Hint(err) == "" {
				t.Fatalf("parseRedis(%q, %q): error without exit 2 and a hint: %v", raw, sentinels, err)
			}
			if pw := shows(err.Error()); pw != "" {
				t.Fatalf("parseRedis(%q, %q): the error shows password %q: %v", raw, sentinels, pw, err)
			}
			return
		}
		if r.DB < 0 {
			t.Fatalf("parseRedis(%q): db %d", raw, r.DB)
		}
		if len(r.SentinelAddrs) == 0 {
			if _, _, err := net.SplitHostPort(r.Addr); err != nil && strings.TrimSpace(sentinels) == "" {
				t.Fatalf("parseRedis(%q): address %q: %v", raw, r.Addr, err)
			}
		} else if r.MasterName == "" && r.Addr != "" {
			t.Fatalf("parseRedis(%q, %q): sentinels without a master name: %+v", raw, sentinels, r)
		}
		for _, a := range r.SentinelAddrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				t.Fatalf("parseRedis(%q, %q): sentinel address %q: %v", raw, sentinels, a, err)
			}
		}
		if pw := shows(r.Redacted()); pw != "" {
			t.Fatalf("parseRedis(%q, %q): Redacted() shows password %q: %s", raw, sentinels, pw, r.Redacted())
		}
	})
}

func FuzzParseStorage(f *testing.F) {
	for _, s := range []string{"pod", "dir:///var/www/system-storage", "/srv/files", "s3://minio:9000/bucket/prefix?insecure=1",
		"s3://s3.eu-west-1.amazonaws.com/bucket", "s3://AKIAUSER:s3cretkey@host/bucket", "x://user@host", "dir://relative", "s3://host"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		st, err := ParseStorage(raw)
		if err != nil {
			// The user information, whatever it is, never shows.
			if scheme, rest, ok := strings.Cut(strings.TrimSpace(raw), "://"); ok {
				auth := rest
				if end := strings.IndexAny(rest, "/?#"); end >= 0 {
					auth = rest[:end]
				}
				if at := strings.LastIndex(auth, "@"); at >= 8 { // shorter ones may be words of the message
					info := auth[:at]
					if !strings.Contains(scheme+auth[at:]+rest[len(auth):], info) && strings.Contains(err.Error(), info) {
						t.Fatalf("ParseStorage(%q): the error shows the user information: %v", raw, err)
					}
				}
			}
			return
		}
		switch st.Kind {
		case "pod", "dir":
			if !strings.HasPrefix(st.Path, "/") {
				t.Fatalf("ParseStorage(%q): relative path %q", raw, st.Path)
			}
		case "s3":
			if st.S3.Endpoint == "" || st.S3.Bucket == "" || strings.Contains(st.S3.Endpoint, "@") {
				t.Fatalf("ParseStorage(%q) = %+v", raw, st.S3)
			}
		default:
			t.Fatalf("ParseStorage(%q): kind %q", raw, st.Kind)
		}
	})
}

// The seam: parseDB and parseRedis register nothing; ParseDB and
// ParseRedis register the passwords, so that every later message masks
// them.
func TestParseRegistersSecretsAndParseWithoutRegistrationDoesNot(t *testing.T) {
	const dbpw, rpw, spw = "seam-db-Pa55word", "seam-redis-Pa55word", "seam-sentinel-Pa55word"
	if _, err := parseDB("mysql2://root:" + dbpw + "@h/system"); err != nil {
		t.Fatal(err)
	}
	if _, err := parseRedis("redis://:"+rpw+"@mymaster/0", "redis://:"+spw+"@s0:26379"); err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{dbpw, rpw, spw} {
		if redact.String("x "+pw) != "x "+pw {
			t.Fatalf("parsing without registration registered %q", pw)
		}
	}
	if _, err := ParseDB("mysql2://root:" + dbpw + "@h/system"); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseRedis("redis://:"+rpw+"@mymaster/0", "redis://:"+spw+"@s0:26379"); err != nil {
		t.Fatal(err)
	}
	// Also a URL that does not parse registers what it can.
	if _, err := ParseDB("bogus://root:seam-bad-Pa55word@h/x"); err == nil {
		t.Fatal("bogus:// parsed")
	}
	for _, pw := range []string{dbpw, rpw, spw, "seam-bad-Pa55word"} {
		if got := redact.String("x " + pw); got != "x "+redact.Mask {
			t.Fatalf("ParseDB/ParseRedis did not register %q: %s", pw, got)
		}
	}
}
