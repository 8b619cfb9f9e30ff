// Package artifact is the contract between a component engine (MySQL,
// PostgreSQL, Redis, storage, Kubernetes objects) and the snapshot
// repository. An engine writes named plain streams into a Sink during
// backup and reads them back from a Source during restore or export. It
// never learns where the bytes go (local disk or S3), nor how they are
// compressed, encrypted or hashed: that is the repository's job.
//
// This package has no dependencies beyond the standard library and must
// stay that way, so that every engine can import it.
package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// ErrCorrupt is wrapped by every error that reports stored data whose size,
// checksum, compression frame or encryption does not verify.
var ErrCorrupt = errors.New("artifact is corrupt")

// ErrNotFound is wrapped when a named file or metadata key does not exist.
var ErrNotFound = errors.New("not found")

// Damaged reports whether err says that an artifact's content is damaged
// or incomplete: it does not verify, or a file or metadata key the
// component's own metadata promises is missing.
func Damaged(err error) bool { return errors.Is(err, ErrCorrupt) || errors.Is(err, ErrNotFound) }

// AsCorrupt returns err wrapping ErrCorrupt (unchanged when it already does).
func AsCorrupt(err error) error {
	if err == nil || errors.Is(err, ErrCorrupt) {
		return err
	}
	return fmt.Errorf("%w (%w)", err, ErrCorrupt)
}

// Result is what an engine reports when a restore ends: what it wrote and
// one line for the report; Detail carries machine-readable specifics (the
// Kubernetes objects' change report) for the JSON output.
type Result struct {
	Items   int64          `json:"items"` // rows, keys, files or objects restored
	Bytes   int64          `json:"bytes"` // plain bytes read from the artifact
	Summary string         `json:"summary"`
	Detail  map[string]any `json:"detail,omitempty"`
}

// Sink receives the files of one component during a backup. It is safe
// for concurrent use: parallel workers may each Create their own files.
type Sink interface {
	// Create starts a new file of the component. name is a relative,
	// slash-separated path such as "data/accounts.000001.sql" or
	// "dump.rdb"; the repository adds its own suffixes (".zst", ".age").
	// format names the content ("sql", "rdb", "tar", "kube-list", "json",
	// "copy-text"...). The file is recorded only when Close returns nil;
	// if the component's backup fails, all its files are discarded.
	Create(ctx context.Context, name, format string) (File, error)
	// Set records component-level metadata under key (server version,
	// consistency point, load order, counts...). v must marshal to JSON.
	// Setting a key again replaces it.
	Set(key string, v any) error
}

// File is one stream being written into a snapshot.
type File interface {
	io.Writer
	// SetCount records how many rows, keys or entries the file holds.
	SetCount(n int64)
	// Close finishes the file. Until it returns nil the file does not
	// exist in the snapshot.
	Close() error
}

// FileInfo describes a stored file, as the manifest records it.
type FileInfo struct {
	Name    string // as given to Sink.Create
	Format  string
	RawSize int64 // plain bytes, before compression and encryption
	Count   int64 // rows, keys or entries (0 when not applicable)
}

// Source gives back the files of one component of a snapshot.
type Source interface {
	// Files lists the component's files in the order they were created.
	Files() []FileInfo
	// Open returns the plain content of a file. Reading it to EOF checks
	// size and checksum; a mismatch is returned by Read as an error
	// wrapping ErrCorrupt, never silently.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// Get decodes the metadata stored under key into v; a missing key
	// gives an error wrapping ErrNotFound.
	Get(key string, v any) error
}
