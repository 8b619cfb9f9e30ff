package repo

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/testenv"
)

// s3Backend returns a backend on a fresh bucket of the test environment's
// MinIO, with a prefix so that prefix handling is exercised.
func s3Backend(t *testing.T) *S3 {
	t.Helper()
	e := testenv.Get(t)
	_, bucket := testenv.S3(t)
	b, err := NewS3(context.Background(), S3Config{Endpoint: e.S3Endpoint, Bucket: bucket, Prefix: "team/prod",
		Insecure: true, AccessKey: e.S3AccessKey, SecretKey: e.S3SecretKey, PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func localBackend(t *testing.T) *Local {
	b, err := NewLocal(t.TempDir() + "/repo")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBackendLocal(t *testing.T) {
	backendSuite(t, func(t *testing.T) Backend { return localBackend(t) })
}
func TestBackendS3(t *testing.T) { backendSuite(t, func(t *testing.T) Backend { return s3Backend(t) }) }

type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// backendSuite is the behaviour every Backend must have, run unchanged
// against each implementation.
func backendSuite(t *testing.T, newBackend func(t *testing.T) Backend) {
	ctx := context.Background()
	get := func(t *testing.T, b Backend, name string) []byte {
		t.Helper()
		rc, err := b.Get(ctx, name)
		if err != nil {
			t.Fatalf("Get %s: %v", name, err)
		}
		defer rc.Close()
		data, err := io.ReadAll(rc)
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		return data
	}

	t.Run("put get stat", func(t *testing.T) {
		b := newBackend(t)
		if err := b.Put(ctx, "a/b/c.txt", strings.NewReader("hello")); err != nil {
			t.Fatal(err)
		}
		if got := get(t, b, "a/b/c.txt"); string(got) != "hello" {
			t.Fatalf("got %q", got)
		}
		st, err := b.Stat(ctx, "a/b/c.txt")
		if err != nil || st.Size != 5 || st.Name != "a/b/c.txt" {
			t.Fatalf("Stat = %+v, %v", st, err)
		}
		// Empty objects exist too.
		if err := b.Put(ctx, "empty", bytes.NewReader(nil)); err != nil {
			t.Fatal(err)
		}
		if st, err := b.Stat(ctx, "empty"); err != nil || st.Size != 0 {
			t.Fatalf("Stat empty = %+v, %v", st, err)
		}
	})

	t.Run("not found", func(t *testing.T) {
		b := newBackend(t)
		if _, err := b.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get missing: %v, want ErrNotFound", err)
		}
		if _, err := b.Stat(ctx, "dir/nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Stat missing: %v, want ErrNotFound", err)
		}
		if err := b.Delete(ctx, "nope"); err != nil {
			t.Fatalf("Delete missing: %v", err)
		}
		l, err := b.List(ctx, "")
		if err != nil || len(l) != 0 {
			t.Fatalf("List of empty backend = %v, %v", l, err)
		}
	})

	t.Run("list prefix sorted", func(t *testing.T) {
		b := newBackend(t)
		for _, n := range []string{"snapshots/2/x", "snapshots/1/y", "snapshots/1/a/b", "locks/l1.json", "config.json"} {
			if err := b.Put(ctx, n, strings.NewReader(n)); err != nil {
				t.Fatal(err)
			}
		}
		l, err := b.List(ctx, "snapshots/")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, o := range l {
			names = append(names, o.Name)
			if o.Size != int64(len(o.Name)) {
				t.Errorf("%s: size %d", o.Name, o.Size)
			}
		}
		if got := strings.Join(names, ","); got != "snapshots/1/a/b,snapshots/1/y,snapshots/2/x" {
			t.Fatalf("List = %s", got)
		}
		all, _ := b.List(ctx, "")
		if len(all) != 5 {
			t.Fatalf("List all = %v", all)
		}
	})

	t.Run("overwrite and delete", func(t *testing.T) {
		b := newBackend(t)
		_ = b.Put(ctx, "k", strings.NewReader("one"))
		if err := b.Put(ctx, "k", strings.NewReader("two!")); err != nil {
			t.Fatal(err)
		}
		if got := get(t, b, "k"); string(got) != "two!" {
			t.Fatalf("got %q", got)
		}
		if err := b.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Stat(ctx, "k"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
	})

	t.Run("failed put leaves nothing", func(t *testing.T) {
		b := newBackend(t)
		_ = b.Put(ctx, "dir/keep", strings.NewReader("old"))
		boom := errors.New("source broke")
		big := make([]byte, 6<<20) // more than one S3 part
		_, _ = rand.Read(big)
		err := b.Put(ctx, "dir/keep", &failingReader{data: big, err: boom})
		if err == nil {
			t.Fatal("Put with a failing reader succeeded")
		}
		if got := get(t, b, "dir/keep"); string(got) != "old" {
			t.Fatalf("failed Put replaced the object: %d bytes", len(got))
		}
		if err := b.Put(ctx, "dir/new", &failingReader{data: []byte("partial"), err: boom}); err == nil {
			t.Fatal("Put with a failing reader succeeded")
		}
		l, _ := b.List(ctx, "")
		if len(l) != 1 || l[0].Name != "dir/keep" {
			t.Fatalf("objects after failed puts: %v", l)
		}
	})

	t.Run("cancelled put leaves nothing", func(t *testing.T) {
		b := newBackend(t)
		cctx, cancel := context.WithCancel(ctx)
		pr, pw := io.Pipe()
		go func() {
			_, _ = pw.Write(make([]byte, 1<<20))
			cancel()
			_, _ = pw.Write(make([]byte, 1<<20))
			pw.Close()
		}()
		if err := b.Put(cctx, "c", pr); err == nil {
			t.Fatal("cancelled Put succeeded")
		}
		pr.Close()
		if _, err := b.Stat(ctx, "c"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("after cancelled Put: %v", err)
		}
	})

	t.Run("streams larger than a part", func(t *testing.T) {
		b := newBackend(t)
		data := make([]byte, 11<<20+123)
		_, _ = rand.Read(data)
		if err := b.Put(ctx, "big/blob", io.MultiReader(bytes.NewReader(data))); err != nil {
			t.Fatal(err)
		}
		if got := get(t, b, "big/blob"); !bytes.Equal(got, data) {
			t.Fatalf("round trip of %d bytes differs (%d back)", len(data), len(got))
		}
	})

	t.Run("invalid names", func(t *testing.T) {
		b := newBackend(t)
		for _, n := range []string{"", "/abs", "../up", "a/../../b", "a//b"} {
			if err := b.Put(ctx, n, strings.NewReader("x")); err == nil {
				t.Errorf("Put(%q) accepted", n)
			}
		}
	})
}
