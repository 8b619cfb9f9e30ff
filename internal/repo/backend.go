// Package repo is the snapshot repository: where backups live, on a local
// disk or in S3, and how their bytes are hashed, compressed, encrypted,
// committed, locked, verified and pruned. Engines reach it only through
// the artifact.Sink and artifact.Source interfaces.
//
// It must never know what a component's bytes mean (SQL, RDB, tar): it
// stores plain streams. It never prints; it never holds a whole artifact in
// memory or stages one on local disk, and it never makes a snapshot
// visible before its manifest is written.
package repo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/redact"
)

// ErrNotFound is returned (wrapped) by a Backend when an object does not exist.
var ErrNotFound = errors.New("object not found")

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Name string // slash-separated, relative to the repository root
	Size int64
}

// Backend stores named objects. Names are slash-separated paths relative
// to the repository root. Backends know nothing of compression,
// encryption or manifests.
type Backend interface {
	// Put stores the stream under name. The object becomes visible only
	// when Put returns nil: a failed or cancelled Put leaves nothing
	// under name (an earlier object of that name stays untouched).
	// The size is not known in advance.
	Put(ctx context.Context, name string, r io.Reader) error
	// Get opens an object; a missing object gives an error wrapping ErrNotFound.
	Get(ctx context.Context, name string) (io.ReadCloser, error)
	// Stat returns an object's size; a missing object gives ErrNotFound.
	Stat(ctx context.Context, name string) (ObjectInfo, error)
	// List returns every object whose name starts with prefix, recursively,
	// sorted by name.
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)
	// Delete removes an object; deleting a missing object is not an error.
	Delete(ctx context.Context, name string) error
	// Location describes the backend for messages (never with credentials).
	Location() string
}

// BackendOptions tune OpenBackend.
type BackendOptions struct {
	S3Insecure bool   // plain http to the S3 endpoint
	S3PartSize uint64 // multipart part size (the upload buffer per stream); 0 = 16 MiB
}

// Location is a parsed repository location.
type Location struct {
	Kind   string // "local" or "s3"
	Path   string // local: the directory as given
	S3     S3Config
	Source string // as given
}

// ParseLocation parses a repository location: a plain path,
// file:///path or s3://HOST[:PORT]/BUCKET[/PREFIX]. It connects to
// nothing; its errors are usage errors (exit 2) that never echo the
// location's user information.
func ParseLocation(location string) (Location, error) {
	shown := redact.Userinfo(location)
	if at := strings.LastIndex(location, "@"); at >= 0 {
		// Whatever stands before an "@" may be user information, however
		// malformed the rest: only what follows the last one is shown.
		shown = redact.Mask + location[at:]
	}
	bad := func(format string, a ...any) error {
		return errs.New(errs.Usage, "use a path, file:///path or s3://HOST[:PORT]/BUCKET/PREFIX (S3 credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, never from the URL)",
			"repository %s: "+format, append([]any{shown}, a...)...)
	}
	switch {
	case strings.HasPrefix(location, "s3://"):
		u, err := url.Parse(location)
		if err != nil {
			return Location{}, bad("not a valid URL")
		}
		if u.User != nil {
			return Location{}, bad("user information in the URL is not used")
		}
		parts := strings.SplitN(strings.Trim(u.Path, "/"), "/", 2)
		if u.Host == "" || parts[0] == "" {
			return Location{}, bad("missing host or bucket")
		}
		prefix := ""
		if len(parts) == 2 {
			prefix = parts[1]
		}
		return Location{Kind: "s3", S3: S3Config{Endpoint: u.Host, Bucket: parts[0], Prefix: prefix}, Source: location}, nil
	case strings.HasPrefix(location, "file://"):
		u, err := url.Parse(location)
		if err != nil || u.Path == "" || u.User != nil || (u.Host != "" && u.Host != "localhost") {
			return Location{}, bad("use file:///absolute/path")
		}
		return Location{Kind: "local", Path: u.Path, Source: location}, nil
	case strings.Contains(location, "://"):
		return Location{}, bad("unknown scheme")
	default:
		return Location{Kind: "local", Path: location, Source: location}, nil
	}
}

// OpenBackend opens the backend of a repository location (see ParseLocation).
func OpenBackend(ctx context.Context, location string, opts BackendOptions) (Backend, error) {
	l, err := ParseLocation(location)
	if err != nil {
		return nil, err
	}
	if l.Kind == "s3" {
		c := l.S3
		c.Insecure, c.PartSize = opts.S3Insecure, opts.S3PartSize
		return NewS3(ctx, c)
	}
	return NewLocal(l.Path)
}

// cleanName rejects names that would escape the repository.
func cleanName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") {
		return fmt.Errorf("invalid object name %q", name)
	}
	for _, p := range strings.Split(name, "/") {
		if p == "" || p == "." || p == ".." {
			return fmt.Errorf("invalid object name %q", name)
		}
	}
	return nil
}
