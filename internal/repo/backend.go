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

// OpenBackend parses a repository location: a plain path, file:///path or
// s3://HOST[:PORT]/BUCKET[/PREFIX].
func OpenBackend(ctx context.Context, location string, opts BackendOptions) (Backend, error) {
	switch {
	case strings.HasPrefix(location, "s3://"):
		u, err := url.Parse(location)
		if err != nil {
			return nil, fmt.Errorf("repository %q: %w (use s3://HOST[:PORT]/BUCKET/PREFIX)", location, err)
		}
		parts := strings.SplitN(strings.Trim(u.Path, "/"), "/", 2)
		if u.Host == "" || parts[0] == "" {
			return nil, fmt.Errorf("repository %q: missing host or bucket (use s3://HOST[:PORT]/BUCKET/PREFIX)", location)
		}
		prefix := ""
		if len(parts) == 2 {
			prefix = parts[1]
		}
		return NewS3(ctx, S3Config{Endpoint: u.Host, Bucket: parts[0], Prefix: prefix, Insecure: opts.S3Insecure, PartSize: opts.S3PartSize})
	case strings.HasPrefix(location, "file://"):
		u, err := url.Parse(location)
		if err != nil || u.Path == "" {
			return nil, fmt.Errorf("repository %q: use file:///absolute/path", location)
		}
		return NewLocal(u.Path)
	case strings.Contains(location, "://"):
		return nil, fmt.Errorf("repository %q: unknown scheme (use a path, file:///path or s3://HOST/BUCKET/PREFIX)", location)
	default:
		return NewLocal(location)
	}
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
