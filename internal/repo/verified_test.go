package repo

import (
	"io"
	"slices"
	"testing"
)

// TestSourceReportsWhatItVerified: a file read to its end through a
// Source counts as verified (its sizes and sha256 were checked on the way)
// and a verification that is told so does not read it again; a file read
// in part, or whose check failed, does not count.
func TestSourceReportsWhatItVerified(t *testing.T) {
	be := localBackend(t)
	r, err := Init(ctx, be, testOpts("zstd", "none", t))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := writeSnapshot(t, r, 300000, 300000, 300000)
	src, err := r.Source(m, "backend-redis")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(t, src, "data/part-0.sql"); err != nil {
		t.Fatal(err)
	}
	rc, err := src.Open(ctx, "data/part-1.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rc, make([]byte, 1000)); err != nil { // in part only
		t.Fatal(err)
	}
	rc.Close()
	// part-2 is damaged: reading it fails, so it is not verified.
	path := func(name string) string {
		for _, f := range m.Component("backend-redis").Files {
			if f.Name == name {
				return snapshotsDir + m.ID + "/" + f.Path
			}
		}
		t.Fatalf("no file %s", name)
		return ""
	}
	corrupt(t, be, path("data/part-2.sql"), func(b []byte) []byte { b[len(b)/2] ^= 1; return b })
	if _, err := readAll(t, src, "data/part-2.sql"); err == nil {
		t.Fatal("a damaged file read without error")
	}
	if got := VerifiedFiles(src); !slices.Equal(got, []string{"data/part-0.sql"}) {
		t.Fatalf("verified %v, want only the file read to its end", got)
	}

	// Damage part-0 after it was read: told it is done, the verification
	// skips it (and still finds part-2); not told, it finds both.
	corrupt(t, be, path("data/part-0.sql"), func(b []byte) []byte { b[len(b)/2] ^= 1; return b })
	done := map[string][]string{"backend-redis": VerifiedFiles(src)}
	res, err := r.VerifyComponentsExcept(ctx, m.ID, []string{"backend-redis"}, done, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Problems) != 1 || snapshotsDir+res.Problems[0].File != path("data/part-2.sql") || res.Files != 3 {
		t.Fatalf("told part-0 is done: %d files, problems %+v", res.Files, res.Problems)
	}
	res, err = r.VerifyComponents(ctx, m.ID, []string{"backend-redis"}, true, nil)
	if err != nil || len(res.Problems) != 2 {
		t.Fatalf("not told: problems %+v, %v", res.Problems, err)
	}
}
