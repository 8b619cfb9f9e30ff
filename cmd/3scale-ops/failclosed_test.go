package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/errs"
)

// A key that is present but unusable never means "no encryption": init
// and backup exit 2 and create nothing.
func TestUnusableKeysFailClosed(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	empty := write("empty", "")
	blank := write("blank", "  \n\t\r\n")
	noIdentity := write("ids", "# created: 2026-11-23\n# public key: age1...\n\n")
	cases := []struct {
		name  string
		flags []string
		env   []string
		want  string
	}{
		{"empty password file", []string{"--password-file", empty}, nil, "empty"},
		{"whitespace password file", []string{"--password-file", blank}, nil, "empty"},
		{"missing password file", []string{"--password-file", filepath.Join(dir, "nope")}, nil, "password file"},
		{"password file is a directory", []string{"--password-file", dir}, nil, "password file"},
		{"blank password variable", nil, []string{"THREESCALE_OPS_PASSWORD", "   "}, "THREESCALE_OPS_PASSWORD"},
		{"set but empty password variable", nil, []string{"THREESCALE_OPS_PASSWORD", ""}, "THREESCALE_OPS_PASSWORD"},
		{"identity file without identity", []string{"--identity-file", noIdentity}, nil, "identity"},
	}
	for _, tc := range cases {
		for _, cmd := range [][]string{{"init"}, {"backup", "--components", "system-storage"}} {
			t.Run(tc.name+"/"+cmd[0], func(t *testing.T) {
				if tc.env != nil {
					t.Setenv(tc.env[0], tc.env[1])
				}
				repoDir := filepath.Join(t.TempDir(), "repo")
				args := append([]string{"--local", "-r", repoDir, "--system-storage", "dir://" + storageTree(t)}, tc.flags...)
				_, stderr, code := runCLI(t, append(args, cmd...)...)
				if code != errs.Usage || !strings.Contains(stderr, tc.want) {
					t.Fatalf("exit %d, want %d naming %q:\n%s", code, errs.Usage, tc.want, stderr)
				}
				if _, err := os.Stat(repoDir); !os.IsNotExist(err) {
					t.Fatalf("something was created at %s: %v", repoDir, err)
				}
			})
		}
	}
}
