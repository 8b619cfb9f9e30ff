package pgdump

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
)

// countingSource counts the opens of each file.
type countingSource struct {
	artifact.Source
	mu    sync.Mutex
	opens map[string]int
}

func (c *countingSource) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	c.mu.Lock()
	c.opens[name]++
	c.mu.Unlock()
	return c.Source.Open(ctx, name)
}

// TestPreflightReadsBackOnce: Preflight reads every artifact back (a
// damaged one is refused there, with the target untouched), and a Restore
// of the same source then reads each data file only to load it; a Restore
// of another source reads it back itself first.
func TestPreflightReadsBackOnce(t *testing.T) {
	_, mem, want := dumpFixture(t)
	victim := notificationsFile(mem)
	bad := cloneMemory(t, mem, truncate(victim), nil)
	dst := testenv.Postgres(t)
	e := New(dst.URL)
	if err := e.Preflight(context.Background(), bad); err == nil || !errors.Is(err, artifact.ErrCorrupt) || !strings.Contains(err.Error(), victim) {
		t.Fatalf("preflight of a damaged snapshot: %v", err)
	}
	assertEmpty(t, dst.URL)

	src := &countingSource{Source: mem, opens: map[string]int{}}
	if err := e.Preflight(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Restore(context.Background(), src, nil); err != nil {
		t.Fatal(err)
	}
	compareFingerprints(t, want, fingerprint(t, dst.URL))
	if n := src.opens[victim]; n != 2 {
		t.Errorf("%s opened %d times by Preflight and Restore, want 2 (read back once, loaded once)", victim, n)
	}

	other := &countingSource{Source: mem, opens: map[string]int{}}
	dst2 := testenv.Postgres(t)
	e2 := New(dst2.URL)
	if err := e2.Preflight(context.Background(), src); err != nil { // another source than the restore's
		t.Fatal(err)
	}
	if _, err := e2.Restore(context.Background(), other, nil); err != nil {
		t.Fatal(err)
	}
	if n := other.opens[victim]; n != 2 {
		t.Errorf("%s opened %d times by a Restore of a source Preflight did not read, want 2", victim, n)
	}
}
