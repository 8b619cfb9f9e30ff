package redact

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestStringMasksRegisteredAndURLPasswords(t *testing.T) {
	Add("s3cr3t-token-value", "p@ss:w/rd")
	cases := map[string]string{
		"token s3cr3t-token-value here":                  "token xxxxx here",
		"mysql2://root:hunter22@system-mysql/system":     "mysql2://root:xxxxx@system-mysql/system",
		"postgresql://zync:p%40ss%3Aw%2Frd@db:5432/zync": "postgresql://zync:xxxxx@db:5432/zync",
		"redis://:abcdefg@backend-redis:6379/0":          "redis://:xxxxx@backend-redis:6379/0",
		"no secret here":                                 "no secret here",
		"raw p@ss:w/rd appears":                          "raw xxxxx appears",
	}
	for in, want := range cases {
		if got := String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestShortValuesAreNotMasked(t *testing.T) {
	Add("yes", "1")
	if got := String("yes 1"); got != "yes 1" {
		t.Fatalf("short values masked: %q", got)
	}
}

func TestURL(t *testing.T) {
	got := URL("mysql2://root:topsecretpw@127.0.0.1:3306/system")
	if strings.Contains(got, "topsecretpw") || !strings.Contains(got, "root:xxxxx@127.0.0.1:3306/system") {
		t.Fatalf("URL = %q", got)
	}
}

func TestHandlerRedactsMessageAndAttrs(t *testing.T) {
	Add("handler-secret-1234")
	var buf bytes.Buffer
	log := slog.New(Handler(slog.NewJSONHandler(&buf, nil)))
	log.With("conn", "redis://:handler-secret-1234@h:1/0").Info("using handler-secret-1234",
		"err", errors.New("auth handler-secret-1234 failed"), slog.Group("g", "pw", "handler-secret-1234"))
	if strings.Contains(buf.String(), "handler-secret-1234") {
		t.Fatalf("secret leaked: %s", buf.String())
	}
	if !strings.Contains(buf.String(), Mask) {
		t.Fatalf("nothing masked: %s", buf.String())
	}
}

func TestAddURLRegistersQueryTokens(t *testing.T) {
	AddURL("https://master.example.com/master/api/proxy/configs.json?access_token=tok-77665544&environment=production")
	if got := String("GET failed: access_token=tok-77665544"); strings.Contains(got, "tok-77665544") {
		t.Fatalf("query token not masked: %q", got)
	}
	if got := String("environment=production"); got != "environment=production" {
		t.Fatalf("plain parameter masked: %q", got)
	}
}

// User information is masked up to the last "@" before the first "/",
// also when the password holds an unescaped "#" or "?".
func TestUserinfoMasksPasswordsWithHashOrQuestionMark(t *testing.T) {
	for _, in := range []string{"s3://AKIA:pa#ss1234@host/bucket", "s3://AKIA:pa?ss1234@host/bucket", "://:0#00@", "gs://u:se#cret99@h"} {
		out := Userinfo(in)
		for _, pw := range []string{"pa#ss1234", "pa?ss1234", "0#00", "se#cret99"} {
			if strings.Contains(in, pw) && strings.Contains(out, pw) {
				t.Errorf("Userinfo(%q) = %q shows %q", in, out, pw)
			}
		}
	}
	if got := Userinfo("s3://host:9000/bucket?x=a@b"); got != "s3://host:9000/bucket?x=a@b" {
		t.Errorf("a URL without user information changed: %q", got)
	}
}
