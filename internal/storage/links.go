package storage

import (
	"archive/tar"
	"fmt"
	"path"
	"strings"
)

// maxLinkHops bounds symlink resolution, as the kernel's ELOOP does.
const maxLinkHops = 40

// linkTree follows an archive entry by entry the way extraction builds
// the tree, keeping only what name resolution needs: which paths are
// directories and which are symlinks (and to what). Scan and Extract run
// the same checks on it, so every archive Extract would refuse midway is
// refused by Scan before anything is written.
type linkTree struct {
	dirs  map[string]bool
	links map[string]string
}

func newLinkTree() *linkTree {
	return &linkTree{dirs: map[string]bool{}, links: map[string]string{}}
}

// check validates entry name (cleaned) of header h against the tree so
// far, then records it.
func (t *linkTree) check(name string, h *tar.Header) error {
	if name == "" {
		return nil
	}
	if p := t.throughLink(path.Dir(name)); p != "" {
		return fmt.Errorf("entry %q is inside %q, itself a symlink: extracting it would write where the link points", name, p)
	}
	switch h.Typeflag {
	case tar.TypeSymlink:
		if _, err := t.resolve(path.Dir(name), h.Linkname, 0); err != nil {
			return fmt.Errorf("symlink %q -> %q: %w", name, h.Linkname, err)
		}
	case tar.TypeLink:
		target := path.Clean(h.Linkname)
		if p := t.throughLink(target); p != "" {
			return fmt.Errorf("hard link %q -> %q goes through %q, a symlink", name, h.Linkname, p)
		}
	}
	if t.dirs[name] && h.Typeflag != tar.TypeDir {
		t.forget(name + "/") // a directory replaced by a file or link loses its contents
	}
	delete(t.dirs, name)
	delete(t.links, name)
	switch h.Typeflag {
	case tar.TypeDir:
		t.dirs[name] = true
	case tar.TypeSymlink:
		t.links[name] = h.Linkname
	}
	return nil
}

// forget drops what was under a replaced entry (extraction removes it).
func (t *linkTree) forget(prefix string) {
	for k := range t.dirs {
		if strings.HasPrefix(k, prefix) {
			delete(t.dirs, k)
		}
	}
	for k := range t.links {
		if strings.HasPrefix(k, prefix) {
			delete(t.links, k)
		}
	}
}

// throughLink returns the first proper prefix of p (or p itself) that is
// a symlink, "" when none is.
func (t *linkTree) throughLink(p string) string {
	if p == "." || p == "" {
		return ""
	}
	parts := strings.Split(p, "/")
	for i := range parts {
		q := strings.Join(parts[:i+1], "/")
		if _, ok := t.links[q]; ok {
			return q
		}
	}
	return ""
}

// resolve follows target from directory dir (both relative to the root)
// component by component, through the symlinks extracted so far, and
// fails if any step leaves the root. It returns the resolved path.
func (t *linkTree) resolve(dir, target string, hops int) (string, error) {
	if target == "" || path.IsAbs(target) || strings.HasPrefix(target, `\`) {
		return "", fmt.Errorf("absolute target")
	}
	if hops > maxLinkHops {
		return "", fmt.Errorf("too many levels of symlinks")
	}
	var stack []string
	if dir != "." && dir != "" {
		stack = strings.Split(dir, "/")
	}
	for _, c := range strings.Split(target, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) == 0 {
				return "", fmt.Errorf("points outside the storage")
			}
			stack = stack[:len(stack)-1]
			continue
		}
		cur := strings.Join(append(stack, c), "/")
		if to, ok := t.links[cur]; ok {
			r, err := t.resolve(strings.Join(stack, "/"), to, hops+1)
			if err != nil {
				return "", err
			}
			stack = nil
			if r != "." {
				stack = strings.Split(r, "/")
			}
			continue
		}
		stack = append(stack, c)
	}
	if len(stack) == 0 {
		return ".", nil
	}
	return strings.Join(stack, "/"), nil
}
