package benchsum

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
)

// StartProfile writes a CPU profile of the process to path.cpu.pprof and,
// when stopped, a heap profile (in-use and allocated space, sampled every
// memRate bytes; 0 keeps Go's default) to path.heap.pprof, after a
// collection so that it holds what the last one saw. Read them with
// `go tool pprof -top`.
func StartProfile(path string, memRate int) (stop func(), err error) {
	f, err := os.Create(path + ".cpu.pprof")
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	if memRate > 0 {
		runtime.MemProfileRate = memRate
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		runtime.GC()
		if h, err := os.Create(path + ".heap.pprof"); err == nil {
			_ = pprof.Lookup("allocs").WriteTo(h, 0)
			h.Close()
		}
	}, nil
}

// ProfileFromEnv starts StartProfile for a child run named name when
// BENCH_CPUPROFILE names a directory (DIR/name-PID.cpu.pprof and
// .heap.pprof); without it, stop does nothing.
func ProfileFromEnv(name string) (stop func(), err error) {
	d := os.Getenv("BENCH_CPUPROFILE")
	if d == "" {
		return func() {}, nil
	}
	return StartProfile(filepath.Join(d, fmt.Sprintf("%s-%d", name, os.Getpid())), 0)
}
