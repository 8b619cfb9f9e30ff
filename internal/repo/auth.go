package repo

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"filippo.io/age"
	"github.com/3scale-ops/3scale-ops/internal/errs"
)

// Auth authenticates an encrypted repository (see docs/repository-format.md,
// "Authentication"). The authentication key is 32 random bytes known only
// to holders of the repository's key: it is stored age-encrypted to the
// repository's recipients. config.json carries an HMAC-SHA256 under it;
// each manifest carries either such an HMAC (written by a holder of the
// key) or an Ed25519 signature by one of Writers (a backup job that holds
// a writer key but not the reading key).
type Auth struct {
	// Key is the armored age file holding the authentication key.
	Key string `json:"key"`
	// Writers are the Ed25519 public keys (base64) whose signatures make a
	// manifest authentic.
	Writers []string `json:"writers,omitempty"`
	// MAC is HMAC-SHA256(config key, config.json with an empty mac), hex.
	MAC string `json:"mac"`
}

// ManifestAuth is how a manifest proves who wrote it.
type ManifestAuth struct {
	MAC       string `json:"mac,omitempty"`       // hex HMAC-SHA256 by a holder of the repository key
	Writer    string `json:"writer,omitempty"`    // base64 Ed25519 public key, one of config.json's writers
	Signature string `json:"signature,omitempty"` // base64 Ed25519 signature
}

// WriterKey is the secret of a backup job that writes snapshots without
// the reading key. It is bound to one config.json: a backup with it
// refuses a repository whose config.json differs in any byte (for example
// swapped recipients).
type WriterKey struct {
	Format       int    `json:"format"`
	Repository   string `json:"repository"`
	ConfigSHA256 string `json:"config_sha256"`
	Public       string `json:"public"`
	Private      string `json:"private"` // base64 Ed25519 seed
	key          ed25519.PrivateKey
}

// ParseWriterKey reads a writer key file written by init.
func ParseWriterKey(r io.Reader) (*WriterKey, error) {
	var w WriterKey
	if err := json.NewDecoder(io.LimitReader(r, 64<<10)).Decode(&w); err != nil {
		return nil, fmt.Errorf("writer key file is not valid: %w", err)
	}
	seed, err := base64.StdEncoding.DecodeString(w.Private)
	if err != nil || len(seed) != ed25519.SeedSize || w.Repository == "" || len(w.ConfigSHA256) != 64 {
		return nil, errors.New("writer key file is not valid: it needs repository, config_sha256 and a private key")
	}
	w.key = ed25519.NewKeyFromSeed(seed)
	if base64.StdEncoding.EncodeToString(w.key.Public().(ed25519.PublicKey)) != w.Public {
		return nil, errors.New("writer key file is not valid: its public key does not match the private key")
	}
	return &w, nil
}

// Marshal returns the writer key file's content.
func (w *WriterKey) Marshal() []byte { return marshal(w) }

func subKey(k []byte, purpose string) []byte {
	h := hmac.New(sha256.New, k)
	h.Write([]byte("3scale-ops " + purpose))
	return h.Sum(nil)
}

func mac(k []byte, purpose string, parts ...[]byte) string {
	h := hmac.New(sha256.New, subKey(k, purpose))
	for _, p := range parts {
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func configBody(cfg Config) []byte {
	c := cfg
	a := *cfg.Auth
	a.MAC = ""
	c.Auth = &a
	return marshal(c)
}

func manifestBody(repoID string, m *Manifest) []byte {
	c := *m
	c.Auth = nil
	return append([]byte("3scale-ops manifest v1\n"+repoID+"\n"), marshal(&c)...)
}

// newAuth creates the authentication of a new encrypted repository; with
// writer set it also creates a writer key (its file needs the final
// config.json's hash, so the caller completes it).
func newAuth(rs []age.Recipient, writer bool) (*Auth, []byte, ed25519.PrivateKey, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, nil, nil, err
	}
	wrapped, err := armored(k, rs...)
	if err != nil {
		return nil, nil, nil, err
	}
	a := &Auth{Key: wrapped}
	var priv ed25519.PrivateKey
	if writer {
		pub, p, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, nil, nil, err
		}
		priv = p
		a.Writers = []string{base64.StdEncoding.EncodeToString(pub)}
	}
	return a, k, priv, nil
}

func sealConfig(cfg *Config, k []byte) {
	cfg.Auth.MAC = mac(k, "config", configBody(*cfg))
}

// authenticate checks config.json against the keys of this command: the
// reading key proves its MAC; a writer key proves it is byte for byte the
// config.json the key was issued for. Any failure is a usage error (exit
// 2): this repository is not the one the command was configured for.
func (r *Repository) authenticate(raw []byte, ids []age.Identity, w *WriterKey) error {
	cfg := r.cfg
	refuse := func(format string, a ...any) error {
		return errs.New(errs.Usage, "do not use this repository until you know who changed config.json; restore config.json from a copy you trust, or check --repo",
			"repository %s: "+format, append([]any{r.Location()}, a...)...)
	}
	if cfg.Auth == nil {
		return refuse("config.json of an encrypted repository carries no authentication: it was replaced or stripped by someone without the repository's key")
	}
	if len(ids) > 0 {
		k, err := unarmor(cfg.Auth.Key, ids...)
		if err != nil || len(k) != 32 {
			return refuse("config.json's authentication key does not open with the repository's key: config.json was replaced")
		}
		want := mac(k, "config", configBody(cfg))
		if subtle.ConstantTimeCompare([]byte(want), []byte(cfg.Auth.MAC)) != 1 {
			return refuse("config.json was changed by someone without the repository's key (its recipients, writers or parameters are not the ones the owner wrote)")
		}
		r.authKey = k
	}
	if w != nil {
		sum := sha256.Sum256(raw)
		if w.Repository != cfg.ID || hex.EncodeToString(sum[:]) != w.ConfigSHA256 {
			return refuse("config.json is not the one the writer key (--writer-key-file) was issued for (repository %s, config sha256 %s…): its recipients or parameters were changed; nothing was written",
				w.Repository, w.ConfigSHA256[:12])
		}
		if !slices.Contains(cfg.Auth.Writers, w.Public) {
			return refuse("the writer key is not one of config.json's writers")
		}
		r.writer = w
	}
	return nil
}

// CanWrite tells whether this command can commit snapshots that readers
// will accept: an encrypted repository needs its key or a writer key.
func (r *Repository) CanWrite() error {
	if !r.Encrypted() || r.authKey != nil || r.writer != nil {
		return nil
	}
	return errs.New(errs.Usage,
		"give the backup job its writer key (--writer-key-file or THREESCALE_OPS_WRITER_KEY_FILE, written by `3scale-ops init --writer-key-out`), or the repository's passphrase or identity",
		"repository %s is encrypted and authenticated: a backup without its key or a writer key could not prove who wrote it, and could not tell whether config.json is the owner's", r.Location())
}

// Authenticated reports whether snapshots of this repository are
// authenticated (encrypted repositories are; unencrypted ones are not).
func (r *Repository) Authenticated() bool { return r.Encrypted() }

func (r *Repository) signManifest(m *Manifest) error {
	body := manifestBody(r.cfg.ID, m)
	switch {
	case !r.Encrypted():
		return nil
	case r.authKey != nil:
		m.Auth = &ManifestAuth{MAC: mac(r.authKey, "manifest", body)}
	case r.writer != nil:
		m.Auth = &ManifestAuth{Writer: r.writer.Public,
			Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(r.writer.key, body))}
	default:
		return r.CanWrite()
	}
	return nil
}

// verifyManifest checks a manifest of an encrypted repository.
func (r *Repository) verifyManifest(m *Manifest) error {
	if !r.Encrypted() {
		return nil
	}
	a := m.Auth
	if a == nil {
		return fmt.Errorf("snapshot %s: manifest is not authenticated: written by someone without the repository's key or a writer key: %w", m.ID, artifactCorrupt)
	}
	body := manifestBody(r.cfg.ID, m)
	switch {
	case a.MAC != "" && r.authKey != nil:
		if subtle.ConstantTimeCompare([]byte(mac(r.authKey, "manifest", body)), []byte(a.MAC)) == 1 {
			return nil
		}
	case a.Signature != "" && r.cfg.Auth != nil && slices.Contains(r.cfg.Auth.Writers, a.Writer):
		pub, err1 := base64.StdEncoding.DecodeString(a.Writer)
		sig, err2 := base64.StdEncoding.DecodeString(a.Signature)
		if err1 == nil && err2 == nil && len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, body, sig) {
			return nil
		}
	}
	return fmt.Errorf("snapshot %s: manifest authentication failed: it was changed or written by someone without the repository's key or a writer key: %w", m.ID, artifactCorrupt)
}

// NewWriterKey completes the writer key created by Init (nil when none was
// asked for); its file goes to the backup job.
func (r *Repository) NewWriterKey() *WriterKey { return r.newWriter }

func newWriterKey(cfgID string, raw []byte, priv ed25519.PrivateKey) *WriterKey {
	sum := sha256.Sum256(raw)
	return &WriterKey{Format: 1, Repository: cfgID, ConfigSHA256: hex.EncodeToString(sum[:]),
		Public:  base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)),
		Private: base64.StdEncoding.EncodeToString(priv.Seed()), key: priv}
}
