package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// readOnlyCopy makes dir read-only for this process: a read-only bind
// mount when running as root (permissions do not stop root), the write
// bits removed otherwise. It returns the path to read it through.
func readOnlyCopy(t *testing.T, dir string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		if out, err := exec.Command("chmod", "-R", "a-w", dir).CombinedOutput(); err != nil {
			t.Fatalf("chmod: %v %s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("chmod", "-R", "u+w", dir).Run() })
		return dir
	}
	ro := t.TempDir()
	if err := syscall.Mount(dir, ro, "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("bind mount for a read-only repository: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(ro, 0) })
	if err := syscall.Mount("", ro, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount read-only: %v", err)
	}
	if err := os.WriteFile(filepath.Join(ro, "probe"), nil, 0o600); err == nil {
		t.Fatal("the read-only copy is writable")
	}
	return ro
}

// A restore from a read-only repository (write-once storage) works with
// --state-dir, and without it says which flag to use; listing, showing,
// verifying and exporting need no write at all.
func TestRestoreFromReadOnlyRepository(t *testing.T) {
	src := storageTree(t)
	repoDir := filepath.Join(t.TempDir(), "repo")
	base := []string{"--local", "--system-storage", "dir://" + src}
	out, stderr, code := runCLI(t, append(base, "-r", repoDir, "backup", "--components", "system-storage")...)
	if code != 0 {
		t.Fatalf("backup: %d %s", code, stderr)
	}
	id := strings.TrimSpace(out)
	ro := readOnlyCopy(t, repoDir)

	dst := filepath.Join(t.TempDir(), "dst")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	restoreArgs := []string{"--local", "--system-storage", "dir://" + dst, "-r", ro}
	_, stderr, code = runCLI(t, append(restoreArgs, "restore", id, "--yes")...)
	if code != errs.Usage || !strings.Contains(stderr, "--state-dir") || !strings.Contains(stderr, "read-only") {
		t.Fatalf("restore from a read-only repository without --state-dir: exit %d, want 2 naming --state-dir\n%s", code, stderr)
	}
	if ents, _ := os.ReadDir(dst); len(ents) != 0 {
		t.Fatalf("the refused restore wrote %d entries into the target", len(ents))
	}
	state := t.TempDir()
	_, stderr, code = runCLI(t, append(append(restoreArgs, "--state-dir", state), "restore", id, "--yes", "--no-verify")...)
	if code != 0 {
		t.Fatalf("restore from a read-only repository with --state-dir: exit %d\n%s", code, stderr)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "provider/attachments/a.pdf")); err != nil || string(b) != "%PDF-1.4 hello" {
		t.Fatalf("restored file: %q %v", b, err)
	}
	if m, _ := filepath.Glob(filepath.Join(state, "*", "restores", id+"-*.json")); len(m) != 1 {
		t.Fatalf("journal in the state dir: %v", m)
	}
	for _, args := range [][]string{{"backups", "list"}, {"backups", "show", id}, {"backups", "verify", "--read-data", id},
		{"backups", "export", id, "system-storage", "--file", filepath.Join(t.TempDir(), "x.tar")}} {
		if _, stderr, code := runCLI(t, append([]string{"--local", "-r", ro}, args...)...); code != 0 {
			t.Errorf("%s from a read-only repository: exit %d\n%s", strings.Join(args, " "), code, stderr)
		}
	}
}

// readOnlyS3 returns temporary credentials of the test MinIO limited by a
// session policy to reading.
func readOnlyS3(t *testing.T) credentials.Value {
	t.Helper()
	e := testenv.Get(t)
	pol := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket","s3:GetBucketLocation","s3:GetObjectRetention","s3:GetBucketObjectLockConfiguration"],"Resource":["arn:aws:s3:::*"]}]}`
	c, err := credentials.NewSTSAssumeRole("http://"+e.S3Endpoint, credentials.STSAssumeRoleOptions{AccessKey: e.S3AccessKey, SecretKey: e.S3SecretKey, Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.GetWithContext(nil)
	if err != nil {
		t.Fatalf("read-only credentials from MinIO's STS: %v", err)
	}
	return v
}

func useS3(t *testing.T, access, secret, token string) {
	t.Setenv("AWS_ACCESS_KEY_ID", access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_SESSION_TOKEN", token)
}

// The same from a bucket the restoring credentials can only read.
func TestRestoreFromReadOnlyS3(t *testing.T) {
	e := testenv.Get(t)
	_, bucket := testenv.S3(t)
	src := storageTree(t)
	loc := "s3://" + e.S3Endpoint + "/" + bucket + "/3scale"
	useS3(t, e.S3AccessKey, e.S3SecretKey, "")
	out, stderr, code := runCLI(t, "--local", "--s3-insecure", "-r", loc, "--system-storage", "dir://"+src, "backup", "--components", "system-storage")
	if code != 0 {
		t.Fatalf("backup: %d %s", code, stderr)
	}
	id := strings.TrimSpace(out)

	v := readOnlyS3(t)
	useS3(t, v.AccessKeyID, v.SecretAccessKey, v.SessionToken)
	dst := t.TempDir()
	args := []string{"--local", "--s3-insecure", "-r", loc, "--system-storage", "dir://" + dst}
	_, stderr, code = runCLI(t, append(args, "restore", id, "--yes", "--no-verify")...)
	if code != errs.Usage || !strings.Contains(stderr, "--state-dir") || !strings.Contains(stderr, "AccessDenied") {
		t.Fatalf("restore with read-only S3 credentials without --state-dir: exit %d, want 2 naming --state-dir\n%s", code, stderr)
	}
	_, stderr, code = runCLI(t, append(args, "--state-dir", t.TempDir(), "restore", id, "--yes", "--no-verify")...)
	if code != 0 {
		t.Fatalf("restore with read-only S3 credentials and --state-dir: exit %d\n%s", code, stderr)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "provider/attachments/a.pdf")); err != nil || string(b) != "%PDF-1.4 hello" {
		t.Fatalf("restored file: %q %v", b, err)
	}
}
