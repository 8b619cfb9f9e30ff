// Package storage is the system-storage engine: the files 3scale keeps
// under /opt/system/public/system (CMS uploads, attachments, generated
// configuration), read from and written back to a local directory, an S3
// bucket/prefix, or the system-app pod through exec streaming `tar`. The
// artifact is one standard tar stream, files.tar, that `tar x` extracts:
// paths (UTF-8, PAX), modes, mtimes, symlinks and empty directories
// survive.
//
// It streams: no file and no archive is ever held whole in memory or
// staged on local disk. On restore it must never write outside the
// target: absolute paths, ".." and escaping symlink targets are refused
// before anything is written (Preflight) and again while extracting.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/component"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
)

// Component is the component name in snapshots and on the command line.
const Component = component.SystemStorage

// FileName and MetaKey are what a backup writes into the sink.
const (
	FileName = "files.tar"
	MetaKey  = "storage"
)

// Options tune the engine; the zero value is the 3scale default.
type Options struct {
	Workload  string // pod mode: the workload whose pod mounts the storage (default system-app)
	Container string // pod mode: container to exec in (default system-master)
	// Overwrite allows restoring into a target that already holds files.
	// A directory is emptied first (its entries are removed, the directory
	// itself stays: it may be a mount point), so that it holds exactly the
	// snapshot's tree. In S3 and in the pod's volume, files with the same
	// names are replaced and others are kept.
	Overwrite bool
	Logger    *slog.Logger
}

// Location is where system-storage lives.
type Location struct {
	Kind   string // "dir", "s3" or "pod"
	Path   string // dir: local directory; pod: path inside the system-app pod
	S3     S3Location
	Source string // where the location was found (flag, secret), for display
}

// S3Location is an S3 bucket and prefix with its credentials.
type S3Location struct {
	Endpoint  string // host[:port]
	Bucket    string
	Prefix    string
	AccessKey string
	SecretKey string
	Region    string
	Insecure  bool // plain http
	PathStyle bool
}

// PodPath is where system-app mounts the system-storage PVC.
const PodPath = "/opt/system/public/system"

// Redacted describes the location for display.
func (s Location) Redacted() string {
	switch s.Kind {
	case "dir":
		return "dir://" + s.Path
	case "s3":
		return "s3://" + s.S3.Endpoint + "/" + s.S3.Bucket + "/" + s.S3.Prefix
	default:
		return "pod system-app:" + s.Path
	}
}

// Pod runs commands in the container that mounts the storage (pod mode).
// The Kubernetes layer implements it (internal/kube.PodExec, through
// internal/engines); this package never talks to Kubernetes itself.
type Pod interface {
	// Name is the pod's name, for messages and the metadata.
	Name() string
	// Exec runs command, streaming stdin (nil: none) to it and its stdout
	// to stdout (nil: discarded). A command that ran and exited non-zero
	// is an error with an ExitCode() int method.
	Exec(ctx context.Context, command []string, stdin io.Reader, stdout io.Writer) error
}

// PodFinder returns a running pod of workload, to exec in container.
type PodFinder func(ctx context.Context, workload, container string) (Pod, error)

// Engine backs up and restores system-storage at one location.
type Engine struct {
	loc  Location
	pods PodFinder
	ns   string
	opts Options
	log  *slog.Logger
}

// Meta is the component metadata stored under MetaKey.
type Meta struct {
	Kind     string `json:"kind"`   // dir, s3, pod
	Source   string `json:"source"` // redacted location
	Pod      string `json:"pod,omitempty"`
	Files    int64  `json:"files"`
	Dirs     int64  `json:"dirs"`
	Symlinks int64  `json:"symlinks"`
	Bytes    int64  `json:"bytes"` // file content bytes (not tar overhead)
	Skipped  int64  `json:"skipped,omitempty"`
}

// New returns the engine for loc. pods is needed only for pod mode (nil
// otherwise: no Kubernetes), namespace is the 3scale namespace.
func New(loc Location, pods PodFinder, namespace string, opts Options) *Engine {
	if opts.Workload == "" {
		opts.Workload = "system-app"
	}
	if opts.Container == "" {
		opts.Container = "system-master"
	}
	if loc.Kind == "pod" && loc.Path == "" {
		loc.Path = PodPath
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Engine{loc: loc, pods: pods, ns: namespace, opts: opts, log: log}
}

// Name implements the engine contract.
func (e *Engine) Name() string { return Component }

// Backup writes files.tar and the Meta.
func (e *Engine) Backup(ctx context.Context, sink artifact.Sink, task *progress.Task) error {
	f, err := sink.Create(ctx, FileName, "tar")
	if err != nil {
		return fmt.Errorf("system-storage: create %s: %w", FileName, err)
	}
	meta := Meta{Kind: e.loc.Kind, Source: e.loc.Redacted()}
	switch e.loc.Kind {
	case "dir":
		err = e.backupDir(ctx, f, task, &meta)
	case "s3":
		err = e.backupS3(ctx, f, task, &meta)
	case "pod":
		err = e.backupPod(ctx, f, task, &meta)
	default:
		err = errs.UsageError("pass --system-storage dir:///PATH, s3://HOST/BUCKET/PREFIX or pod", "system-storage: unknown storage kind %q", e.loc.Kind)
	}
	if err != nil {
		return err
	}
	f.SetCount(meta.Files)
	if err := f.Close(); err != nil {
		return fmt.Errorf("system-storage: store %s: %w", FileName, err)
	}
	task.Done()
	return sink.Set(MetaKey, meta)
}

// Preflight checks, changing nothing, that the artifact is a safe tar
// (it reads it through once: every entry is validated) and that the
// target is reachable and empty unless Options.Overwrite.
func (e *Engine) Preflight(ctx context.Context, src artifact.Source) error {
	var meta Meta
	if err := src.Get(MetaKey, &meta); err != nil {
		return errs.Corrupt(fmt.Errorf("system-storage: snapshot metadata: %w", artifact.AsCorrupt(err)), "the snapshot has no system-storage metadata; pick another snapshot or leave system-storage out (--components)")
	}
	if err := scanArtifact(ctx, src, meta); err != nil {
		return err
	}
	var empty bool
	var err error
	switch e.loc.Kind {
	case "dir":
		empty, err = dirEmpty(e.loc.Path)
	case "s3":
		empty, err = e.s3Empty(ctx)
	case "pod":
		empty, err = e.podEmpty(ctx)
	default:
		return errs.UsageError("pass --system-storage dir:///PATH, s3://HOST/BUCKET/PREFIX or pod", "system-storage: unknown storage kind %q", e.loc.Kind)
	}
	if err != nil {
		return err
	}
	if !empty && !e.opts.Overwrite {
		return errs.New(errs.Usage, "restore into an empty location, or give consent to replace files (--drop-existing)",
			"system-storage: target %s is not empty", e.loc.Redacted())
	}
	return nil
}

// Restore writes the files of the snapshot to the location.
func (e *Engine) restoreData(ctx context.Context, src artifact.Source, task *progress.Task) error {
	var meta Meta
	if err := src.Get(MetaKey, &meta); err == nil {
		task.SetTotal(meta.Bytes, meta.Files+meta.Dirs+meta.Symlinks)
	}
	rc, err := src.Open(ctx, FileName)
	if err != nil {
		return fmt.Errorf("system-storage: open %s: %w", FileName, err)
	}
	defer rc.Close()
	switch e.loc.Kind {
	case "dir":
		if e.opts.Overwrite {
			if err = e.emptyDir(e.loc.Path); err != nil {
				return err
			}
		}
		_, err = Extract(ctx, rc, e.loc.Path, task)
	case "s3":
		err = e.restoreS3(ctx, rc, task)
	case "pod":
		err = e.restorePod(ctx, rc, task)
	default:
		err = errs.UsageError("pass --system-storage dir:///PATH, s3://HOST/BUCKET/PREFIX or pod", "system-storage: unknown storage kind %q", e.loc.Kind)
	}
	if err != nil {
		return err
	}
	task.Done()
	return nil
}

// emptyDir removes every entry of dir (files, directories, links; links
// are removed, never followed), keeping dir. A missing dir is empty.
func (e *Engine) emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return errs.Wrap(errs.Failure, fmt.Errorf("system-storage: empty %s for --drop-existing: %w", dir, err), "check that the target directory is readable and writable")
	}
	for _, en := range entries {
		if err := os.RemoveAll(filepath.Join(dir, en.Name())); err != nil {
			return errs.Wrap(errs.Failure, fmt.Errorf("system-storage: empty %s for --drop-existing: %w", dir, err),
				"check the target directory's permissions, then run the restore again with --resume")
		}
	}
	if len(entries) > 0 && e.opts.Logger != nil {
		e.opts.Logger.Info("system-storage: target directory emptied (--drop-existing)", "dir", dir, "entries", len(entries))
	}
	return nil
}

// Export writes the snapshot's files.tar, as stored, to w.
func Export(ctx context.Context, src artifact.Source, w io.Writer) error {
	rc, err := src.Open(ctx, FileName)
	if err != nil {
		return fmt.Errorf("system-storage: open %s: %w", FileName, err)
	}
	defer rc.Close()
	if _, err := io.Copy(w, rc); err != nil {
		if errors.Is(err, artifact.ErrCorrupt) {
			return errs.Wrap(errs.Mismatch, fmt.Errorf("system-storage: %s: %w", FileName, err), "run `3scale-ops backups verify --read-data` and use another snapshot")
		}
		return fmt.Errorf("system-storage: export %s: %w", FileName, err)
	}
	return nil
}

// scanArtifact reads the whole tar, validating every entry name and link
// target, and compares the file count with the metadata.
func scanArtifact(ctx context.Context, src artifact.Source, meta Meta) error {
	rc, err := src.Open(ctx, FileName)
	if err != nil {
		if artifact.Damaged(err) {
			return errs.Corrupt(fmt.Errorf("system-storage: open %s: %w", FileName, artifact.AsCorrupt(err)), "the snapshot is incomplete; pick another one")
		}
		return errs.Wrap(errs.Failure, fmt.Errorf("system-storage: open %s: %w", FileName, err), "check the repository's storage and run the restore again")
	}
	defer rc.Close()
	st, err := Scan(ctx, rc)
	if err != nil {
		return err
	}
	// The archive ends before the file does (tar's end blocks and record
	// padding): read the rest, so the sizes and sha256 are checked here and
	// a restore's verification need not read the archive again.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		if artifact.Damaged(err) {
			return errs.Corrupt(fmt.Errorf("system-storage: reading %s: %w", FileName, err),
				"the snapshot is damaged; run `3scale-ops backups verify --read-data` and use another one")
		}
		return errs.Wrap(errs.Failure, fmt.Errorf("system-storage: reading %s: %w", FileName, err), "check the repository's storage and run the restore again")
	}
	if st.Files != meta.Files {
		return errs.Corrupt(fmt.Errorf("system-storage: %s holds %d files, its metadata says %d: %w", FileName, st.Files, meta.Files, artifact.ErrCorrupt),
			"the snapshot is damaged; run `3scale-ops backups verify --read-data` and use another one")
	}
	return nil
}

// Restore restores the artifact and reports what it wrote (the counts its
// progress task kept).
func (e *Engine) Restore(ctx context.Context, src artifact.Source, task *progress.Task) (artifact.Result, error) {
	if task == nil {
		task = progress.NewTask(e.Name())
	}
	if err := e.restoreData(ctx, src, task); err != nil {
		return artifact.Result{}, err
	}
	st := task.Stats()
	return artifact.Result{Items: st.Items, Bytes: st.Bytes, Summary: fmt.Sprintf("%d entries, %d bytes", st.Items, st.Bytes)}, nil
}

// Check reads the archive of a snapshot's system-storage component as the
// restore's preflight does (every entry validated, links resolved) and
// compares its file count with the metadata, without any target.
func Check(ctx context.Context, src artifact.Source) error {
	var meta Meta
	if err := src.Get(MetaKey, &meta); err != nil {
		return errs.Corrupt(fmt.Errorf("system-storage: snapshot metadata: %w", artifact.AsCorrupt(err)), "the snapshot is damaged; use another one")
	}
	return scanArtifact(ctx, src, meta)
}
