package main

import (
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/errs"
)

// --system-storage never takes credentials from its URL, and never shows
// the user information of one: not in the error, not in the logs (debug
// level), whether the URL parses or not.
func TestSystemStorageURLUserinfoIsNeverShown(t *testing.T) {
	repoDir := t.TempDir()
	for _, u := range []string{
		"s3://AKIAFUZZUSER:s3cretPassw0rd@minio.example:9000/bucket/prefix",
		"x://AKIAFUZZUSER@minio.example",
		"dir://AKIAFUZZUSER:s3cretPassw0rd@host/srv/files",
		"s3://AKIAFUZZUSER:s3cret%Passw0rd@minio.example/bucket",
		"://AKIAFUZZUSER:s3cretPassw0rd@",
	} {
		for _, cmd := range [][]string{
			{"backup", "--components", "system-storage"},
			{"config"},
			{"-o", "json", "config", "--check=false"},
		} {
			args := append([]string{"--local", "--log-level", "debug", "-r", repoDir, "--system-storage", u}, cmd...)
			out, stderr, code := runCLI(t, args...)
			all := out + stderr
			for _, secret := range []string{"AKIAFUZZUSER", "s3cretPassw0rd", "s3cret%Passw0rd"} {
				if strings.Contains(all, secret) {
					t.Errorf("%s with --system-storage %s shows %q (exit %d):\n%s", cmd[0], u, secret, code, all)
				}
			}
			if !strings.Contains(all, "user information in the URL is not used") {
				t.Errorf("%s with --system-storage %s does not say why it is refused:\n%s", cmd[0], u, all)
			}
			if code != errs.Usage {
				t.Errorf("%s with --system-storage %s: exit %d, want 2:\n%s", cmd[0], u, code, all)
			}
		}
	}
}
