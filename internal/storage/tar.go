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
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
)

// Stats counts what a tar stream holds.
type Stats struct {
	Files, Dirs, Symlinks, Bytes, Skipped int64
}

func (s *Stats) add(h *tar.Header) {
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		s.Files++
		s.Bytes += h.Size
	case tar.TypeDir:
		s.Dirs++
	case tar.TypeSymlink:
		s.Symlinks++
	case tar.TypeLink:
		s.Files++
	}
}

// WriteTree writes the tree under root to w as a tar stream (PAX format,
// names relative to root, directories before their contents, in lexical
// order). Regular files, directories and symlinks are archived; sockets,
// devices and other special files are skipped and counted.
func WriteTree(ctx context.Context, root string, w io.Writer, task *progress.Task) (Stats, error) {
	var st Stats
	fi, err := os.Stat(root)
	if err != nil {
		return st, errs.Wrap(errs.Usage, fmt.Errorf("system-storage: %w", err), "check --system-storage: the directory must exist and be readable")
	}
	if !fi.IsDir() {
		return st, errs.UsageError("check --system-storage", "system-storage: %s is not a directory", root)
	}
	tw := tar.NewWriter(w)
	buf := make([]byte, 1<<20)
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, werr error) error {
		if werr != nil {
			return fmt.Errorf("system-storage: read %s: %w", p, werr)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("system-storage: stat %s: %w", p, err)
		}
		mode := info.Mode()
		link := ""
		switch {
		case mode.IsRegular(), mode.IsDir():
		case mode&fs.ModeSymlink != 0:
			if link, err = os.Readlink(p); err != nil {
				return fmt.Errorf("system-storage: readlink %s: %w", p, err)
			}
		default:
			st.Skipped++
			return nil
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return fmt.Errorf("system-storage: %s: %w", p, err)
		}
		hdr.Name = filepath.ToSlash(rel)
		if mode.IsDir() {
			hdr.Name += "/"
		}
		hdr.Format = tar.FormatPAX
		hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{} // not restorable; keep the stream deterministic
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("system-storage: archive %s: %w", p, err)
		}
		st.add(hdr)
		task.AddItems(1)
		if !mode.IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("system-storage: %w", err)
		}
		defer f.Close()
		n, err := io.CopyBuffer(progress.Writer{W: tw, Task: task}, io.LimitReader(f, hdr.Size), buf)
		if err != nil {
			return fmt.Errorf("system-storage: archive %s: %w", p, err)
		}
		if n < hdr.Size {
			return errs.New(errs.Failure, "the file changed while it was read; retry the backup (quiesce system-app to avoid it)",
				"system-storage: %s shrank from %d to %d bytes while being archived", p, hdr.Size, n)
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	if err := tw.Close(); err != nil {
		return st, fmt.Errorf("system-storage: finish tar: %w", err)
	}
	return st, nil
}

// cleanName validates a tar entry name and returns it as a local,
// slash-separated path ("" for the root itself). Absolute names and names
// that climb out with ".." are refused.
func cleanName(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") || strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("unsafe path %q in archive", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("unsafe path %q in archive (\"..\")", name)
		}
	}
	c := path.Clean(name)
	if c == "." {
		return "", nil
	}
	if !filepath.IsLocal(filepath.FromSlash(c)) {
		return "", fmt.Errorf("unsafe path %q in archive", name)
	}
	return c, nil
}

// checkLink refuses symlink targets that are absolute or point outside
// the extraction root, seen from the link's directory.
func checkLink(name, target string) error {
	if target == "" || path.IsAbs(target) || strings.HasPrefix(target, `\`) {
		return fmt.Errorf("symlink %q points to absolute path %q", name, target)
	}
	resolved := path.Join(path.Dir(name), target)
	if resolved == ".." || strings.HasPrefix(resolved, "../") {
		return fmt.Errorf("symlink %q points outside the storage (%q)", name, target)
	}
	return nil
}

// checkHeader validates one entry; it returns the cleaned name.
func checkHeader(h *tar.Header) (string, error) {
	name, err := cleanName(h.Name)
	if err != nil {
		return "", err
	}
	switch h.Typeflag {
	case tar.TypeSymlink:
		if err := checkLink(name, h.Linkname); err != nil {
			return "", err
		}
	case tar.TypeLink:
		if _, err := cleanName(h.Linkname); err != nil {
			return "", fmt.Errorf("hard link %q: %w", h.Name, err)
		}
	case tar.TypeReg, tar.TypeDir, tar.TypeXGlobalHeader:
	default:
		return "", fmt.Errorf("entry %q has unsupported type %q", h.Name, string(h.Typeflag))
	}
	return name, nil
}

func unsafeErr(err error) error {
	return errs.Wrap(errs.Usage, fmt.Errorf("system-storage: refusing the archive: %w", err),
		"the archive is not a system-storage backup made by this tool or tar; inspect it with `tar tvf` before restoring")
}

// Scan reads a tar stream to its end, validating every entry as Extract
// would, and counts what it holds. It writes nothing.
func Scan(ctx context.Context, r io.Reader) (Stats, error) {
	return scan(ctx, r, true, nil)
}

// scan reads a tar stream to its end, counting entries into st and task;
// with validate, unsafe entries are an error.
func scan(ctx context.Context, r io.Reader, validate bool, task *progress.Task) (Stats, error) {
	var st Stats
	tr := tar.NewReader(r)
	links := newLinkTree()
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		h, err := tr.Next()
		if err == io.EOF {
			return st, nil
		}
		if err != nil {
			return st, readErr(err)
		}
		if validate {
			name, err := checkHeader(h)
			if err == nil && h.Typeflag != tar.TypeXGlobalHeader {
				err = links.check(name, h)
			}
			if err != nil {
				return st, unsafeErr(err)
			}
		}
		st.add(h)
		task.AddItems(1)
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return st, readErr(err)
		}
	}
}

func readErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, tar.ErrHeader) || artifact.Damaged(err) {
		return errs.Corrupt(fmt.Errorf("system-storage: %s is truncated or damaged: %w", FileName, artifact.AsCorrupt(err)),
			"run `3scale-ops backups verify --read-data` and use another snapshot")
	}
	return fmt.Errorf("system-storage: read %s: %w", FileName, err)
}
