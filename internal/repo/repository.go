package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"crypto/ed25519"

	"filippo.io/age"
	"github.com/3scale-ops/3scale-ops/internal/errs"
)

// Options configure how a Repository is opened or created.
type Options struct {
	Keys        Keys
	Compression string // zstd (default), gzip or none
	Level       int    // compression level; 0 = zstd 1 (the fastest), gzip 5 (klauspost's default)
	Threads     int    // zstd encoder goroutines per file; 0 = min(GOMAXPROCS, 4)
	ToolVersion string
	LockTTL     time.Duration // 0 = DefaultLockTTL
	// ObjectLock (Init only): write every snapshot object with this S3
	// object lock retention, in ObjectLockMode (GOVERNANCE by default).
	ObjectLock     time.Duration
	ObjectLockMode string
	Logger         *slog.Logger
	now            func() time.Time
}

// Repository is an opened snapshot repository.
type Repository struct {
	be    Backend
	state Backend // --state-dir: locks and restore journals (nil: be)
	cfg   Config
	opts  Options
	rcpts []age.Recipient
	ids   []age.Identity
	log   *slog.Logger

	authKey   []byte     // with the repository's key: authenticates config and manifests
	writer    *WriterKey // a backup job's key: signs manifests
	newWriter *WriterKey // created by Init

	// encoders holds zstd encoders of finished files for the next one: an
	// encoder's history and tables are about 6 MiB, and a backup writes
	// thousands of files (one per table chunk), so a new one per file
	// would be garbage at the rate of the data itself.
	encoders sync.Pool
}

// ErrNoRepository is wrapped when a location holds no config.json.
var ErrNoRepository = errors.New("no repository")

// Init creates a repository in an empty location. Giving a passphrase or
// recipients makes it encrypted.
func Init(ctx context.Context, be Backend, opts Options) (*Repository, error) {
	if _, err := be.Stat(ctx, configName); err == nil {
		return nil, errs.UsageError("use it as it is, or choose another --repo",
			"a repository already exists at %s", be.Location())
	} else if !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("repository %s: %w", be.Location(), err)
	}
	cfg := Config{Format: FormatVersion, ID: newRepoID(), Created: time.Now().UTC()}
	if opts.ObjectLock > 0 {
		if err := initObjectLock(ctx, be, &cfg, opts.ObjectLockMode, opts.ObjectLock); err != nil {
			return nil, err
		}
	}
	var authKey []byte
	var writer ed25519.PrivateKey
	if opts.Keys.Passphrase != "" || len(opts.Keys.Recipients) > 0 {
		enc, key, err := newEncryption(cfg.ID, opts.Keys)
		if err != nil {
			return nil, errs.Wrap(errs.Usage, err, "check --password-file / --recipient / --recipients-file")
		}
		if key != nil {
			// The key just wrapped with the passphrase opens the new
			// repository: no second scrypt to unwrap it.
			opts.Keys.Identities = append(append([]age.Identity(nil), opts.Keys.Identities...), key)
			opts.Keys.Passphrase = ""
		}
		cfg.Encryption = enc
		rs, err := enc.recipients()
		if err != nil {
			return nil, err
		}
		if cfg.Auth, authKey, writer, err = newAuth(rs, opts.Keys.NewWriter); err != nil {
			return nil, err
		}
		sealConfig(&cfg, authKey)
	} else if opts.Keys.NewWriter {
		return nil, errs.UsageError("give --password-file or --recipient to create an encrypted, authenticated repository",
			"a writer key needs an encrypted repository: an unencrypted one is not authenticated")
	}
	raw := marshal(cfg)
	if err := be.Put(ctx, configName, bytes.NewReader(raw)); err != nil {
		return nil, fmt.Errorf("create repository at %s: %w", be.Location(), err)
	}
	opts.Keys.Writer = nil
	r, err := newRepository(be, cfg, raw, opts)
	if err != nil {
		return nil, err
	}
	r.authKey = authKey
	if writer != nil {
		r.newWriter = newWriterKey(cfg.ID, raw, writer)
	}
	return r, nil
}

// Open opens an existing repository. With encryption, the given keys are
// checked; without keys, the repository can still take backups (they are
// encrypted to its recipients) but cannot read manifests or files.
func Open(ctx context.Context, be Backend, opts Options) (*Repository, error) {
	rc, err := be.Get(ctx, configName)
	if errors.Is(err, ErrNotFound) {
		return nil, errs.Wrap(errs.Usage, fmt.Errorf("%w at %s (config.json missing)", ErrNoRepository, be.Location()),
			"create one with `3scale-ops init` (or run `backup`, which creates it), or check --repo")
	}
	if err != nil {
		return nil, fmt.Errorf("open repository %s: %w", be.Location(), err)
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("open repository %s: read config.json: %w", be.Location(), err)
	}
	cfg, err := DecodeConfig(raw)
	if err != nil {
		return nil, errs.Wrap(errs.Code(err), fmt.Errorf("repository %s: %w", be.Location(), err), errs.Hint(err))
	}
	return newRepository(be, cfg, raw, opts)
}

// OpenOrInit opens the repository, creating it when the location is empty.
func OpenOrInit(ctx context.Context, be Backend, opts Options) (r *Repository, created bool, err error) {
	r, err = Open(ctx, be, opts)
	if errors.Is(err, ErrNoRepository) {
		r, err = Init(ctx, be, opts)
		return r, err == nil, err
	}
	return r, false, err
}

func newRepository(be Backend, cfg Config, raw []byte, opts Options) (*Repository, error) {
	r := &Repository{be: be, cfg: cfg, opts: opts, log: opts.Logger}
	if cfg.ObjectLock != nil {
		rb, ok := be.(retainer)
		if !ok {
			return nil, errs.UsageError("open it through its S3 location", "repository %s asks for object lock retention, which only S3 gives", be.Location())
		}
		rb.SetRetention(cfg.ObjectLock.Mode, cfg.ObjectLock.For)
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if opts.now == nil {
		r.opts.now = time.Now
	}
	switch opts.Compression {
	case "":
		r.opts.Compression = "zstd"
	case "zstd", "gzip", "none":
	default:
		return nil, errs.UsageError("use --compression zstd, gzip or none", "unknown compression %q", opts.Compression)
	}
	if cfg.Encryption == nil {
		if k := opts.Keys; k.Passphrase != "" || len(k.Identities) > 0 || len(k.Recipients) > 0 || k.Writer != nil {
			return nil, errs.New(errs.Usage, "if the repository should be encrypted, its config.json was replaced: restore it from a copy you trust; otherwise give no key",
				"repository %s is not encrypted, but this command was given a key (passphrase, identity, recipient or writer key): refusing to write or read it unencrypted", be.Location())
		}
		return r, nil
	}
	var err error
	if r.rcpts, err = cfg.Encryption.recipients(); err != nil {
		return nil, err
	}
	if r.ids, err = cfg.Encryption.identities(cfg.ID, opts.Keys); err != nil {
		if wf := (*WorkFactorError)(nil); errors.As(err, &wf) {
			return nil, errs.Wrap(errs.Usage, fmt.Errorf("repository %s: %w", be.Location(), err),
				"do not use this repository until you know who changed config.json; check --repo")
		}
		return nil, errs.Wrap(errs.Usage, fmt.Errorf("repository %s: %w", be.Location(), err),
			"give the repository's passphrase (--password-file or THREESCALE_OPS_PASSWORD) or an age identity (--identity-file)")
	}
	if err := cfg.Encryption.sameRecipients(opts.Keys); err != nil {
		return nil, errs.Wrap(errs.Usage, fmt.Errorf("repository %s: %w", be.Location(), err),
			"do not use this repository until you know who changed config.json; check --recipient and --repo")
	}
	if err := r.authenticate(raw, r.ids, opts.Keys.Writer); err != nil {
		return nil, err
	}
	return r, nil
}

// Config returns config.json.
func (r *Repository) Config() Config { return r.cfg }

// Backend returns the storage backend.
func (r *Repository) Backend() Backend { return r.be }

// Location describes where the repository is.
func (r *Repository) Location() string { return r.be.Location() }

// Encrypted reports whether the repository encrypts its files.
func (r *Repository) Encrypted() bool { return r.cfg.Encryption != nil }

// needKey fails when an encrypted repository must be read without a key.
func (r *Repository) needKey(what string) error {
	if r.Encrypted() && len(r.ids) == 0 {
		return errs.New(errs.Usage,
			"give the repository's passphrase (--password-file or THREESCALE_OPS_PASSWORD) or an age identity (--identity-file)",
			"repository %s is encrypted: reading %s needs its key", r.Location(), what)
	}
	return nil
}

// SnapshotRef is a snapshot directory found in the repository.
type SnapshotRef struct {
	ID       string
	Time     time.Time
	Complete bool // has a manifest; incomplete ones are invisible to list and restore
	Size     int64
}

// Snapshots lists the snapshot directories, oldest first, complete or not.
func (r *Repository) Snapshots(ctx context.Context) ([]SnapshotRef, error) {
	objs, err := r.be.List(ctx, snapshotsDir)
	if err != nil {
		return nil, err
	}
	byID := map[string]*SnapshotRef{}
	for _, o := range objs {
		rest := strings.TrimPrefix(o.Name, snapshotsDir)
		id, file, ok := strings.Cut(rest, "/")
		if !ok || !ValidSnapshotID(id) {
			continue
		}
		s := byID[id]
		if s == nil {
			t, _ := SnapshotTime(id)
			s = &SnapshotRef{ID: id, Time: t}
			byID[id] = s
		}
		s.Size += o.Size
		if file == manifestPlain || file == manifestAged {
			s.Complete = true
		}
	}
	out := make([]SnapshotRef, 0, len(byID))
	for _, s := range byID {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// ResolveID turns "latest", a full id or a unique id prefix into the id of
// a committed snapshot.
func (r *Repository) ResolveID(ctx context.Context, ref string) (string, error) {
	snaps, err := r.Snapshots(ctx)
	if err != nil {
		return "", err
	}
	if ref == "latest" {
		return r.latestReadable(ctx, snaps)
	}
	var match []string
	for _, s := range snaps {
		if s.Complete && (s.ID == ref || strings.HasPrefix(s.ID, ref)) {
			match = append(match, s.ID)
		}
	}
	switch {
	case len(match) == 0:
		return "", errs.New(errs.Usage, "run `3scale-ops backups list` to see the snapshots",
			"no snapshot %q in %s: %w", ref, r.Location(), artifactNotFound)
	case len(match) > 1:
		return "", errs.UsageError("give more characters of the id", "snapshot id %q is ambiguous (%d match)", ref, len(match))
	}
	return match[0], nil
}

// LoadManifest reads a committed snapshot's manifest.
func (r *Repository) LoadManifest(ctx context.Context, id string) (*Manifest, error) {
	if !ValidSnapshotID(id) {
		return nil, errs.UsageError("run `3scale-ops backups list` to see the snapshots", "%q is not a snapshot id", id)
	}
	dir := snapshotsDir + id + "/"
	rc, err := r.be.Get(ctx, dir+manifestPlain)
	encrypted := false
	if errors.Is(err, ErrNotFound) {
		rc, err = r.be.Get(ctx, dir+manifestAged)
		encrypted = true
	}
	if errors.Is(err, ErrNotFound) {
		return nil, errs.New(errs.Usage, "run `3scale-ops backups list`; `backups prune` removes incomplete snapshots",
			"snapshot %s has no manifest in %s (it does not exist or was never completed): %w", id, r.Location(), artifactNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", id, err)
	}
	defer rc.Close()
	var in io.Reader = rc
	if encrypted {
		if err := r.needKey("snapshot " + id); err != nil {
			return nil, err
		}
		if in, err = age.Decrypt(rc, r.ids...); err != nil {
			return nil, fmt.Errorf("snapshot %s: decrypt manifest: %w: %w", id, err, artifactCorrupt)
		}
	}
	m, err := DecodeManifest(id, in)
	if err != nil {
		return nil, err
	}
	if r.Encrypted() && !encrypted {
		return nil, fmt.Errorf("snapshot %s: a plain manifest.json in an encrypted repository (not written by 3scale-ops): %w", id, artifactCorrupt)
	}
	if err := r.verifyManifest(m); err != nil {
		return nil, err
	}
	return m, nil
}

// DeleteSnapshot removes a snapshot: the manifest first, so that it is
// invisible at once, then every other file of its directory.
func (r *Repository) DeleteSnapshot(ctx context.Context, id string) error {
	if !ValidSnapshotID(id) {
		return fmt.Errorf("%q is not a snapshot id", id)
	}
	dir := snapshotsDir + id + "/"
	for _, n := range []string{manifestPlain, manifestAged} {
		if err := r.be.Delete(ctx, dir+n); err != nil {
			return fmt.Errorf("delete snapshot %s: %w", id, err)
		}
	}
	return r.deletePrefix(ctx, dir)
}

func (r *Repository) deletePrefix(ctx context.Context, prefix string) error {
	objs, err := r.be.List(ctx, prefix)
	if err != nil {
		return err
	}
	var first error
	for _, o := range objs {
		if err := r.be.Delete(ctx, o.Name); err != nil && first == nil {
			first = err
		}
	}
	if d, ok := r.be.(emptyDirRemover); ok && first == nil {
		first = d.removeEmptyDirs(prefix)
	}
	return first
}

// emptyDirRemover is a backend with directories of its own (the local
// one): a prefix whose objects are gone may still leave its directory,
// e.g. when an aborted upload's temporary file was the only thing in it.
type emptyDirRemover interface {
	removeEmptyDirs(prefix string) error
}

// PutRestoreJournal stores a small JSON object under restores/NAME.json
// (the restore engine's journal). It replaces any earlier one atomically.
func (r *Repository) PutRestoreJournal(ctx context.Context, name string, v any) error {
	if err := cleanName(name); err != nil || strings.Contains(name, "/") {
		return fmt.Errorf("restore journal name %q: must be one path element", name)
	}
	if err := r.stateBE().Put(ctx, restoresDir+name+".json", bytes.NewReader(marshal(v))); err != nil {
		if r.state == nil && readOnly(err) {
			return r.readOnlyError("restore journal", "restore", err)
		}
		return err
	}
	return nil
}

// GetRestoreJournal decodes restores/NAME.json into v; a missing journal
// gives an error wrapping ErrNotFound (and artifact.ErrNotFound).
func (r *Repository) GetRestoreJournal(ctx context.Context, name string, v any) error {
	rc, err := r.stateBE().Get(ctx, restoresDir+name+".json")
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("restore journal %s: %w: %w", name, ErrNotFound, artifactNotFound)
		}
		return err
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, MaxJournalSize+1))
	if err != nil {
		return fmt.Errorf("restore journal %s: %w", name, err)
	}
	if len(raw) > MaxJournalSize {
		return errs.Corrupt(fmt.Errorf("restore journal %s is larger than %d bytes: %w", name, MaxJournalSize, artifactCorrupt), "")
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return errs.Corrupt(fmt.Errorf("restore journal %s is not valid: %v: %w", name, err, artifactCorrupt), "")
	}
	return nil
}

// DeleteRestoreJournal removes restores/NAME.json.
func (r *Repository) DeleteRestoreJournal(ctx context.Context, name string) error {
	return r.stateBE().Delete(ctx, restoresDir+name+".json")
}

// RestoreJournals lists the names of the restore journals of a snapshot
// (restores/<snapshot>-<target>.json), sorted.
func (r *Repository) RestoreJournals(ctx context.Context, snapshot string) ([]string, error) {
	objs, err := r.stateBE().List(ctx, restoresDir+snapshot+"-")
	if err != nil {
		return nil, fmt.Errorf("list restore journals in %s: %w", r.Location(), err)
	}
	var out []string
	for _, o := range objs {
		if n, ok := strings.CutSuffix(strings.TrimPrefix(o.Name, restoresDir), ".json"); ok && !strings.Contains(n, "/") {
			out = append(out, n)
		}
	}
	return out, nil
}
