package repo

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
)

// The fuzz targets below feed what anyone with write access to a
// repository can write (config.json, manifests, locks) and what an
// operator types (locations, snapshot ids) to their decoders. Each seed
// is a real object written by this package. `make fuzz` runs each target
// for a while; go test runs the seeds.

// fuzzRepo is one encrypted repository with one committed snapshot, made
// once per process: its config.json and manifest are the seeds, and the
// authentication properties are checked against its key.
type fuzzRepoT struct {
	r         *Repository
	id        age.Identity
	rawConfig []byte
	configMAC []byte // configBody of the real config.json
	snapshot  string
	manifest  []byte // the decrypted, authentic manifest
	body      []byte // manifestBody of the authentic manifest
	plainCfg  []byte // config.json of an unencrypted repository
	plainMan  []byte // manifest.json of an unencrypted repository
	lock      []byte // a real lock object
	lockName  string
}

var (
	fuzzOnce sync.Once
	fuzzR    fuzzRepoT
	fuzzErr  error
)

func fuzzRepo(t testing.TB) *fuzzRepoT {
	t.Helper()
	// Only the objects read at creation live in the directory: the
	// targets use them from memory, after the first test removed it.
	fuzzOnce.Do(func() { fuzzErr = makeFuzzRepo(&fuzzR, t.TempDir()) })
	if fuzzErr != nil {
		t.Fatal(fuzzErr)
	}
	return &fuzzR
}

func makeFuzzRepo(f *fuzzRepoT, dir string) error {
	ctx := context.Background()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return err
	}
	f.id = id
	be, _ := NewLocal(dir + "/enc")
	r, err := Init(ctx, be, Options{Keys: Keys{Recipients: []string{id.Recipient().String()}, Identities: []age.Identity{id}, NewWriter: true}})
	if err != nil {
		return err
	}
	f.r = r
	if f.rawConfig, err = readObject(ctx, be, configName); err != nil {
		return err
	}
	f.configMAC = configBody(r.cfg)
	m, err := commitOne(ctx, r)
	if err != nil {
		return err
	}
	f.snapshot = m.ID
	aged, err := readObject(ctx, be, snapshotsDir+m.ID+"/"+manifestAged)
	if err != nil {
		return err
	}
	pr, err := age.Decrypt(bytes.NewReader(aged), id)
	if err != nil {
		return err
	}
	if f.manifest, err = io.ReadAll(pr); err != nil {
		return err
	}
	f.body = manifestBody(r.cfg.ID, m)

	pbe, _ := NewLocal(dir + "/plain")
	pr2, err := Init(ctx, pbe, Options{})
	if err != nil {
		return err
	}
	if f.plainCfg, err = readObject(ctx, pbe, configName); err != nil {
		return err
	}
	pm, err := commitOne(ctx, pr2)
	if err != nil {
		return err
	}
	if f.plainMan, err = readObject(ctx, pbe, snapshotsDir+pm.ID+"/"+manifestPlain); err != nil {
		return err
	}
	l, err := pr2.Lock(ctx, "backup", false)
	if err != nil {
		return err
	}
	f.lockName = l.Info().ID
	f.lock, err = readObject(ctx, pbe, l.name())
	_ = l.Release(ctx)
	return err
}

func commitOne(ctx context.Context, r *Repository) (*Manifest, error) {
	s := r.NewSnapshot(ctx)
	c, err := s.Component("system-mysql")
	if err != nil {
		return nil, err
	}
	file, err := c.Create(ctx, "data.sql", "sql")
	if err != nil {
		return nil, err
	}
	_, _ = file.Write([]byte("INSERT INTO accounts VALUES (1);\n"))
	file.SetCount(1)
	if err := file.Close(); err != nil {
		return nil, err
	}
	_ = c.Set("tables", map[string]int{"accounts": 1})
	if err := c.Finish(); err != nil {
		return nil, err
	}
	return s.Commit(ctx, SnapshotInfo{Namespace: "3scale", ThreescaleVersion: "2.15", Tags: map[string]string{"k": "v"}})
}

func readObject(ctx context.Context, be Backend, name string) ([]byte, error) {
	rc, err := be.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// coded fails unless err carries the exit code of a damaged object (3)
// or of a newer format / bad input (2).
func coded(t *testing.T, what string, err error) {
	t.Helper()
	if c := errs.Code(err); c != errs.Mismatch && c != errs.Usage {
		t.Fatalf("%s: error without an exit code (%d): %v", what, c, err)
	}
	if errs.Code(err) == errs.Mismatch && !errors.Is(err, artifact.ErrCorrupt) {
		t.Fatalf("%s: damaged, but not artifact.ErrCorrupt: %v", what, err)
	}
}

func FuzzDecodeConfig(f *testing.F) {
	fr := fuzzRepo(f)
	f.Add(fr.rawConfig)
	f.Add(fr.plainCfg)
	lockCfg := Config{Format: 1, ID: "0123456789abcdef0123456789abcdef", Created: time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC),
		ObjectLock: &ObjectLock{Mode: "GOVERNANCE", For: 720 * time.Hour}}
	f.Add(marshal(lockCfg))
	f.Add([]byte(`{"format":2,"id":"x"}`))
	f.Add([]byte(`{"format":1,"id":"x","encryption":{"scheme":"age","recipients":[]}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg, err := DecodeConfig(raw)
		if err != nil {
			coded(t, "DecodeConfig", err)
			return
		}
		// Encoding is stable: decode(encode(cfg)) encodes the same.
		enc := marshal(cfg)
		cfg2, err := DecodeConfig(enc)
		if err != nil {
			t.Fatalf("a decoded config.json does not decode again: %v\n%s", err, enc)
		}
		if !bytes.Equal(marshal(cfg2), enc) {
			t.Fatalf("config.json encoding is not stable:\n%s\n%s", enc, marshal(cfg2))
		}
		if cfg.Encryption == nil {
			return
		}
		// Authentication: with the owner's key, only the owner's config
		// (up to encoding) is accepted.
		_, err = newRepository(fr.r.be, cfg, raw, Options{Keys: Keys{Identities: []age.Identity{fr.id}}})
		if err != nil {
			coded(t, "open", err)
			return
		}
		if cfg.Auth == nil || !bytes.Equal(configBody(cfg), fr.configMAC) {
			t.Fatalf("a changed config.json was accepted with the owner's key:\n%s", raw)
		}
	})
}

func FuzzDecodeManifest(f *testing.F) {
	fr := fuzzRepo(f)
	f.Add(fr.snapshot, fr.manifest)
	f.Add(fr.snapshot, fr.plainMan)
	f.Add(fr.snapshot, []byte(`{"format":1,"id":"`+fr.snapshot+`","components":[{"name":"../x","files":[]}]}`))
	f.Add(fr.snapshot, []byte(`{"format":1,"id":"`+fr.snapshot+`","components":[{"name":"a","files":[{"path":"a/../../config.json","size":-1}]}]}`))
	f.Add(fr.snapshot, fr.manifest[:len(fr.manifest)/2])
	f.Fuzz(func(t *testing.T, id string, raw []byte) {
		m, err := DecodeManifest(id, bytes.NewReader(raw))
		if err != nil {
			coded(t, "DecodeManifest", err)
			return
		}
		if m.ID != id {
			t.Fatalf("manifest of %q decoded for %q", m.ID, id)
		}
		enc := marshal(m)
		m2, err := DecodeManifest(id, bytes.NewReader(enc))
		if err != nil {
			t.Fatalf("a decoded manifest does not decode again: %v\n%s", err, enc)
		}
		if !bytes.Equal(marshal(m2), enc) {
			t.Fatalf("manifest encoding is not stable:\n%s\n%s", enc, marshal(m2))
		}
		for _, c := range m.Components {
			for _, file := range c.Files {
				if cleanName(file.Path) != nil {
					t.Fatalf("a manifest with path %q was accepted", file.Path)
				}
			}
		}
		// Authentication: only the manifest the repository's key (or its
		// writer key) signed verifies, whatever else was changed.
		if err := fr.r.verifyManifest(m); err != nil {
			if !errors.Is(err, artifact.ErrCorrupt) {
				t.Fatalf("verification failure is not ErrCorrupt: %v", err)
			}
			return
		}
		if !bytes.Equal(manifestBody(fr.r.cfg.ID, m), fr.body) {
			t.Fatalf("a changed manifest was authenticated:\n%s", raw)
		}
	})
}

func FuzzDecodeLock(f *testing.F) {
	fr := fuzzRepo(f)
	f.Add(fr.lockName, fr.lock)
	f.Add("../config", []byte(`{"id":"../config","operation":"backup","refreshed":"2000-01-01T00:00:00Z"}`))
	f.Add(fr.lockName, []byte(`{"id":"`+fr.lockName+`"} {}`))
	f.Fuzz(func(t *testing.T, name string, raw []byte) {
		l, err := DecodeLock(name, raw)
		if err != nil {
			coded(t, "DecodeLock", err)
			return
		}
		if l.ID != name || !ValidSnapshotID(l.ID) || cleanName(locksDir+l.ID+".json") != nil {
			t.Fatalf("lock %q accepted under name %q", l.ID, name)
		}
		enc := marshal(l)
		l2, err := DecodeLock(name, enc)
		if err != nil || !bytes.Equal(marshal(l2), enc) {
			t.Fatalf("lock encoding is not stable (%v):\n%s\n%s", err, enc, marshal(l2))
		}
	})
}

func FuzzParseLocation(f *testing.F) {
	for _, s := range []string{"/var/backups/3scale", "backups", "file:///var/backups/3scale", "file://localhost/srv/r",
		"s3://minio.local:9000/backups/3scale/prod", "s3://s3.eu-west-1.amazonaws.com/bucket", "s3://AKIA:s3cr3tpassword@host/bucket",
		"s3://host", "file://", "gs://bucket/x", "s3://[::1]:9000/b/p/q"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLocation(s)
		if err != nil {
			if errs.Code(err) != errs.Usage {
				t.Fatalf("ParseLocation(%q): error without exit code 2: %v", s, err)
			}
			if pw := urlPassword(s); pw != "" && strings.Contains(err.Error(), pw) {
				t.Fatalf("ParseLocation(%q) echoes the password: %v", s, err)
			}
			return
		}
		switch l.Kind {
		case "local":
			if l.Path == "" && s != "" {
				t.Fatalf("ParseLocation(%q): empty path", s)
			}
		case "s3":
			c := l.S3
			if c.Endpoint == "" || c.Bucket == "" || strings.Contains(c.Bucket, "/") {
				t.Fatalf("ParseLocation(%q): %+v", s, c)
			}
			again, err := ParseLocation("s3://" + c.Endpoint + "/" + c.Bucket + "/" + c.Prefix)
			if err != nil || again.S3.Endpoint != c.Endpoint || again.S3.Bucket != c.Bucket || strings.Trim(again.S3.Prefix, "/") != strings.Trim(c.Prefix, "/") {
				t.Fatalf("ParseLocation(%q) = %+v, its own form parses as %+v (%v)", s, c, again.S3, err)
			}
		default:
			t.Fatalf("ParseLocation(%q): kind %q", s, l.Kind)
		}
	})
}

// urlPassword is the password of a URL's userinfo, when it is long enough
// to be told apart from the rest of the text.
func urlPassword(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return ""
	}
	info, _, ok := strings.Cut(rest, "@")
	if !ok || strings.ContainsAny(info, "/") {
		return ""
	}
	_, pw, ok := strings.Cut(info, ":")
	if !ok || len(pw) < 4 || strings.Contains(scheme+rest[len(info):], pw) {
		return ""
	}
	return pw
}

func FuzzSnapshotID(f *testing.F) {
	for _, s := range []string{NewSnapshotID(time.Date(2026, 11, 23, 2, 0, 0, 123e6, time.UTC)), "20261123T020000Z-a1b2c3",
		"20261399T020000Z-a1b2c3", "20260229T020000Z-a1b2c3", "20261123T020000Z-A1B2C3", "latest", "../x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := SnapshotTime(s)
		if ValidSnapshotID(s) != (err == nil) {
			t.Fatalf("ValidSnapshotID(%q) = %v, SnapshotTime error %v", s, ValidSnapshotID(s), err)
		}
		if err != nil {
			if errs.Code(err) != errs.Usage {
				t.Fatalf("SnapshotTime(%q): error without exit code 2: %v", s, err)
			}
			return
		}
		if tm.Format(idTimeLayout) != s[:16] || cleanName(snapshotsDir+s+"/"+manifestName) != nil {
			t.Fatalf("snapshot id %q: time %v", s, tm)
		}
		if got := NewSnapshotID(tm); !ValidSnapshotID(got) || got[:16] != s[:16] {
			t.Fatalf("NewSnapshotID(%v) = %q", tm, got)
		}
	})
}
