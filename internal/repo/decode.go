package repo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/errs"
)

// The decoders of what a repository holds. Anyone who can write the
// repository can write these objects, so each decoder bounds what it
// reads, never panics, and returns errors that carry an exit code: a
// damaged object is errs.Mismatch (wrapping artifact.ErrCorrupt), an
// object of a newer format is errs.Usage ("upgrade 3scale-ops").

// Size limits of the small JSON objects; anything longer is damaged.
const (
	maxConfigSize   = 1 << 20
	maxManifestSize = 64 << 20
	maxLockSize     = 64 << 10
	// MaxJournalSize bounds a restore journal: a few steps with small
	// summaries.
	MaxJournalSize = 4 << 20
)

// DecodeConfig parses config.json.
func DecodeConfig(raw []byte) (Config, error) {
	damaged := func(format string, a ...any) error {
		return errs.Corrupt(fmt.Errorf("config.json "+format+": %w", append(a, artifactCorrupt)...),
			"restore config.json from a copy you trust, or check --repo")
	}
	if len(raw) > maxConfigSize {
		return Config{}, damaged("is larger than %d bytes", maxConfigSize)
	}
	var cfg Config
	if err := StrictJSON(raw, &cfg); err != nil {
		return Config{}, damaged("is not valid: %v", err)
	}
	if cfg.Format > FormatVersion {
		return Config{}, errs.New(errs.Usage, "upgrade 3scale-ops to a release that reads this format",
			"repository format %d; this 3scale-ops reads format %d and older", cfg.Format, FormatVersion)
	}
	if cfg.Format < 1 || cfg.ID == "" {
		return Config{}, damaged("has no format or id")
	}
	if e := cfg.Encryption; e != nil && e.Scheme != "age" {
		return Config{}, damaged("names encryption scheme %q; this 3scale-ops knows age", e.Scheme)
	} else if e != nil {
		if _, err := e.recipients(); err != nil {
			return Config{}, damaged("has no usable recipients: %v", err)
		}
	}
	if l := cfg.ObjectLock; l != nil && (l.For <= 0 || (l.Mode != "GOVERNANCE" && l.Mode != "COMPLIANCE")) {
		return Config{}, damaged("has an object lock of mode %q for %s", l.Mode, l.For)
	}
	return cfg, nil
}

// DecodeManifest parses the (decrypted) manifest of snapshot id. It does
// not authenticate it: LoadManifest does that next.
func DecodeManifest(id string, in io.Reader) (*Manifest, error) {
	damaged := func(format string, a ...any) error {
		return errs.Corrupt(fmt.Errorf("snapshot %s: manifest "+format+": %w", append(append([]any{id}, a...), artifactCorrupt)...),
			"`3scale-ops backups list` shows the damaged snapshot; restore another one, or remove it with `backups prune --forget-damaged`")
	}
	raw, err := io.ReadAll(io.LimitReader(in, maxManifestSize+1))
	if err != nil {
		return nil, damaged("cannot be read: %v", err)
	}
	if len(raw) > maxManifestSize {
		return nil, damaged("is larger than %d bytes", maxManifestSize)
	}
	var m Manifest
	if err := StrictJSON(raw, &m); err != nil {
		return nil, damaged("is not valid JSON: %v", err)
	}
	if m.Format > FormatVersion {
		return nil, errs.New(errs.Usage, "upgrade 3scale-ops", "snapshot %s has manifest format %d; this 3scale-ops reads %d", id, m.Format, FormatVersion)
	}
	if m.ID != id {
		return nil, damaged("names snapshot %q", m.ID)
	}
	seen := map[string]bool{}
	for _, c := range m.Components {
		if err := cleanName(c.Name); err != nil || strings.Contains(c.Name, "/") {
			return nil, damaged("has a component named %q", c.Name)
		}
		if seen[c.Name] {
			return nil, damaged("lists component %s twice", c.Name)
		}
		seen[c.Name] = true
		for _, f := range c.Files {
			if err := cleanName(f.Path); err != nil {
				return nil, damaged("component %s: file %q has an invalid path %q", c.Name, f.Name, f.Path)
			}
			if f.Size < 0 || f.RawSize < 0 || f.Count < 0 {
				return nil, damaged("component %s: file %s has a negative size or count", c.Name, f.Name)
			}
		}
	}
	return &m, nil
}

// DecodeLock parses locks/<name>.json. The lock's id is its object name:
// a lock whose content names another id is damaged (removing it must
// remove exactly the object that was read).
func DecodeLock(name string, raw []byte) (LockInfo, error) {
	damaged := func(format string, a ...any) error {
		return errs.Corrupt(fmt.Errorf("lock %s "+format+": %w", append(append([]any{name}, a...), artifactCorrupt)...),
			"if no other 3scale-ops is working on this repository, delete that object")
	}
	if len(raw) > maxLockSize {
		return LockInfo{}, damaged("is larger than %d bytes", maxLockSize)
	}
	var l LockInfo
	if err := StrictJSON(raw, &l); err != nil {
		return LockInfo{}, damaged("is not valid: %v", err)
	}
	if l.ID != name || !ValidSnapshotID(l.ID) {
		return LockInfo{}, damaged("names lock %q", l.ID)
	}
	return l, nil
}

// StrictJSON decodes exactly one JSON value (trailing data is an error):
// the decoders of repository objects, here and in the restore journal.
func StrictJSON(raw []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	return nil
}
