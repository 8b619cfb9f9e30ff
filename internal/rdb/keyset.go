package rdb

import "hash/maphash"

// keySet remembers the keys a SCAN has returned, by a 128-bit hash of
// each (two independently seeded maphash sums; 16 bytes a key, not the
// key itself): SCAN returns a key again when the keyspace shrinks between
// two calls. Two different keys of one backup share both sums with a
// probability of about n²/2^129 — for a billion keys, below 10^-20.
type keySet struct {
	a, b maphash.Seed
	m    map[[2]uint64]struct{}
}

func newKeySet() *keySet {
	return &keySet{a: maphash.MakeSeed(), b: maphash.MakeSeed(), m: map[[2]uint64]struct{}{}}
}

// add records k and reports whether it was new.
func (s *keySet) add(k string) bool {
	h := [2]uint64{maphash.String(s.a, k), maphash.String(s.b, k)}
	if _, ok := s.m[h]; ok {
		return false
	}
	s.m[h] = struct{}{}
	return true
}
