package rdb

import (
	"errors"
	"strconv"
	"testing"
)

// The duplicate check finds a repeated member wherever it is: past the
// room reserved ahead (the table grows), after a reset that reuses a
// larger table, and in a plain-encoded set read by the strict parser.
func TestUniqFindsDuplicates(t *testing.T) {
	var u uniq
	u.reset("set member", 10) // far fewer than added: the table must grow
	const n = 3 * uniqPresize
	for i := 0; i < n; i++ {
		if err := u.add([]byte("m" + strconv.Itoa(i))); err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
	}
	for _, i := range []int{0, 1, uniqPresize, n - 1} {
		if err := u.add([]byte("m" + strconv.Itoa(i))); err == nil || !errors.Is(err, ErrFormat) {
			t.Fatalf("member %d added twice: %v", i, err)
		}
	}
	u.reset("hash field", 2) // reuses the large table, emptied
	if err := u.add([]byte("m0")); err != nil {
		t.Fatalf("a member of the previous value counts as a duplicate: %v", err)
	}
	if err := u.add([]byte("m0")); err == nil {
		t.Fatal("duplicate after reset not found")
	}

	set := func(members ...string) []byte {
		v := appendLen(nil, uint64(len(members)))
		for _, m := range members {
			v = append(v, rdbStr([]byte(m))...)
		}
		return v
	}
	many := make([]string, 0, 70000)
	for i := 0; i < cap(many)-1; i++ {
		many = append(many, strconv.Itoa(i))
	}
	if _, err := CheckValue(TypeSet, set(many...)); err != nil {
		t.Fatalf("distinct members refused: %v", err)
	}
	if _, err := CheckValue(TypeSet, set(append(many, "69998")...)); err == nil || !errors.Is(err, ErrFormat) {
		t.Fatalf("duplicate last member of a large set accepted: %v", err)
	}
	if _, err := CheckValue(TypeHash, append(appendLen(nil, 2), append(append(rdbStr([]byte("f")), rdbStr([]byte("1"))...), append(rdbStr([]byte("f")), rdbStr([]byte("2"))...)...)...)); err == nil {
		t.Fatal("duplicate hash field accepted")
	}
}
