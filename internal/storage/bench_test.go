package storage_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/storage"
)

// benchTree writes files of 4 KiB .. 4 MiB (about 64 MiB in all), like
// CMS uploads, and returns the root and the content size.
func benchTree(b *testing.B) (string, int64) {
	b.Helper()
	root := b.TempDir()
	var total int64
	buf := make([]byte, 4<<20)
	_, _ = rand.Read(buf)
	for i := 0; i < 300; i++ {
		size := 4 << 10 << (i % 11) // 4 KiB .. 4 MiB
		if size > len(buf) {
			size = len(buf)
		}
		if i%11 == 10 && i > 120 {
			size = 64 << 10
		}
		p := filepath.Join(root, fmt.Sprintf("provider-%d/%d/file-%d.bin", i%5, i%17, i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, buf[:size], 0o644); err != nil {
			b.Fatal(err)
		}
		total += int64(size)
	}
	return root, total
}

// go test -run '^$' -bench Tree -benchtime 5x ./internal/storage/
func BenchmarkTree(b *testing.B) {
	root, total := benchTree(b)
	var archive bytes.Buffer
	b.Run("archive/3scale-ops", func(b *testing.B) {
		b.SetBytes(total)
		for i := 0; i < b.N; i++ {
			// Through an OS pipe drained by another goroutine, as exec.Cmd
			// drains tar's stdout below: same cost on both sides.
			r, w, err := os.Pipe()
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan struct{})
			go func() { _, _ = io.Copy(io.Discard, r); close(done) }()
			if _, err := storage.WriteTree(context.Background(), root, w, nil); err != nil {
				b.Fatal(err)
			}
			w.Close()
			<-done
			r.Close()
		}
	})
	b.Run("archive/gnu-tar", func(b *testing.B) {
		b.SetBytes(total)
		for i := 0; i < b.N; i++ {
			cmd := exec.Command("tar", "-C", root, "-cf", "-", ".")
			cmd.Stdout = io.Discard
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
	if _, err := storage.WriteTree(context.Background(), root, &archive, nil); err != nil {
		b.Fatal(err)
	}
	b.Run("extract/3scale-ops", func(b *testing.B) {
		b.SetBytes(total)
		for i := 0; i < b.N; i++ {
			dst := filepath.Join(b.TempDir(), "x")
			if _, err := storage.Extract(context.Background(), bytes.NewReader(archive.Bytes()), dst, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("extract/gnu-tar", func(b *testing.B) {
		b.SetBytes(total)
		for i := 0; i < b.N; i++ {
			dst := b.TempDir()
			cmd := exec.Command("tar", "-xf", "-", "-C", dst)
			cmd.Stdin = bytes.NewReader(archive.Bytes())
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
	})
}
