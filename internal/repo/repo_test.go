package repo

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"
	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/klauspost/compress/zstd"
)

var ctx = context.Background()

func testOpts(compression, encryption string, t *testing.T) Options {
	o := Options{Compression: compression, ToolVersion: "test", Keys: Keys{ScryptWorkFactor: 10}}
	switch encryption {
	case "passphrase":
		o.Keys.Passphrase = "correct horse battery staple"
	case "recipients":
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		o.Keys.Recipients = []string{id.Recipient().String()}
		o.Keys.Identities = []age.Identity{id}
	}
	return o
}

// writeSnapshot stores two components concurrently, several files each,
// and returns the plain contents by component/file.
func writeSnapshot(t *testing.T, r *Repository, sizes ...int) (*Manifest, map[string][]byte) {
	t.Helper()
	s := r.NewSnapshot(ctx)
	want := map[string][]byte{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for _, comp := range []string{"system-mysql", "backend-redis"} {
		sink, err := s.Component(comp)
		if err != nil {
			t.Fatal(err)
		}
		for i, size := range sizes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := fmt.Sprintf("data/part-%d.sql", i)
				data := make([]byte, size)
				_, _ = rand.Read(data[:size/2]) // half random, half zeros: compressible
				f, err := sink.Create(ctx, name, "sql")
				if err != nil {
					errc <- err
					return
				}
				for off := 0; off < len(data); off += 100000 {
					if _, err := f.Write(data[off:min(off+100000, len(data))]); err != nil {
						errc <- err
						return
					}
				}
				f.SetCount(int64(i + 1))
				if err := f.Close(); err != nil {
					errc <- err
					return
				}
				mu.Lock()
				want[comp+"/"+name] = data
				mu.Unlock()
			}()
		}
		if err := sink.Set("server_version", "10.11-MariaDB"); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	for _, comp := range []string{"system-mysql", "backend-redis"} {
		sink, _ := s.Component(comp)
		if err := sink.Finish(); err != nil {
			t.Fatal(err)
		}
	}
	m, err := s.Commit(ctx, SnapshotInfo{Namespace: "3scale", Tags: map[string]string{"reason": "test"}})
	if err != nil {
		t.Fatal(err)
	}
	return m, want
}

func readAll(t *testing.T, src artifact.Source, name string) ([]byte, error) {
	t.Helper()
	rc, err := src.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func TestRoundTrip(t *testing.T) {
	for _, comp := range []string{"zstd", "gzip", "none"} {
		for _, enc := range []string{"none", "passphrase", "recipients"} {
			t.Run(comp+"/"+enc, func(t *testing.T) {
				be := localBackend(t)
				opts := testOpts(comp, enc, t)
				r, err := Init(ctx, be, opts)
				if err != nil {
					t.Fatal(err)
				}
				m, want := writeSnapshot(t, r, 0, 1000, 300000)
				// Reopen as a new process would, with the key.
				r2, err := Open(ctx, be, Options{Keys: Keys{Passphrase: opts.Keys.Passphrase, Identities: opts.Keys.Identities}})
				if err != nil {
					t.Fatal(err)
				}
				checkSnapshot(t, r2, m.ID, want, enc != "none")
			})
		}
	}
}

func TestRoundTripS3(t *testing.T) {
	be := s3Backend(t)
	opts := testOpts("zstd", "passphrase", t)
	r, err := Init(ctx, be, opts)
	if err != nil {
		t.Fatal(err)
	}
	m, want := writeSnapshot(t, r, 10, 6<<20) // one file spans two parts
	checkSnapshot(t, r, m.ID, want, true)
}

func checkSnapshot(t *testing.T, r *Repository, id string, want map[string][]byte, encrypted bool) {
	t.Helper()
	snaps, err := r.Snapshots(ctx)
	if err != nil || len(snaps) != 1 || !snaps[0].Complete || snaps[0].ID != id {
		t.Fatalf("Snapshots = %+v, %v", snaps, err)
	}
	m, err := r.LoadManifest(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if m.Encrypted != encrypted || m.Namespace != "3scale" || m.Tags["reason"] != "test" || len(m.Components) != 2 {
		t.Fatalf("manifest = %+v", m)
	}
	for _, c := range m.Components {
		src, err := r.Source(m, c.Name)
		if err != nil {
			t.Fatal(err)
		}
		var v string
		if err := src.Get("server_version", &v); err != nil || v != "10.11-MariaDB" {
			t.Fatalf("meta = %q, %v", v, err)
		}
		if err := src.Get("nope", &v); !errors.Is(err, artifact.ErrNotFound) {
			t.Fatalf("missing meta: %v", err)
		}
		files := src.Files()
		if len(files) != len(want)/2 {
			t.Fatalf("%s files = %+v", c.Name, files)
		}
		for _, f := range files {
			got, err := readAll(t, src, f.Name)
			if err != nil {
				t.Fatalf("%s/%s: %v", c.Name, f.Name, err)
			}
			if !bytes.Equal(got, want[c.Name+"/"+f.Name]) || int64(len(got)) != f.RawSize {
				t.Fatalf("%s/%s: content differs (%d bytes, want %d)", c.Name, f.Name, len(got), len(want[c.Name+"/"+f.Name]))
			}
		}
		for _, fe := range c.Files {
			if encrypted != strings.HasSuffix(fe.Path, ".age") || fe.RawSHA256 == "" || fe.SHA256 == "" {
				t.Fatalf("file entry %+v", fe)
			}
		}
	}
	res, err := r.Verify(ctx, id, true, nil)
	if err != nil || len(res.Problems) != 0 || res.Files != len(want) {
		t.Fatalf("Verify = %+v, %v", res, err)
	}
}

func TestEncryptedWithoutKey(t *testing.T) {
	be := localBackend(t)
	opts := testOpts("zstd", "passphrase", t)
	r, err := Init(ctx, be, opts)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := writeSnapshot(t, r, 100)

	// Without a key: opening works, reading does not (backups need a
	// writer key: see TestWriterKey).
	nokey, err := Open(ctx, be, Options{})
	if err != nil {
		t.Fatalf("open without key: %v", err)
	}
	if err := nokey.CanWrite(); errs.Code(err) != errs.Usage || !strings.Contains(errs.Hint(err), "--writer-key-file") {
		t.Fatalf("a backup without key or writer key: %v", err)
	}
	_, err = nokey.LoadManifest(ctx, m.ID)
	if err == nil || errs.Code(err) != errs.Usage || !strings.Contains(err.Error(), "encrypted") ||
		!strings.Contains(errs.Hint(err), "--password-file") {
		t.Fatalf("LoadManifest without key: %v (hint %q)", err, errs.Hint(err))
	}
	// A wrong passphrase is refused at open.
	_, err = Open(ctx, be, Options{Keys: Keys{Passphrase: "wrong"}})
	if err == nil || !strings.Contains(err.Error(), "does not open") {
		t.Fatalf("wrong passphrase: %v", err)
	}
	// A foreign identity too.
	other, _ := age.GenerateX25519Identity()
	if _, err := Open(ctx, be, Options{Keys: Keys{Identities: []age.Identity{other}}}); err == nil {
		t.Fatal("a foreign identity opened the repository")
	}
	// The manifest on disk is not readable JSON.
	rc, err := be.Get(ctx, "snapshots/"+m.ID+"/manifest.json.age")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(rc)
	rc.Close()
	if bytes.Contains(raw, []byte("system-mysql")) {
		t.Fatal("encrypted manifest holds plain component names")
	}
}

func TestNewerFormatRefused(t *testing.T) {
	be := localBackend(t)
	_ = be.Put(ctx, "config.json", strings.NewReader(`{"format": 99, "id": "abc"}`))
	_, err := Open(ctx, be, Options{})
	if err == nil || !strings.Contains(err.Error(), "format 99") || errs.Hint(err) == "" {
		t.Fatalf("Open newer format: %v", err)
	}
	if _, err := Open(ctx, localBackend(t), Options{}); !errors.Is(err, ErrNoRepository) {
		t.Fatalf("Open empty: %v", err)
	}
	if _, err := Init(ctx, be, Options{}); err == nil {
		t.Fatal("Init over an existing repository succeeded")
	}
}

func corrupt(t *testing.T, be Backend, name string, edit func([]byte) []byte) {
	t.Helper()
	rc, err := be.Get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	if err := be.Put(ctx, name, bytes.NewReader(edit(data))); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyFindsDamage(t *testing.T) {
	for _, enc := range []string{"none", "passphrase"} {
		t.Run(enc, func(t *testing.T) {
			be := localBackend(t)
			r, err := Init(ctx, be, testOpts("zstd", enc, t))
			if err != nil {
				t.Fatal(err)
			}
			m, _ := writeSnapshot(t, r, 200000)
			mysql := m.Component("system-mysql").Files[0]
			redis := m.Component("backend-redis").Files[0]
			dir := "snapshots/" + m.ID + "/"
			corrupt(t, be, dir+mysql.Path, func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b })
			corrupt(t, be, dir+redis.Path, func(b []byte) []byte { return b[:len(b)-100] })

			quick, err := r.Verify(ctx, m.ID, false, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(quick.Problems) != 1 || !strings.Contains(quick.Problems[0].Problem, fmt.Sprintf("expected %d bytes, got %d", redis.Size, redis.Size-100)) {
				t.Fatalf("quick verify: %+v", quick.Problems)
			}
			full, err := r.Verify(ctx, m.ID, true, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(full.Problems) != 2 {
				t.Fatalf("read-data verify: %+v", full.Problems)
			}
			for _, p := range full.Problems {
				t.Logf("%s: %s", p.File, p.Problem)
			}
			if full.Problems[0].File != m.ID+"/"+redis.Path || full.Problems[1].File != m.ID+"/"+mysql.Path {
				t.Fatalf("problems name the wrong files: %+v", full.Problems)
			}
			err = MismatchError([]VerifyResult{full})
			if errs.Code(err) != errs.Mismatch || !strings.Contains(err.Error(), mysql.Path) {
				t.Fatalf("MismatchError = %v", err)
			}
			// Source.Open reports the same as a read error wrapping ErrCorrupt.
			src, _ := r.Source(m, "system-mysql")
			if _, err := readAll(t, src, mysql.Name); !errors.Is(err, artifact.ErrCorrupt) || !strings.Contains(err.Error(), mysql.Path) {
				t.Fatalf("read of a flipped file: %v", err)
			}
		})
	}
}

func TestVerifyHashMismatchNamesExpectedAndActual(t *testing.T) {
	// A stored file replaced by another of the same size: only the hash differs.
	be := localBackend(t)
	r, _ := Init(ctx, be, testOpts("none", "none", t))
	m, _ := writeSnapshot(t, r, 1000)
	f := m.Component("system-mysql").Files[0]
	corrupt(t, be, "snapshots/"+m.ID+"/"+f.Path, func(b []byte) []byte { b[0] ^= 1; return b })
	res, err := r.Verify(ctx, m.ID, true, nil)
	if err != nil || len(res.Problems) != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	if p := res.Problems[0].Problem; !strings.Contains(p, "expected "+f.SHA256) || !strings.Contains(p, "got ") {
		t.Fatalf("problem = %q", p)
	}
}

func TestAbortAndIncomplete(t *testing.T) {
	be := localBackend(t)
	r, _ := Init(ctx, be, testOpts("zstd", "none", t))
	s := r.NewSnapshot(ctx)
	sink, _ := s.Component("system-storage")
	done, _ := sink.Create(ctx, "a.tar", "tar")
	_, _ = done.Write([]byte("complete file"))
	if err := done.Close(); err != nil {
		t.Fatal(err)
	}
	open, _ := sink.Create(ctx, "b.tar", "tar")
	_, _ = open.Write(bytes.Repeat([]byte("x"), 1<<20))
	if err := sink.Finish(); err == nil {
		t.Fatal("Finish with an open file succeeded")
	}
	if err := s.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if l, _ := be.List(ctx, "snapshots/"); len(l) != 0 {
		t.Fatalf("objects left after Abort: %v", l)
	}
	// An abort while the only file is still being written (the upload's
	// temporary file is all its directory holds) leaves no directory.
	s1 := r.NewSnapshot(ctx)
	sink1, _ := s1.Component("backend-redis")
	w, _ := sink1.Create(ctx, "dump.rdb", "rdb")
	_, _ = w.Write(bytes.Repeat([]byte("r"), 1<<20))
	if err := s1.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(filepath.Join(be.root, "snapshots")); len(left) != 0 {
		t.Fatalf("directories left after Abort: %v", left)
	}

	// A snapshot left without manifest (crash) is invisible, and prune removes it.
	s2 := r.NewSnapshot(ctx)
	sink2, _ := s2.Component("secrets")
	f, _ := sink2.Create(ctx, "secrets.json", "kube-list")
	_, _ = f.Write([]byte("{}"))
	_ = f.Close()
	if _, err := r.ResolveID(ctx, "latest"); err == nil {
		t.Fatal("an uncommitted snapshot is visible")
	}
	good, _ := writeSnapshot(t, r, 10)
	if id, err := r.ResolveID(ctx, "latest"); err != nil || id != good.ID {
		t.Fatalf("latest = %s, %v", id, err)
	}
	res, err := r.Prune(ctx, Policy{Last: 5}, PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Incomplete) != 1 || res.Incomplete[0].ID != s2.ID() || len(res.Removed) != 1 {
		t.Fatalf("prune = %+v", res)
	}
	snaps, _ := r.Snapshots(ctx)
	if len(snaps) != 1 || snaps[0].ID != good.ID {
		t.Fatalf("after prune: %+v", snaps)
	}
}

func TestRestoreJournal(t *testing.T) {
	r, _ := Init(ctx, localBackend(t), Options{})
	var j struct{ Step int }
	if err := r.GetRestoreJournal(ctx, "20261123T020000Z-a1b2c3", &j); !errors.Is(err, ErrNotFound) || !errors.Is(err, artifact.ErrNotFound) {
		t.Fatalf("missing journal: %v", err)
	}
	j.Step = 4
	if err := r.PutRestoreJournal(ctx, "20261123T020000Z-a1b2c3", j); err != nil {
		t.Fatal(err)
	}
	j.Step = 0
	if err := r.GetRestoreJournal(ctx, "20261123T020000Z-a1b2c3", &j); err != nil || j.Step != 4 {
		t.Fatalf("journal = %+v, %v", j, err)
	}
	if err := r.PutRestoreJournal(ctx, "../x", j); err == nil {
		t.Fatal("journal name with a path accepted")
	}
}

// The stored zstd frames declare a 2 MiB window: what a restore's decoder
// must hold per file, and half of what the encoder holds.
func TestZstdWindow(t *testing.T) {
	be := localBackend(t)
	r, err := Init(ctx, be, testOpts("zstd", "none", t))
	if err != nil {
		t.Fatal(err)
	}
	m, want := writeSnapshot(t, r, 5<<20)
	checkSnapshot(t, r, m.ID, want, false)
	for _, c := range m.Components {
		for _, f := range c.Files {
			rc, err := be.Get(ctx, snapshotsDir+m.ID+"/"+f.Path)
			if err != nil {
				t.Fatal(err)
			}
			head := make([]byte, zstd.HeaderMaxSize)
			n, _ := io.ReadFull(rc, head)
			rc.Close()
			var h zstd.Header
			if err := h.Decode(head[:n]); err != nil {
				t.Fatalf("%s: %v", f.Path, err)
			}
			if h.WindowSize == 0 || h.WindowSize > 2<<20 {
				t.Errorf("%s: zstd window %d bytes, want at most 2 MiB", f.Path, h.WindowSize)
			}
		}
	}
}

// TestFinishedFilesHoldNoEncoder writes many files into one component, as
// a table-chunked SQL dump does, and checks that the memory they keep until
// the component finishes does not grow with their number: a finished
// file's zstd encoder (about 6 MiB of history and tables) goes to the next
// file instead of staying referenced by the sink.
func TestFinishedFilesHoldNoEncoder(t *testing.T) {
	be, err := NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r, err := Init(ctx, be, testOpts("zstd", "", t))
	if err != nil {
		t.Fatal(err)
	}
	s := r.NewSnapshot(ctx)
	sink, err := s.Component("zync-postgres")
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("que_jobs row\t{}\t2026-12-02\n"), 1<<16) // 1.7 MB
	var before, after runtime.MemStats
	write := func(i int) {
		f, err := sink.Create(ctx, fmt.Sprintf("data/chunk-%03d.copy", i), "pgcopy")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	write(0)
	runtime.GC()
	runtime.ReadMemStats(&before)
	const files = 40
	for i := 1; i <= files; i++ {
		write(i)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 8<<20 {
		t.Errorf("%d finished files keep %d MiB live (want the encoders reused, < 8 MiB)", files, grew>>20)
	}
	if err := sink.Finish(); err != nil {
		t.Fatal(err)
	}
	m, err := s.Commit(ctx, SnapshotInfo{})
	if err != nil {
		t.Fatal(err)
	}
	// Reused encoders write independent, complete streams: every file
	// reads back whole.
	if n := len(m.Components[0].Files); n != files+1 {
		t.Fatalf("manifest lists %d files, want %d", n, files+1)
	}
	src, err := r.Source(m, "zync-postgres")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range src.Files() {
		got, err := readAll(t, src, f.Name)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: read back %d bytes (err %v), want %d", f.Name, len(got), err, len(data))
		}
	}
}
