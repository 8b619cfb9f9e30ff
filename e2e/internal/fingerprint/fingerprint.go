// Package fingerprint reduces the state of a 3scale installation's stores
// to comparable maps (object name → digest), so an end-to-end test can
// prove that a restore reproduced its source exactly, or that a refused
// restore left its target untouched: MySQL tables (row count, CHECKSUM
// TABLE, definition), triggers and routines (definer-insensitive),
// PostgreSQL tables (row count, md5 over the ordered rows), indexes and
// sequence values, Redis keys (type, TTL presence, value digest), a
// storage tree (path, mode, size, sha256, symlink target), and Kubernetes
// secrets, configmaps, the APIManager CR and workload replicas.
//
// It is test tooling and only reads: it must never write to, flush or
// reconfigure the stores it looks at.
package fingerprint

import (
	"fmt"
	"sort"
	"strings"
)

// State is a set of named digests.
type State map[string]string

// Merge adds every entry of o under prefix.
func (s State) Merge(prefix string, o State) {
	for k, v := range o {
		s[prefix+k] = v
	}
}

// Diff lists the differences from want to got, one line each, sorted; at
// most max lines (0: all) plus a count of the rest.
func Diff(want, got State, max int) []string {
	var out []string
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("missing %s (want %s)", k, short(w)))
		case g != w:
			out = append(out, fmt.Sprintf("differs %s: want %s, got %s", k, short(w), short(g)))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			out = append(out, fmt.Sprintf("extra %s (%s)", k, short(g)))
		}
	}
	sort.Strings(out)
	if max > 0 && len(out) > max {
		n := len(out) - max
		out = append(out[:max], fmt.Sprintf("… and %d more", n))
	}
	return out
}

// Count returns how many entries start with prefix.
func (s State) Count(prefix string) int {
	n := 0
	for k := range s {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}

func short(s string) string {
	if len(s) > 120 {
		return s[:117] + "…"
	}
	return s
}
