package main

import (
	"math"
	"runtime/debug"
)

// defaultMemoryLimit is the Go runtime's soft memory limit unless
// GOMEMLIMIT says otherwise. Backups and restores stream, but large rows
// and values (Porta's multi-MB proxy configs, each read into a fresh
// driver buffer) leave garbage that the default GOGC=100 lets grow to the
// size of the live heap again; the limit makes the collector run before
// that, keeping the process near 100 MiB RSS. It is soft: a step that
// needs more live memory gets it (the collector's CPU is then capped by
// the runtime). See docs/operations.md, "Memory".
const defaultMemoryLimit = 80 << 20

// applyMemoryLimit sets defaultMemoryLimit when GOMEMLIMIT is not set and
// returns the limit in force.
func applyMemoryLimit(getenv func(string) string) int64 {
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	return debug.SetMemoryLimit(-1)
}

// noMemoryLimit is what the runtime reports without a limit.
const noMemoryLimit = math.MaxInt64
