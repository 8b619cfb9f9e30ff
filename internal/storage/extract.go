package storage

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"golang.org/x/sys/unix"
)

// Extract writes the tar stream r into dir (created if missing), the way
// `tar -xf - -C dir` does, but refusing — before writing the entry —
// absolute names, names with "..", symlinks whose target is absolute or
// leaves dir, symlinks created inside a directory reached through a
// symlink, and special files. All writes go through an os.Root, so
// nothing can land outside dir. Existing entries of the same name are
// replaced; other existing files are kept. Modes and mtimes are applied
// (directories last, so their mtimes survive); ownership only when run as
// root.
func Extract(ctx context.Context, r io.Reader, dir string, task *progress.Task) (Stats, error) {
	var st Stats
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return st, errs.Wrap(errs.Failure, fmt.Errorf("system-storage: %w", err), "check that the target directory is writable")
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return st, errs.Wrap(errs.Failure, fmt.Errorf("system-storage: %w", err), "check that the target directory is readable")
	}
	defer root.Close()
	x := &extractor{root: root, dir: dir, task: task, buf: make([]byte, 1<<20), chown: os.Geteuid() == 0}
	tr := tar.NewReader(r)
	links := newLinkTree()
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, readErr(err)
		}
		name, err := checkHeader(h)
		if err != nil {
			return st, unsafeErr(err)
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		if err := links.check(name, h); err != nil {
			return st, unsafeErr(err)
		}
		if err := x.entry(name, h, tr); err != nil {
			return st, err
		}
		st.add(h)
		task.AddItems(1)
	}
	if err := x.finishDirs(); err != nil {
		return st, err
	}
	return st, nil
}

type extractor struct {
	root  *os.Root
	dir   string
	task  *progress.Task
	buf   []byte
	chown bool
	dirs  []*tar.Header // applied at the end
	names []string
}

func (x *extractor) fail(name string, err error) error {
	return errs.Wrap(errs.Failure, fmt.Errorf("system-storage: extract %s into %s: %w", name, x.dir, err),
		"check free space and permissions of the target, then run the restore again")
}

func (x *extractor) entry(name string, h *tar.Header, r io.Reader) error {
	if name == "" { // the root itself ("./"): only its mtime, later
		if h.Typeflag == tar.TypeDir {
			x.dirs, x.names = append(x.dirs, h), append(x.names, ".")
		}
		return nil
	}
	if parent := path.Dir(name); parent != "." {
		if err := x.root.MkdirAll(parent, 0o755); err != nil {
			return x.fail(name, err)
		}
	}
	if h.Typeflag == tar.TypeDir {
		if fi, err := x.root.Lstat(name); err == nil && !fi.IsDir() {
			if err := x.root.Remove(name); err != nil {
				return x.fail(name, err)
			}
		}
		if err := x.root.Mkdir(name, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return x.fail(name, err)
		}
		x.dirs, x.names = append(x.dirs, h), append(x.names, name)
		return nil
	}
	if err := x.replace(name); err != nil {
		return err
	}
	switch h.Typeflag {
	case tar.TypeReg:
		f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return x.fail(name, err)
		}
		_, err = io.CopyBuffer(progress.Writer{W: f, Task: x.task}, r, x.buf)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return readErr(err)
			}
			return x.fail(name, err)
		}
	case tar.TypeLink:
		if err := x.root.Link(path.Clean(h.Linkname), name); err != nil {
			return x.fail(name, err)
		}
		return nil
	case tar.TypeSymlink:
		if err := x.noSymlinkParent(name); err != nil {
			return unsafeErr(err)
		}
		if err := x.root.Symlink(h.Linkname, name); err != nil {
			return x.fail(name, err)
		}
		if x.chown {
			_ = x.root.Lchown(name, h.Uid, h.Gid)
		}
		// The parents are real directories (checked above), so the joined
		// path is inside dir.
		ts := []unix.Timespec{unix.NsecToTimespec(h.ModTime.UnixNano()), unix.NsecToTimespec(h.ModTime.UnixNano())}
		_ = unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(x.dir, filepath.FromSlash(name)), ts, unix.AT_SYMLINK_NOFOLLOW)
		return nil
	}
	return x.attrs(name, h)
}

// replace removes an existing entry at name, as tar does before extracting.
func (x *extractor) replace(name string) error {
	fi, err := x.root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return x.fail(name, err)
	}
	if fi.IsDir() {
		err = x.root.RemoveAll(name)
	} else {
		err = x.root.Remove(name)
	}
	if err != nil {
		return x.fail(name, err)
	}
	return nil
}

// noSymlinkParent refuses a symlink whose directory is reached through
// another symlink: its target, checked lexically, could then resolve
// outside the root.
func (x *extractor) noSymlinkParent(name string) error {
	parts := strings.Split(path.Dir(name), "/")
	for i := range parts {
		if parts[0] == "." {
			break
		}
		p := strings.Join(parts[:i+1], "/")
		fi, err := x.root.Lstat(p)
		if err != nil {
			return fmt.Errorf("symlink %q: %w", name, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("symlink %q is inside %q, itself a symlink", name, p)
		}
	}
	return nil
}

func (x *extractor) attrs(name string, h *tar.Header) error {
	if x.chown {
		_ = x.root.Lchown(name, h.Uid, h.Gid)
	}
	// setuid and setgid are never recreated: an archive must not be able
	// to plant a privileged program (least of all when run as root).
	mode := h.FileInfo().Mode() & (fs.ModePerm | fs.ModeSticky)
	if err := x.root.Chmod(name, mode); err != nil {
		return x.fail(name, err)
	}
	if err := x.root.Chtimes(name, time.Time{}, h.ModTime); err != nil {
		return x.fail(name, err)
	}
	return nil
}

// finishDirs applies directory modes and mtimes, deepest first, once
// nothing more will be written inside them. The root keeps its mode.
func (x *extractor) finishDirs() error {
	idx := make([]int, len(x.dirs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return strings.Count(x.names[idx[a]], "/") > strings.Count(x.names[idx[b]], "/") })
	for _, i := range idx {
		name, h := x.names[i], x.dirs[i]
		if name == "." {
			if err := x.root.Chtimes(".", time.Time{}, h.ModTime); err != nil {
				return x.fail(name, err)
			}
			continue
		}
		if err := x.attrs(name, h); err != nil {
			return err
		}
	}
	return nil
}

// dirEmpty reports whether dir is missing or holds nothing.
func dirEmpty(dir string) (bool, error) {
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, errs.Wrap(errs.Failure, fmt.Errorf("system-storage: %w", err), "check that the target directory is readable")
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if err != nil && err != io.EOF {
		return false, fmt.Errorf("system-storage: read %s: %w", dir, err)
	}
	return len(names) == 0, nil
}
