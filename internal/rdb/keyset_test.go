package rdb

import (
	"fmt"
	"testing"
)

// Every key is new once and only once, across the tables' growth.
func TestKeySet(t *testing.T) {
	s := newKeySet()
	const n = 200000
	for i := 0; i < n; i++ {
		if !s.add(fmt.Sprintf("key:%d", i)) {
			t.Fatalf("key:%d reported as seen the first time", i)
		}
	}
	for i := 0; i < n; i++ {
		if s.add(fmt.Sprintf("key:%d", i)) {
			t.Fatalf("key:%d reported as new the second time", i)
		}
	}
	if s.add("") != true || s.add("") != false {
		t.Fatal("the empty key")
	}
	total := 0
	for _, tb := range s.tables {
		total += tb.n
		if tb.n*5 > len(tb.slots)*4 {
			t.Fatalf("a table is %d of %d slots full", tb.n, len(tb.slots))
		}
	}
	if total != n+1 {
		t.Fatalf("%d hashes stored, want %d", total, n+1)
	}
}
