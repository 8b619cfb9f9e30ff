package storage_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/storage"
)

// FuzzScanAndExtract: whatever the archive, Scan never panics, and when
// Scan accepts it Extract writes nothing outside the target.
func FuzzScanAndExtract(f *testing.F) {
	f.Add(makeTar(f, entry{name: "a/", typ: '5'}, entry{name: "a/f", typ: '0', data: "x"}, entry{name: "l", link: "a/f", typ: '2'}))
	f.Add(makeTar(f, entry{name: "d", link: ".", typ: '2'}, entry{name: "up", link: "d/..", typ: '2'}))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := storage.Scan(context.Background(), bytes.NewReader(data)); err != nil {
			return
		}
		parent := t.TempDir()
		dst := filepath.Join(parent, "target")
		_, _ = storage.Extract(context.Background(), bytes.NewReader(data), dst, nil)
		entries, _ := os.ReadDir(parent)
		if len(entries) > 1 {
			t.Fatalf("extract wrote beside the target: %v", entries)
		}
		_ = filepath.Walk(dst, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode()&os.ModeSymlink != 0 {
				if r, err := filepath.EvalSymlinks(p); err == nil && !strings.HasPrefix(r, dst) {
					t.Fatalf("symlink %s resolves outside the target: %s", p, r)
				}
			}
			return nil
		})
	})
}
