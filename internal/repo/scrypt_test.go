package repo

import (
	"context"
	"runtime"
	"testing"
)

// Creating a passphrase repository runs age scrypt once (to wrap the new
// repository key), not a second time to unwrap the key it just made:
// scrypt's memory (128·r·N bytes, 256 MiB at age's default work factor)
// and its second or so of CPU are the largest costs of a first encrypted
// backup. Measured by bytes allocated, at work factor 14 (16 MiB each).
func TestInitRunsScryptOnce(t *testing.T) {
	be, err := NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const perScrypt = 128 * 8 << 14
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r, err := Init(context.Background(), be, Options{ToolVersion: "test", Keys: Keys{Passphrase: "correct horse", ScryptWorkFactor: 14}})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > perScrypt*3/2 {
		t.Fatalf("Init allocated %d MiB, more than one scrypt (%d MiB) and change: the key was unwrapped again", got>>20, perScrypt>>20)
	}
	if len(r.ids) == 0 {
		t.Fatal("the new repository cannot read what it writes")
	}
	// The passphrase still opens it.
	if _, err := Open(context.Background(), be, Options{Keys: Keys{Passphrase: "correct horse"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), be, Options{Keys: Keys{Passphrase: "wrong"}}); err == nil {
		t.Fatal("a wrong passphrase opened the repository")
	}
}
