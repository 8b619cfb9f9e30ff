package repo

import (
	"testing"
	"time"
)

func TestSnapshotIDsSortInCreationOrderWithinASecond(t *testing.T) {
	base := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	prev := ""
	for cs := 0; cs < 100; cs += 7 {
		id := NewSnapshotID(base.Add(time.Duration(cs) * 10 * time.Millisecond))
		if !ValidSnapshotID(id) || id <= prev {
			t.Fatalf("id %q after %q", id, prev)
		}
		prev = id
	}
}
