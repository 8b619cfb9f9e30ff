package storage_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/storage"
)

func dirEngine(path string, opts storage.Options) *storage.Engine {
	return storage.New(config.Storage{Kind: "dir", Path: path}, nil, "", opts)
}

func backup(t *testing.T, e *storage.Engine) (*artifact.Memory, storage.Meta) {
	t.Helper()
	mem := artifact.NewMemory()
	task := progress.NewTask("system-storage")
	if err := e.Backup(context.Background(), mem, task); err != nil {
		t.Fatalf("backup: %v", err)
	}
	var meta storage.Meta
	if err := mem.Get(storage.MetaKey, &meta); err != nil {
		t.Fatal(err)
	}
	if fi := mem.Files(); len(fi) != 1 || fi[0].Name != "files.tar" || fi[0].Format != "tar" || fi[0].Count != meta.Files {
		t.Fatalf("files = %+v", fi)
	}
	if s := task.Stats(); s.Bytes < meta.Bytes || !s.Done {
		t.Fatalf("progress = %+v, meta %+v", s, meta)
	}
	return mem, meta
}

func TestDirRoundTrip(t *testing.T) {
	src := makeTree(t)
	mem, meta := backup(t, dirEngine(src, storage.Options{}))
	if meta.Files != 6 || meta.Symlinks != 2 || meta.Dirs != 6 || meta.Kind != "dir" || meta.Bytes != 30000+16+18+8+7 {
		t.Fatalf("meta = %+v", meta)
	}

	dst := filepath.Join(t.TempDir(), "restored")
	e := dirEngine(dst, storage.Options{})
	ctx := context.Background()
	if err := e.Preflight(ctx, mem); err != nil {
		t.Fatalf("preflight: %v", err)
	}
	task := progress.NewTask("restore")
	if _, err := e.Restore(ctx, mem, task); err != nil {
		t.Fatalf("restore: %v", err)
	}
	sameTree(t, src, dst)
	if s := task.Stats(); s.Items != meta.Files+meta.Dirs+meta.Symlinks || s.Bytes != meta.Bytes {
		t.Fatalf("restore progress = %+v", s)
	}

	// The artifact is a standard tar: GNU tar extracts the same tree.
	var out bytes.Buffer
	if err := storage.Export(ctx, mem, &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), mem.Bytes("files.tar")) {
		t.Fatal("export differs from the stored tar")
	}
	gnu := t.TempDir()
	cmd := exec.Command("tar", "-xf", "-", "-C", gnu)
	cmd.Stdin = &out
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar -x: %v: %s", err, b)
	}
	sameTree(t, src, gnu)

	// Restoring again refuses a non-empty target unless told to overwrite.
	err := e.Preflight(ctx, mem)
	if err == nil || errs.Code(err) != errs.Usage || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("preflight on non-empty target: %v", err)
	}
	// --drop-existing empties the directory: files, directories and links
	// the snapshot does not have (strays) are gone afterwards, not kept
	// beside the restored tree; the directory itself (a mount point) stays.
	for name, body := range map[string]string{"stray.txt": "left over", "stray-dir/deep/x": "old", "provider/stray.pdf": "old"} {
		p := filepath.Join(dst, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc", filepath.Join(dst, "stray-link")); err != nil {
		t.Fatal(err)
	}
	dstInfo, _ := os.Stat(dst)
	e = dirEngine(dst, storage.Options{Overwrite: true})
	if err := e.Preflight(ctx, mem); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Restore(ctx, mem, nil); err != nil {
		t.Fatalf("restore over existing files: %v", err)
	}
	sameTree(t, src, dst)
	if after, err := os.Stat(dst); err != nil || !os.SameFile(dstInfo, after) {
		t.Fatalf("the target directory itself was replaced: %v", err)
	}
}

func TestGNUTarArchiveExtracts(t *testing.T) {
	// An archive made by GNU tar (as the pod makes it: "./" names) extracts
	// identically through Extract.
	src := makeTree(t)
	out, err := exec.Command("tar", "-C", src, "-cf", "-", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	st, err := storage.Scan(context.Background(), bytes.NewReader(out))
	if err != nil || st.Files != 6 || st.Symlinks != 2 {
		t.Fatalf("scan: %+v %v", st, err)
	}
	dst := t.TempDir()
	if _, err := storage.Extract(context.Background(), bytes.NewReader(out), dst, nil); err != nil {
		t.Fatal(err)
	}
	sameTreeUnit(t, src, dst, time.Second)
}

func artifactWith(t *testing.T, tarData []byte, files int64) *artifact.Memory {
	t.Helper()
	mem := artifact.NewMemory()
	f, _ := mem.Create(context.Background(), "files.tar", "tar")
	_, _ = f.Write(tarData)
	_ = f.Close()
	_ = mem.Set(storage.MetaKey, storage.Meta{Kind: "dir", Files: files})
	return mem
}

func TestMaliciousArchivesRefused(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		entries []entry
	}{
		{"dotdot", []entry{{name: "ok.txt", typ: tar.TypeReg, data: "x"}, {name: "../evil.txt", typ: tar.TypeReg, data: "pwned"}}},
		{"dotdot-inside", []entry{{name: "a/../../evil.txt", typ: tar.TypeReg, data: "pwned"}}},
		{"absolute", []entry{{name: "/tmp/evil.txt", typ: tar.TypeReg, data: "pwned"}}},
		{"symlink-absolute", []entry{{name: "etc", link: "/etc", typ: tar.TypeSymlink}}},
		{"symlink-escaping", []entry{{name: "a/up", link: "../../..", typ: tar.TypeSymlink}}},
		{"hardlink-escaping", []entry{{name: "h", link: "../evil.txt", typ: tar.TypeLink}}},
		{"device", []entry{{name: "dev", typ: tar.TypeChar}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := makeTar(t, tc.entries...)
			parent := t.TempDir()
			dst := filepath.Join(parent, "target")
			mem := artifactWith(t, data, 1)
			e := dirEngine(dst, storage.Options{})
			err := e.Preflight(ctx, mem)
			if err == nil || errs.Code(err) != errs.Usage || !strings.Contains(err.Error(), "refusing the archive") {
				t.Fatalf("preflight: %v", err)
			}
			_, err = storage.Extract(ctx, bytes.NewReader(data), dst, nil)
			if err == nil || !strings.Contains(err.Error(), "refusing the archive") {
				t.Fatalf("extract: %v", err)
			}
			if _, err := os.Stat(filepath.Join(parent, "evil.txt")); err == nil {
				t.Fatal("a file was written outside the target")
			}
		})
	}
}

func TestSymlinkChainRefused(t *testing.T) {
	// Each link looks local on its own, but the second is created inside
	// the first (which points at the root) and would climb out of it.
	parent := t.TempDir()
	dst := filepath.Join(parent, "target")
	data := makeTar(t,
		entry{name: "d/e/", typ: tar.TypeDir},
		entry{name: "d/e/up", link: "../..", typ: tar.TypeSymlink},
		entry{name: "d/e/up/l", link: "../outside", typ: tar.TypeSymlink},
	)
	_, err := storage.Extract(context.Background(), bytes.NewReader(data), dst, nil)
	if err == nil || !strings.Contains(err.Error(), "itself a symlink") {
		t.Fatalf("extract: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dst, "l")); err == nil {
		t.Fatal("the chained symlink was created")
	}
}

func TestCorruptArtifact(t *testing.T) {
	src := makeTree(t)
	mem, meta := backup(t, dirEngine(src, storage.Options{}))
	full := mem.Bytes("files.tar")
	ctx := context.Background()

	truncated := artifactWith(t, full[:len(full)/2], meta.Files)
	err := dirEngine(t.TempDir(), storage.Options{}).Preflight(ctx, truncated)
	if err == nil || errs.Code(err) != errs.Mismatch || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("preflight on truncated tar: %v", err)
	}
	dst := t.TempDir()
	if _, err := dirEngine(dst, storage.Options{}).Restore(ctx, truncated, nil); err == nil || errs.Code(err) != errs.Mismatch {
		t.Fatalf("restore of truncated tar: %v", err)
	}

	// A damaged header (its checksum no longer matches): exit 3 too, as
	// damaged content is in every engine.
	badHeader := append([]byte(nil), full...)
	badHeader[100] ^= 0x01 // the mode field of the first header
	err = dirEngine(t.TempDir(), storage.Options{}).Preflight(ctx, artifactWith(t, badHeader, meta.Files))
	if err == nil || errs.Code(err) != errs.Mismatch || !errors.Is(err, artifact.ErrCorrupt) {
		t.Fatalf("preflight on a tar with a damaged header: %v", err)
	}

	wrongCount := artifactWith(t, full, meta.Files+1)
	err = dirEngine(t.TempDir(), storage.Options{}).Preflight(ctx, wrongCount)
	if err == nil || errs.Code(err) != errs.Mismatch {
		t.Fatalf("preflight with wrong count: %v", err)
	}

	noMeta := artifact.NewMemory()
	if err := dirEngine(t.TempDir(), storage.Options{}).Preflight(ctx, noMeta); err == nil || errs.Code(err) != errs.Mismatch {
		t.Fatalf("preflight without metadata: %v", err)
	}
}

func TestBackupMissingDir(t *testing.T) {
	e := dirEngine(filepath.Join(t.TempDir(), "nope"), storage.Options{})
	err := e.Backup(context.Background(), artifact.NewMemory(), nil)
	if err == nil || errs.Code(err) != errs.Usage || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("err = %v", err)
	}
}

// Links that are local one by one but leave the root once resolved the
// way extraction resolves them are refused by the preflight scan, before
// anything is written, and by Extract itself.
func TestSymlinkResolutionRefusedInPreflight(t *testing.T) {
	ctx := context.Background()
	first := entry{name: "first.txt", typ: tar.TypeReg, data: "x"}
	for _, tc := range []struct {
		name    string
		entries []entry
	}{
		{"up through a link to the root", []entry{first, {name: "d", link: ".", typ: tar.TypeSymlink}, {name: "up", link: "d/..", typ: tar.TypeSymlink}}},
		{"sibling through a link to the root", []entry{first, {name: "d", link: ".", typ: tar.TypeSymlink}, {name: "sib", link: "d/../other", typ: tar.TypeSymlink}}},
		{"link to a link that climbs", []entry{first, {name: "a/", typ: tar.TypeDir}, {name: "a/b", link: "..", typ: tar.TypeSymlink}, {name: "c", link: "a/b/..", typ: tar.TypeSymlink}}},
		{"entry inside a link", []entry{first, {name: "x", link: ".", typ: tar.TypeSymlink}, {name: "x/y", link: "..", typ: tar.TypeSymlink}}},
		{"file inside a link", []entry{first, {name: "x", link: ".", typ: tar.TypeSymlink}, {name: "x/f", typ: tar.TypeReg, data: "y"}}},
		{"link loop", []entry{first, {name: "l1", link: "l2", typ: tar.TypeSymlink}, {name: "l2", link: "l1", typ: tar.TypeSymlink}, {name: "l3", link: "l1/x", typ: tar.TypeSymlink}}},
		{"hard link through a link", []entry{first, {name: "x", link: ".", typ: tar.TypeSymlink}, {name: "h", link: "x/first.txt", typ: tar.TypeLink}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := makeTar(t, tc.entries...)
			dst := filepath.Join(t.TempDir(), "target")
			if _, err := storage.Scan(ctx, bytes.NewReader(data)); err == nil || errs.Code(err) != errs.Usage || !strings.Contains(err.Error(), "refusing the archive") {
				t.Fatalf("scan: %v", err)
			}
			if err := dirEngine(dst, storage.Options{}).Preflight(ctx, artifactWith(t, data, 1)); err == nil {
				t.Fatal("preflight accepted the archive")
			}
			if _, err := os.Stat(dst); err == nil {
				t.Fatal("preflight created the target")
			}
			if _, err := storage.Extract(ctx, bytes.NewReader(data), dst, nil); err == nil || !strings.Contains(err.Error(), "refusing the archive") {
				t.Fatalf("extract: %v", err)
			}
		})
	}
	// Links that stay inside are fine, also through other links.
	ok := makeTar(t, entry{name: "a/", typ: tar.TypeDir}, entry{name: "a/f", typ: tar.TypeReg, data: "z"},
		entry{name: "d", link: "a", typ: tar.TypeSymlink}, entry{name: "e", link: "d/f", typ: tar.TypeSymlink},
		entry{name: "a/self", link: "../a", typ: tar.TypeSymlink})
	if _, err := storage.Scan(ctx, bytes.NewReader(ok)); err != nil {
		t.Fatalf("scan of local links: %v", err)
	}
}

func TestSetuidBitsAreNotRecreated(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range []string{"suid", "sgid"} {
		mode := int64(0o4755)
		if name == "sgid" {
			mode = 0o2755
		}
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: 2, Typeflag: tar.TypeReg})
		_, _ = tw.Write([]byte("#!"))
	}
	_ = tw.WriteHeader(&tar.Header{Name: "d/", Mode: 0o2775, Typeflag: tar.TypeDir})
	_ = tw.Close()
	dst := t.TempDir()
	if _, err := storage.Extract(context.Background(), &buf, dst, nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"suid", "sgid", "d"} {
		fi, err := os.Stat(filepath.Join(dst, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 {
			t.Fatalf("%s extracted with %v", name, fi.Mode())
		}
		if fi.Mode().Perm()&0o755 != 0o755 {
			t.Fatalf("%s lost its permissions: %v", name, fi.Mode())
		}
	}
}
