package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/repo"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
)

// storageTree writes a small system-storage tree and returns its root.
func storageTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"provider/logos/1/original/logo.png": strings.Repeat("\x89PNG", 5000),
		"provider/attachments/a.pdf":         "%PDF-1.4 hello",
		"empty-file":                         "",
	}
	for name, body := range files {
		p := filepath.Join(root, name)
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	_ = os.MkdirAll(filepath.Join(root, "empty-dir"), 0o750)
	return root
}

// tarFiles reads a tar stream into name → content (directories as "<dir>").
func tarFiles(t *testing.T, r io.Reader) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
		if h.Typeflag == tar.TypeDir {
			out[name] = "<dir>"
			continue
		}
		b, _ := io.ReadAll(tr)
		out[name] = string(b)
	}
}

func TestBackupCLI(t *testing.T) {
	src := storageTree(t)
	repoDir := t.TempDir() + "/repo"
	base := []string{"--local", "-r", repoDir, "--system-storage", "dir://" + src}

	out, stderr, code := runCLI(t, append(base, "init")...)
	if code != 0 || !strings.Contains(out, "created repository") {
		t.Fatalf("init: %d %s %s", code, out, stderr)
	}
	if _, stderr, code := runCLI(t, append(base, "init")...); code != errs.Usage || !strings.Contains(stderr, "already exists") {
		t.Fatalf("second init: %d %s", code, stderr)
	}

	out, stderr, code = runCLI(t, append(base, "-o", "json", "backup", "--components", "system-storage", "--tag", "reason=test")...)
	if code != 0 {
		t.Fatalf("backup: %d\n%s", code, stderr)
	}
	var sum snapshotSummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("backup -o json: %v\n%s", err, out)
	}
	if !repo.ValidSnapshotID(sum.ID) || len(sum.Components) != 1 || sum.Components[0].Name != "system-storage" ||
		sum.Tags["reason"] != "test" || sum.Size == 0 {
		t.Fatalf("summary %+v", sum)
	}

	out, _, code = runCLI(t, append(base, "backup", "--components", "system-storage")...)
	second := strings.TrimSpace(out)
	if code != 0 || !repo.ValidSnapshotID(second) {
		t.Fatalf("text backup prints the id: %d %q", code, out)
	}

	out, _, code = runCLI(t, append(base, "-o", "json", "backups", "list")...)
	var list []snapshotSummary
	if err := json.Unmarshal([]byte(out), &list); err != nil || code != 0 || len(list) != 2 || list[0].ID != sum.ID || list[1].ID != second {
		t.Fatalf("list: %d %v %s", code, err, out)
	}
	out, _, _ = runCLI(t, append(base, "backups", "list")...)
	if !strings.Contains(out, "ENCRYPTED") || !strings.Contains(out, sum.ID) || !strings.Contains(out, "reason=test") {
		t.Fatalf("list table:\n%s", out)
	}
	out, _, code = runCLI(t, append(base, "backups", "show", "latest")...)
	if code != 0 || !strings.Contains(out, second) || !strings.Contains(out, "system-storage/files.tar.zst") {
		t.Fatalf("show:\n%s", out)
	}
	out, _, code = runCLI(t, append(base, "-o", "json", "backups", "show", sum.ID, "system-storage")...)
	var comp repo.Component
	if err := json.Unmarshal([]byte(out), &comp); err != nil || code != 0 || len(comp.Files) != 1 {
		t.Fatalf("show component: %v %s", err, out)
	}

	out, stderr, code = runCLI(t, append(base, "backups", "verify", "--all", "--read-data")...)
	if code != 0 || strings.Count(out, "ok ") != 2 {
		t.Fatalf("verify: %d\n%s\n%s", code, out, stderr)
	}

	// Export the storage tar: identical, byte for byte, to the source tree.
	exported := filepath.Join(t.TempDir(), "files.tar")
	if _, stderr, code := runCLI(t, append(base, "backups", "export", sum.ID, "system-storage", "--file", exported)...); code != 0 {
		t.Fatalf("export: %d %s", code, stderr)
	}
	f, _ := os.Open(exported)
	got := tarFiles(t, f)
	f.Close()
	for _, name := range []string{"provider/logos/1/original/logo.png", "provider/attachments/a.pdf", "empty-file"} {
		want, _ := os.ReadFile(filepath.Join(src, name))
		if got[name] != string(want) {
			t.Errorf("%s differs after export (%d bytes, want %d)", name, len(got[name]), len(want))
		}
	}
	if got["empty-dir"] != "<dir>" {
		t.Errorf("empty directory lost: %v", got)
	}
	stdoutTar, _, code := runCLI(t, append(base, "backups", "export", "latest", "system-storage")...)
	if code != 0 || len(tarFiles(t, strings.NewReader(stdoutTar))) != len(got) {
		t.Fatalf("export to stdout: %d", code)
	}

	// Damage: a flipped byte is found by --read-data (exit 3), naming the file.
	obj := filepath.Join(repoDir, "snapshots", sum.ID, "system-storage", "files.tar.zst")
	data, _ := os.ReadFile(obj)
	data[len(data)/2] ^= 0x20
	_ = os.WriteFile(obj, data, 0o600)
	if _, _, code := runCLI(t, append(base, "backups", "verify", sum.ID)...); code != 0 {
		t.Fatalf("verify without --read-data sees only sizes: exit %d", code)
	}
	out, stderr, code = runCLI(t, append(base, "backups", "verify", "--read-data", sum.ID)...)
	if code != errs.Mismatch || !strings.Contains(stderr, "files.tar.zst") || !strings.Contains(stderr, "expected") {
		t.Fatalf("verify flipped byte: exit %d\n%s\n%s", code, out, stderr)
	}
	// A truncated file: found even without --read-data.
	_ = os.WriteFile(obj, data[:len(data)-10], 0o600)
	out, stderr, code = runCLI(t, append(base, "-o", "json", "backups", "verify", sum.ID)...)
	if code != errs.Mismatch || !strings.Contains(out, "stored size") {
		t.Fatalf("verify truncated: exit %d\n%s\n%s", code, out, stderr)
	}
	if _, _, code := runCLI(t, append(base, "backups", "export", sum.ID, "system-storage", "--file", exported+"2")...); code == 0 {
		t.Fatal("export of a damaged snapshot succeeded")
	}
	if _, err := os.Stat(exported + "2"); err == nil {
		t.Fatal("a failed export left a file that looks complete")
	}

	// Prune: dry run, then for real.
	out, _, code = runCLI(t, append(base, "backups", "prune", "--keep-last", "1", "--dry-run")...)
	if code != 0 || !strings.Contains(out, "would remove") || !strings.Contains(out, "last 1") {
		t.Fatalf("prune dry run:\n%s", out)
	}
	out, _, code = runCLI(t, append(base, "-o", "json", "backups", "prune", "--keep-last", "1")...)
	var pr repo.PruneResult
	if err := json.Unmarshal([]byte(out), &pr); err != nil || code != 0 || len(pr.Removed) != 1 || pr.Removed[0] != sum.ID {
		t.Fatalf("prune: %v %s", err, out)
	}
	if _, stderr, code := runCLI(t, append(base, "backups", "prune")...); code != errs.Usage || !strings.Contains(stderr, "--keep-") {
		t.Fatalf("prune without policy: %d %s", code, stderr)
	}
}

func TestBackupCLIErrors(t *testing.T) {
	src := storageTree(t)
	repoDir := t.TempDir()
	base := []string{"--local", "-r", repoDir, "--system-storage", "dir://" + src}

	_, stderr, code := runCLI(t, append(base, "backup", "--components", "system-storage,nope")...)
	if code != errs.Usage || !strings.Contains(stderr, `"nope"`) || !strings.Contains(stderr, "system-mysql") {
		t.Fatalf("unknown component: %d %s", code, stderr)
	}
	// Another run holds the lock: exit 4 with the holder.
	if _, _, code := runCLI(t, append(base, "init")...); code != 0 {
		t.Fatal("init failed")
	}
	be, _ := repo.NewLocal(repoDir)
	r, err := repo.Open(context.Background(), be, repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	lock, err := r.Lock(context.Background(), "backup", false)
	if err != nil {
		t.Fatal(err)
	}
	_, stderr, code = runCLI(t, append(base, "backup", "--components", "system-storage", "--unlock-stale")...)
	if code != errs.Locked || !strings.Contains(stderr, "locked by backup on host") {
		t.Fatalf("locked: %d %s", code, stderr)
	}
	_ = lock.Release(context.Background())
	// A source that fails: exit 1 naming the component, nothing committed.
	_, stderr, code = runCLI(t, "--local", "-r", repoDir, "--system-storage", "dir://"+filepath.Join(src, "missing"), "backup", "--components", "system-storage")
	if code != errs.Failure && code != errs.Usage || !strings.Contains(stderr, "system-storage") {
		t.Fatalf("failing source: %d %s", code, stderr)
	}
	if snaps, _ := r.Snapshots(context.Background()); len(snaps) != 0 {
		t.Fatalf("snapshot left: %+v", snaps)
	}
}

func TestBackupCLIEncrypted(t *testing.T) {
	src := storageTree(t)
	repoDir := t.TempDir()
	pw := filepath.Join(t.TempDir(), "pw")
	_ = os.WriteFile(pw, []byte("s3cret passphrase\n"), 0o600)
	wk := filepath.Join(t.TempDir(), "writer.key")
	base := []string{"--local", "-r", repoDir, "--system-storage", "dir://" + src}
	if _, stderr, code := runCLI(t, append(base, "--password-file", pw, "init", "--writer-key-out", wk)...); code != 0 {
		t.Fatal(stderr)
	}
	// Backups need no reading secret: the writer key.
	out, stderr, code := runCLI(t, append(base, "--writer-key-file", wk, "backup", "--components", "system-storage")...)
	if code != 0 {
		t.Fatalf("backup without key: %s", stderr)
	}
	id := strings.TrimSpace(out)
	_, stderr, code = runCLI(t, append(base, "backups", "show", id)...)
	if code != errs.Usage || !strings.Contains(stderr, "encrypted") || !strings.Contains(stderr, "--password-file") {
		t.Fatalf("show without key: %d %s", code, stderr)
	}
	out, stderr, code = runCLI(t, append(base, "--password-file", pw, "backups", "verify", "--read-data", id)...)
	if code != 0 || !strings.Contains(out, "ok ") {
		t.Fatalf("verify with key: %d %s %s", code, out, stderr)
	}
	if strings.Contains(stderr+out, "s3cret") {
		t.Fatal("passphrase printed")
	}
	files, _ := filepath.Glob(filepath.Join(repoDir, "snapshots", id, "*", "*.age"))
	if len(files) != 1 {
		t.Fatalf("encrypted files: %v", files)
	}
	if m, _ := filepath.Glob(filepath.Join(repoDir, "snapshots", id, "manifest.json")); len(m) != 0 {
		t.Fatal("plain manifest in an encrypted repository")
	}
}

// A real Redis engine through the CLI, on S3: the exported dump.rdb is
// what the server holds.
func TestBackupCLIRedisS3(t *testing.T) {
	e := testenv.Get(t)
	_, bucket := testenv.S3(t)
	rs := testenv.StartRedis(t, testenv.RedisOptions{})
	t.Setenv("AWS_ACCESS_KEY_ID", e.S3AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", e.S3SecretKey)
	base := []string{"--local", "--s3-insecure", "-r", "s3://" + e.S3Endpoint + "/" + bucket + "/prod", "--system-redis-url", rs.URL}
	out, stderr, code := runCLI(t, append(base, "-o", "json", "backup", "--progress", "--components", "system-redis")...)
	if code != 0 {
		t.Fatalf("backup: %s", stderr)
	}
	var sum snapshotSummary
	_ = json.Unmarshal([]byte(out), &sum)
	if len(sum.Components) != 1 || sum.Components[0].Files == 0 {
		t.Fatalf("summary: %s", out)
	}
	if !strings.Contains(stderr, "system-redis     done") {
		t.Errorf("--progress showed nothing:\n%s", stderr)
	}
	rdb, stderr, code := runCLI(t, append(base, "backups", "export", "latest", "system-redis")...)
	if code != 0 || !bytes.HasPrefix([]byte(rdb), []byte("REDIS")) {
		t.Fatalf("export: %d %s %q", code, stderr, rdb[:min(len(rdb), 20)])
	}
}

func TestProgressLine(t *testing.T) {
	tr := &progress.Tracker{}
	task := tr.Start("system-mysql")
	task.SetTotal(4<<30, 0)
	task.AddBytes(1 << 30)
	task.AddItems(12)
	task.SetPhase("data")
	time.Sleep(20 * time.Millisecond)
	line := progressLine(tr.Stats()[0])
	for _, want := range []string{"system-mysql", "data", "1.0 GiB / 4.0 GiB", "/s", "ETA ", "12 items"} {
		if !strings.Contains(line, want) {
			t.Errorf("progress line %q lacks %q", line, want)
		}
	}
	task.Done()
	if line := progressLine(tr.Stats()[0]); strings.Contains(line, "ETA") {
		t.Errorf("finished task shows an ETA: %q", line)
	}
}
