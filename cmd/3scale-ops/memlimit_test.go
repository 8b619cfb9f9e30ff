package main

import (
	"runtime/debug"
	"testing"
)

func TestMemoryLimitDefaultAndOverride(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })

	debug.SetMemoryLimit(noMemoryLimit)
	if got := applyMemoryLimit(func(string) string { return "" }); got != defaultMemoryLimit {
		t.Fatalf("without GOMEMLIMIT: limit %d, want %d", got, defaultMemoryLimit)
	}
	// GOMEMLIMIT is read by the runtime at start; we must not override it.
	debug.SetMemoryLimit(1 << 30)
	if got := applyMemoryLimit(func(k string) string { return map[string]string{"GOMEMLIMIT": "1GiB"}[k] }); got != 1<<30 {
		t.Fatalf("with GOMEMLIMIT=1GiB: limit %d, want it untouched", got)
	}
}
