package repo

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
)

// initWithWriter creates a passphrase repository and its writer key.
func initWithWriter(t *testing.T) (*Local, Options, *WriterKey) {
	t.Helper()
	be := localBackend(t)
	opts := testOpts("zstd", "passphrase", t)
	opts.Keys.NewWriter = true
	r, err := Init(ctx, be, opts)
	if err != nil {
		t.Fatal(err)
	}
	w := r.NewWriterKey()
	if w == nil {
		t.Fatal("no writer key")
	}
	// Through its file form, as a backup job gets it.
	w, err = ParseWriterKey(bytes.NewReader(w.Marshal()))
	if err != nil {
		t.Fatal(err)
	}
	opts.Keys.NewWriter = false
	return be, opts, w
}

func getObject(t *testing.T, be Backend, name string) []byte {
	t.Helper()
	rc, err := be.Get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return b
}

func TestWriterKeyBacksUpWithoutTheReadingKey(t *testing.T) {
	be, opts, w := initWithWriter(t)
	job, err := Open(ctx, be, Options{ToolVersion: "test", Keys: Keys{Writer: w}})
	if err != nil {
		t.Fatal(err)
	}
	if err := job.CanWrite(); err != nil {
		t.Fatal(err)
	}
	m, want := writeSnapshot(t, job, 1000, 70000)
	if _, err := job.LoadManifest(ctx, m.ID); errs.Code(err) != errs.Usage {
		t.Fatalf("the writer key reads manifests: %v", err)
	}
	owner, err := Open(ctx, be, opts)
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, owner, m.ID, want, true)
	// The owner's own backups are authenticated with the repository key.
	m2, _ := writeSnapshot(t, owner, 10)
	if got, err := owner.LoadManifest(ctx, m2.ID); err != nil || got.Auth == nil || got.Auth.MAC == "" {
		t.Fatalf("owner's manifest: %v %+v", err, got)
	}
}

func TestSwappedRecipientsAreRefused(t *testing.T) {
	be, opts, w := initWithWriter(t)
	var cfg map[string]any
	if err := json.Unmarshal(getObject(t, be, configName), &cfg); err != nil {
		t.Fatal(err)
	}
	attacker, _ := age.GenerateX25519Identity()
	cfg["encryption"].(map[string]any)["recipients"] = []string{attacker.Recipient().String()}
	b, _ := json.Marshal(cfg)
	if err := be.Put(ctx, configName, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, be, Options{Keys: Keys{Writer: w}}); errs.Code(err) != errs.Usage || !strings.Contains(err.Error(), "writer key") {
		t.Fatalf("backup job with its writer key: %v", err)
	}
	if _, err := Open(ctx, be, opts); errs.Code(err) != errs.Usage || !strings.Contains(err.Error(), "changed") {
		t.Fatalf("owner: %v", err)
	}
	// A job configured with the recipients it should encrypt to.
	own, _ := age.GenerateX25519Identity()
	if _, err := Open(ctx, be, Options{Keys: Keys{Recipients: []string{own.Recipient().String()}}}); errs.Code(err) != errs.Usage {
		t.Fatalf("backup job with --recipient: %v", err)
	}
	objs, _ := be.List(ctx, snapshotsDir)
	if len(objs) != 0 {
		t.Fatalf("something was written: %v", objs)
	}
}

func TestConfigDowngradesAreRefused(t *testing.T) {
	be, opts, w := initWithWriter(t)
	// Authentication stripped.
	var cfg Config
	_ = json.Unmarshal(getObject(t, be, configName), &cfg)
	stripped := cfg
	stripped.Auth = nil
	_ = be.Put(ctx, configName, bytes.NewReader(marshal(stripped)))
	if _, err := Open(ctx, be, opts); errs.Code(err) != errs.Usage || !strings.Contains(err.Error(), "no authentication") {
		t.Fatalf("stripped auth: %v", err)
	}
	// Replaced by an unencrypted config: a command with a key refuses it.
	plain := Config{Format: cfg.Format, ID: cfg.ID, Created: cfg.Created}
	_ = be.Put(ctx, configName, bytes.NewReader(marshal(plain)))
	for _, k := range []Keys{opts.Keys, {Writer: w}} {
		if _, err := Open(ctx, be, Options{Keys: k}); errs.Code(err) != errs.Usage || !strings.Contains(err.Error(), "not encrypted") {
			t.Fatalf("unencrypted config with a key: %v", err)
		}
	}
}

// encryptTo writes plain as an age file to the repository's (public) recipients.
func encryptTo(t *testing.T, r *Repository, plain []byte) []byte {
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r.rcpts...)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write(plain)
	_ = w.Close()
	return buf.Bytes()
}

func TestForgedManifestsAreRefused(t *testing.T) {
	be, opts, _ := initWithWriter(t)
	owner, err := Open(ctx, be, opts)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := writeSnapshot(t, owner, 100)
	// The attacker knows only public things; here the test takes the
	// manifest's content from the owner to forge the most plausible one:
	// one file's hashes and sizes changed, the rest (and auth) kept.
	forged := *m
	forged.Components = append([]Component(nil), m.Components...)
	forged.Components[0].Files = append([]FileEntry(nil), m.Components[0].Files...)
	forged.Components[0].Files[0].SHA256 = strings.Repeat("0", 64)
	forged.Components[0].Files[0].Size++
	name := snapshotsDir + m.ID + "/" + manifestAged
	unsigned := forged
	unsigned.Auth = nil
	cases := map[string][]byte{
		"changed file entry, old MAC": encryptTo(t, owner, marshal(&forged)),
		"no authentication":           encryptTo(t, owner, marshal(&unsigned)),
	}
	// A signature by a key that is not one of the writers.
	_, _, other := initWithWriter(t)
	stranger := &Repository{cfg: owner.cfg, writer: other}
	stranger.cfg.Encryption = owner.cfg.Encryption
	signed := unsigned
	if err := stranger.signManifest(&signed); err != nil {
		t.Fatal(err)
	}
	cases["signed by an unknown writer"] = encryptTo(t, owner, marshal(&signed))
	for what, body := range cases {
		if err := be.Put(ctx, name, bytes.NewReader(body)); err != nil {
			t.Fatal(err)
		}
		_, err := owner.LoadManifest(ctx, m.ID)
		if !errors.Is(err, artifact.ErrCorrupt) || !strings.Contains(err.Error(), "authentic") {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// A plain manifest.json dropped beside it in an encrypted repository.
	_ = be.Delete(ctx, name)
	_ = be.Put(ctx, snapshotsDir+m.ID+"/"+manifestPlain, bytes.NewReader(marshal(m)))
	if _, err := owner.LoadManifest(ctx, m.ID); !errors.Is(err, artifact.ErrCorrupt) {
		t.Fatalf("plain manifest in an encrypted repository: %v", err)
	}
}
