package repo

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/errs"
)

func TestLocks(t *testing.T) {
	for name, nb := range map[string]func(*testing.T) Backend{
		"local": func(t *testing.T) Backend { return localBackend(t) },
		"s3":    func(t *testing.T) Backend { return s3Backend(t) },
	} {
		t.Run(name, func(t *testing.T) {
			be := nb(t)
			clock := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
			opts := Options{LockTTL: time.Hour}
			opts.now = func() time.Time { return clock }
			r, err := Init(ctx, be, opts)
			if err != nil {
				t.Fatal(err)
			}
			first, err := r.Lock(ctx, "backup", false)
			if err != nil {
				t.Fatal(err)
			}
			_, err = r.Lock(ctx, "prune", false)
			if errs.Code(err) != errs.Locked {
				t.Fatalf("second lock: %v (code %d), want exit 4", err, errs.Code(err))
			}
			for _, want := range []string{"locked by backup", "pid", "since 2026-11-23T02:00:00Z"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("lock error %q lacks %q", err, want)
				}
			}
			if !strings.Contains(errs.Hint(err), "--unlock-stale") {
				t.Errorf("hint %q", errs.Hint(err))
			}
			// Not stale yet: --unlock-stale does not steal a live lock.
			if _, err := r.Lock(ctx, "prune", true); errs.Code(err) != errs.Locked {
				t.Fatalf("unlock-stale stole a fresh lock: %v", err)
			}
			// After the TTL the lock is stale: reported, and removed only on request.
			clock = clock.Add(2 * time.Hour)
			_, err = r.Lock(ctx, "prune", false)
			if errs.Code(err) != errs.Locked || !strings.Contains(err.Error(), "stale") {
				t.Fatalf("stale lock: %v", err)
			}
			second, err := r.Lock(ctx, "prune", true)
			if err != nil {
				t.Fatalf("--unlock-stale: %v", err)
			}
			if err := second.Release(ctx); err != nil {
				t.Fatal(err)
			}
			_ = first.Release(ctx) // its object is gone already
			if l, _ := r.Locks(ctx); len(l) != 0 {
				t.Fatalf("locks left: %+v", l)
			}
			third, err := r.Lock(ctx, "backup", false)
			if err != nil {
				t.Fatal(err)
			}
			_ = third.Release(ctx)
		})
	}
}

func TestLockRefresh(t *testing.T) {
	r, _ := Init(ctx, localBackend(t), Options{LockTTL: 200 * time.Millisecond})
	l, err := r.Lock(ctx, "backup", false)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(context.Background())
	time.Sleep(500 * time.Millisecond) // > TTL: only refreshes keep it alive
	locks, _ := r.Locks(ctx)
	if len(locks) != 1 || time.Since(locks[0].Refreshed) > 200*time.Millisecond {
		t.Fatalf("lock not refreshed: %+v", locks)
	}
	if _, err := r.Lock(ctx, "backup", true); errs.Code(err) != errs.Locked {
		t.Fatalf("a refreshed lock was taken: %v", err)
	}
}
