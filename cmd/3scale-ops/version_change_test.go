package main

import (
	"strings"
	"testing"
)

func TestVersionChange(t *testing.T) {
	for _, c := range []struct {
		snap, target string
		changed      bool
	}{
		{"2.15", "2.15", false},
		{"2.15", "2.15.1", false},
		{"2.14", "2.15", true},
		{"2.15", "2.16", true},
		{"", "2.15", false},
		{"2.15", "", false},
	} {
		msg := versionChange(c.snap, c.target)
		if (msg != "") != c.changed || (c.changed && !strings.Contains(msg, c.snap) && !strings.Contains(msg, c.target)) {
			t.Errorf("versionChange(%q, %q) = %q", c.snap, c.target, msg)
		}
	}
}
