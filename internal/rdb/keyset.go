package rdb

import "hash/maphash"

// keySet remembers the keys a SCAN has returned, by a 128-bit hash of
// each (two independently seeded maphash sums; 16 bytes a key, not the
// key itself): SCAN returns a key again when the keyspace shrinks between
// two calls. Two different keys of one backup share both sums (127 bits:
// one marks a used slot) with a probability of about n²/2^128 — for a
// billion keys, below 10^-20.
//
// The hashes live in 256 open-addressing tables chosen by the first
// hash's top byte, each doubled on its own at 80% load: 22 bytes a key at
// three million keys (a Go map of the same hashes: 37), and no moment
// where the whole set exists twice while it grows.
type keySet struct {
	a, b   maphash.Seed
	tables [256]hashTable
}

type hashTable struct {
	slots [][2]uint64 // the zero value marks an empty slot
	n     int
}

func newKeySet() *keySet {
	return &keySet{a: maphash.MakeSeed(), b: maphash.MakeSeed()}
}

// add records k and reports whether it was new.
func (s *keySet) add(k string) bool {
	// One bit of the second hash marks a used slot ({0, 0} is empty).
	h := [2]uint64{maphash.String(s.a, k), maphash.String(s.b, k) | 1}
	t := &s.tables[h[0]>>56]
	if (t.n+1)*5 > len(t.slots)*4 {
		t.grow()
	}
	if !insertHash(t.slots, h) {
		return false
	}
	t.n++
	return true
}

// grow doubles the table (64 slots at first) and places every hash again.
func (t *hashTable) grow() {
	old := t.slots
	t.slots = make([][2]uint64, max(64, 2*len(old)))
	for _, h := range old {
		if h != ([2]uint64{}) {
			insertHash(t.slots, h)
		}
	}
}
