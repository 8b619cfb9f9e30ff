package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"filippo.io/age/armor"

	"github.com/3scale-ops/3scale-ops/internal/errs"
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

// forgeWorkFactor rewrites the work factor of config.json's passphrase key
// in place, from 10 to f. The key's header MAC is then wrong too, but only
// a finished scrypt finds that.
func forgeWorkFactor(t *testing.T, be Backend, f string) {
	t.Helper()
	var cfg map[string]any
	if err := json.Unmarshal(getObject(t, be, configName), &cfg); err != nil {
		t.Fatal(err)
	}
	enc := cfg["encryption"].(map[string]any)
	bin, err := io.ReadAll(armor.NewReader(strings.NewReader(enc["passphrase_key"].(string))))
	if err != nil {
		t.Fatal(err)
	}
	forged := regexp.MustCompile(`(?m)^(-> scrypt \S+) 10$`).ReplaceAll(bin, []byte("$1 "+f))
	if bytes.Equal(forged, bin) {
		t.Fatalf("no scrypt stanza at work factor 10 in:\n%s", bin)
	}
	var ab bytes.Buffer
	aw := armor.NewWriter(&ab)
	aw.Write(forged)
	aw.Close()
	enc["passphrase_key"] = ab.String()
	b, _ := json.Marshal(cfg)
	if err := be.Put(ctx, configName, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
}

// A config.json whose passphrase key asks for a work factor no init
// writes is refused before scrypt runs: at age's own limit (22) it would
// allocate 4 GiB and run for seconds in every command given the
// passphrase (a backup job's pod killed for memory).
func TestForgedWorkFactorIsRefusedBeforeScrypt(t *testing.T) {
	be := localBackend(t)
	keys := Keys{Passphrase: "correct horse", ScryptWorkFactor: 10}
	if _, err := Init(ctx, be, Options{ToolVersion: "test", Keys: keys}); err != nil {
		t.Fatal(err)
	}
	forgeWorkFactor(t, be, "21")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Open(ctx, be, Options{Keys: keys})
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 16<<20 {
		t.Errorf("opening allocated %d MiB: scrypt ran at the forged work factor", got>>20)
	}
	var wf *WorkFactorError
	if !errors.As(err, &wf) || wf.Factor != 21 || errs.Code(err) != errs.Usage ||
		!strings.Contains(err.Error(), "work factor 21") || !strings.Contains(errs.Hint(err), "changed config.json") {
		t.Fatalf("forged work factor: code %d, %v (hint %q)", errs.Code(err), err, errs.Hint(err))
	}
}

// Init writes the work factor it is given, within the range opening
// accepts, and refuses one outside it before writing anything.
func TestInitWorkFactorRange(t *testing.T) {
	for _, f := range []int{MinScryptWorkFactor - 1, MaxScryptWorkFactor + 1} {
		be := localBackend(t)
		if _, err := Init(ctx, be, Options{ToolVersion: "test", Keys: Keys{Passphrase: "pw", ScryptWorkFactor: f}}); err == nil || !strings.Contains(err.Error(), "work factor") {
			t.Fatalf("work factor %d: %v", f, err)
		}
		if objs, _ := be.List(ctx, ""); len(objs) != 0 {
			t.Fatalf("work factor %d: written %v", f, objs)
		}
	}
	be := localBackend(t)
	if _, err := Init(ctx, be, Options{ToolVersion: "test", Keys: Keys{Passphrase: "pw", ScryptWorkFactor: 12}}); err != nil {
		t.Fatal(err)
	}
	var cfg Config
	_ = json.Unmarshal(getObject(t, be, configName), &cfg)
	bin, _ := io.ReadAll(armor.NewReader(strings.NewReader(cfg.Encryption.PassphraseKey)))
	if !regexp.MustCompile(`(?m)^-> scrypt \S+ 12$`).Match(bin) {
		t.Fatalf("passphrase key not at work factor 12:\n%s", bin)
	}
}
