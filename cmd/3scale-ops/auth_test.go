package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/repo"
	"github.com/klauspost/compress/zstd"
)

// authRepo creates a passphrase repository with a writer key and returns
// the owner's flags, the backup job's flags and the passphrase file.
func authRepo(t *testing.T, src string) (repoDir string, owner, job []string) {
	t.Helper()
	dir := t.TempDir()
	repoDir = filepath.Join(dir, "repo")
	pw := filepath.Join(dir, "pw")
	wk := filepath.Join(dir, "writer.key")
	_ = os.WriteFile(pw, []byte("correct horse battery staple\n"), 0o600)
	common := []string{"--local", "-r", repoDir, "--system-storage", "dir://" + src}
	owner = append(append([]string{}, common...), "--password-file", pw)
	job = append(append([]string{}, common...), "--writer-key-file", wk)
	out, stderr, code := runCLI(t, append(owner, "init", "--writer-key-out", wk)...)
	if code != 0 || !strings.Contains(out, "authenticated") {
		t.Fatalf("init: %d %s %s", code, out, stderr)
	}
	if st, err := os.Stat(wk); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("writer key file: %v", err)
	}
	return repoDir, owner, job
}

func TestBackupJobRefusesSwappedRecipients(t *testing.T) {
	repoDir, owner, job := authRepo(t, storageTree(t))
	if _, stderr, code := runCLI(t, append(job, "backup", "--components", "system-storage")...); code != 0 {
		t.Fatalf("backup with the writer key: %d %s", code, stderr)
	}
	out, stderr, code := runCLI(t, append(owner, "backups", "list")...)
	if code != 0 || strings.Contains(out, "DAMAGED") || strings.Contains(stderr, "AUTHENTICATED") {
		t.Fatalf("owner list of the job's snapshot: %d %s %s", code, out, stderr)
	}
	before, _ := os.ReadDir(filepath.Join(repoDir, "snapshots"))

	cfgPath := filepath.Join(repoDir, "config.json")
	var cfg map[string]any
	b, _ := os.ReadFile(cfgPath)
	_ = json.Unmarshal(b, &cfg)
	attacker, _ := age.GenerateX25519Identity()
	cfg["encryption"].(map[string]any)["recipients"] = []string{attacker.Recipient().String()}
	b, _ = json.MarshalIndent(cfg, "", "  ")
	_ = os.WriteFile(cfgPath, b, 0o600)

	for who, flags := range map[string][]string{"job": job, "owner": owner} {
		_, stderr, code := runCLI(t, append(flags, "backup", "--components", "system-storage")...)
		if code != errs.Usage || !strings.Contains(stderr, "config.json") {
			t.Fatalf("%s: backup into a config with swapped recipients: exit %d\n%s", who, code, stderr)
		}
	}
	after, _ := os.ReadDir(filepath.Join(repoDir, "snapshots"))
	if len(after) != len(before) {
		t.Fatalf("something was written: %d snapshot directories, had %d", len(after), len(before))
	}
	// Without any key the job cannot write at all (it could not tell).
	plain := []string{"--local", "-r", repoDir, "--system-storage", job[4]}
	if _, stderr, code := runCLI(t, append(plain, "backup", "--components", "system-storage")...); code != errs.Usage || !strings.Contains(stderr, "writer-key-file") {
		t.Fatalf("backup without key: %d %s", code, stderr)
	}
}

func TestUnencryptedRepositorySaysItIsUnauthenticated(t *testing.T) {
	base := []string{"--local", "-r", t.TempDir() + "/repo", "--system-storage", "dir://" + storageTree(t)}
	for _, args := range [][]string{{"init"}, {"backup", "--components", "system-storage"}, {"backups", "list"}} {
		_, stderr, code := runCLI(t, append(base, args...)...)
		if code != 0 || !strings.Contains(stderr, "NOT AUTHENTICATED") {
			t.Fatalf("%v: %d %s", args, code, stderr)
		}
	}
}

// forgeStorage replaces the system-storage archive of snapshot id with
// files, re-encrypted to the repository's public recipients, and updates
// sizes and hashes in the manifest: all an attacker with write access and
// no secret can do (the manifest's content is taken with the owner's key
// here only to build the most plausible forgery).
func forgeStorage(t *testing.T, repoDir, pw, id string, files map[string]string) {
	t.Helper()
	be, _ := repo.NewLocal(repoDir)
	r, err := repo.Open(context.Background(), be, repo.Options{Keys: repo.Keys{Passphrase: pw}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := r.LoadManifest(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var plain bytes.Buffer
	tw := tar.NewWriter(&plain)
	for name, body := range files {
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		_, _ = tw.Write([]byte(body))
	}
	_ = tw.Close()
	var rcpts []age.Recipient
	for _, s := range r.Config().Encryption.Recipients {
		rc, _ := age.ParseX25519Recipient(s)
		rcpts = append(rcpts, rc)
	}
	seal := func(b []byte) []byte {
		var out bytes.Buffer
		w, _ := age.Encrypt(&out, rcpts...)
		_, _ = w.Write(b)
		_ = w.Close()
		return out.Bytes()
	}
	enc, _ := zstd.NewWriter(nil)
	stored := seal(enc.EncodeAll(plain.Bytes(), nil))
	comp := m.Component("system-storage")
	f := &comp.Files[0]
	rawSum, sum := sha256.Sum256(plain.Bytes()), sha256.Sum256(stored)
	f.RawSize, f.RawSHA256, f.Size, f.SHA256 = int64(plain.Len()), hex.EncodeToString(rawSum[:]), int64(len(stored)), hex.EncodeToString(sum[:])
	dir := filepath.Join(repoDir, "snapshots", id)
	if err := os.WriteFile(filepath.Join(dir, f.Path), stored, 0o600); err != nil {
		t.Fatal(err)
	}
	body, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "manifest.json.age"), seal(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestForgedArtifactIsRefusedBeforeTheTargetIsTouched(t *testing.T) {
	src := storageTree(t)
	repoDir, owner, _ := authRepo(t, src)
	out, stderr, code := runCLI(t, append(owner, "-o", "json", "backup", "--components", "system-storage")...)
	if code != 0 {
		t.Fatalf("backup: %d %s", code, stderr)
	}
	var s snapshotSummary
	_ = json.Unmarshal([]byte(out), &s)
	forgeStorage(t, repoDir, "correct horse battery staple", s.ID, map[string]string{"evil.sh": "#!/bin/sh\nrm -rf /\n"})

	target := t.TempDir()
	_ = os.WriteFile(filepath.Join(target, "keep"), []byte("mine"), 0o600)
	flags := append(append([]string{}, owner...), "--system-storage", "dir://"+target)
	_, stderr, code = runCLI(t, append(flags, "restore", s.ID, "--components", "system-storage", "--yes", "--drop-existing")...)
	if code == 0 || !strings.Contains(stderr, "authentic") {
		t.Fatalf("restore of a forged snapshot: exit %d\n%s", code, stderr)
	}
	entries, _ := os.ReadDir(target)
	if len(entries) != 1 || entries[0].Name() != "keep" {
		t.Fatalf("the target was touched: %v", entries)
	}
	if _, stderr, code := runCLI(t, append(owner, "backups", "export", s.ID, "system-storage", "--file", filepath.Join(t.TempDir(), "x.tar"))...); code == 0 {
		t.Fatalf("export of a forged snapshot succeeded: %s", stderr)
	}
	out, _, code = runCLI(t, append(owner, "backups", "list")...)
	if code != 0 || !strings.Contains(out, "DAMAGED") || !strings.Contains(out, "authentic") {
		t.Fatalf("list does not show the forged snapshot as damaged: %d\n%s", code, out)
	}
}
