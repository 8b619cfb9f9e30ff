package repo

import (
	"testing"
	"time"
)

func TestSnapshotIDsSortInCreationOrderWithinASecond(t *testing.T) {
	base := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	prev := ""
	for ms := 0; ms < 1000; ms += 3 {
		id := NewSnapshotID(base.Add(time.Duration(ms) * time.Millisecond))
		if !ValidSnapshotID(id) || id <= prev {
			t.Fatalf("id %q after %q", id, prev)
		}
		prev = id
	}
}
