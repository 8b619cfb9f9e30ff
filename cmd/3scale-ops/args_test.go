package main

import (
	"strings"
	"testing"
)

func TestInterspersedFlags(t *testing.T) {
	app := newApp(nil, nil, nil)
	cases := map[string]string{
		"x -n ns restore latest --yes --components a,b": "x -n ns restore --yes --components a,b latest",
		"x restore latest": "x restore latest",
		"x backups export latest system-mysql --file out.sql": "x backups export --file out.sql latest system-mysql",
		"x scale apicast-production=2 --wait --timeout 1m":    "x scale --wait --timeout 1m apicast-production=2",
		"x -o json backups verify --all":                      "x -o json backups verify --all",
		"x purge alerts --older-than 14d":                     "x purge alerts --older-than 14d",
		"x restore -- latest --yes":                           "x restore -- latest --yes",
	}
	for in, want := range cases {
		got, err := interspersed(app, strings.Fields(in))
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if got := strings.Join(got, " "); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{{"foo"}, {"backups", "lst"}, {"backups", "export"}, {"gateway", "serve"}, {"restore"}, {"backup", "--bogus"}} {
		_, stderr, code := runCLI(t, args...)
		if code != 2 || strings.Contains(stderr, "panic") || !strings.HasPrefix(stderr, "3scale-ops: ") {
			t.Errorf("%v: exit %d\n%s", args, code, stderr)
		}
	}
}
