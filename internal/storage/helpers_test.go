package storage_test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// makeTree builds a storage-like tree: modes, sub-second mtimes, a
// relative symlink, an empty directory, non-ASCII names, an empty file.
func makeTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files := []struct {
		name string
		mode fs.FileMode
		data string
	}{
		{"provider-name/2024/logo.png", 0o644, strings.Repeat("\x89PNG\x00\xff", 5000)},
		{"provider-name/2024/private.key", 0o600, "not really a key"},
		{"provider-name/scripts/run.sh", 0o755, "#!/bin/sh\necho hi\n"},
		{"résumé café.pdf", 0o640, "accented"},
		{"日本語/ファイル.txt", 0o644, "unicode"},
		{"empty-file", 0o644, ""},
	}
	base := time.Date(2021, 3, 4, 5, 6, 7, 123456789, time.UTC)
	for i, f := range files {
		p := filepath.Join(root, f.name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.data), f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.mode); err != nil {
			t.Fatal(err)
		}
		mt := base.Add(time.Duration(i) * 1111 * time.Millisecond)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "empty-dir", "nested-empty"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("2024/logo.png", filepath.Join(root, "provider-name", "current-logo")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../日本語", filepath.Join(root, "provider-name", "jp")); err != nil {
		t.Fatal(err)
	}
	ts := []unix.Timespec{unix.NsecToTimespec(base.UnixNano()), unix.NsecToTimespec(base.UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(root, "provider-name", "jp"), ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "empty-dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	// Directory mtimes last, deepest first.
	for i, d := range []string{"empty-dir/nested-empty", "provider-name/2024", "provider-name/scripts", "provider-name", "日本語", "empty-dir"} {
		mt := base.Add(-time.Duration(i+1) * time.Hour)
		if err := os.Chtimes(filepath.Join(root, d), mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// describe lists every entry under root (not root itself) with type,
// mode, mtime (ns) and content hash or link target.
func describe(t *testing.T, root string, mtimeUnit time.Duration) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v %d", rel, fi.Mode(), fi.ModTime().Truncate(mtimeUnit).UnixNano())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + target
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func sameTree(t *testing.T, want, got string) { t.Helper(); sameTreeUnit(t, want, got, 1) }

// sameTreeUnit compares mtimes truncated to unit (GNU tar's default
// format keeps whole seconds).
func sameTreeUnit(t *testing.T, want, got string, unit time.Duration) {
	t.Helper()
	a, b := describe(t, want, unit), describe(t, got, unit)
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Fatalf("trees differ:\nwant:\n%s\ngot:\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
}

type entry struct {
	name, link string
	typ        byte
	data       string
}

func makeTar(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.data)), ModTime: time.Unix(1600000000, 0)}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			_, _ = tw.Write([]byte(e.data))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
