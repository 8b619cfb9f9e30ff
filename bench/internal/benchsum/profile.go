package benchsum

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strings"
	"time"
)

// StartProfile writes a CPU profile of the process to path.cpu.pprof and,
// when stopped, a heap profile (in-use and allocated space, sampled every
// memRate bytes; 0 keeps Go's default) to path.heap.pprof, after a
// collection so that it holds what the last one saw, and the heap profile
// taken when the live heap was at its largest (sampled every 100 ms) to
// path.peak.pprof: what was live at the peak, which the end-of-run one no
// longer shows. Read them with `go tool pprof -top` (-sample_index
// inuse_space for the peak).
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
	done, peakDone := make(chan struct{}), make(chan peakHeap, 1)
	go func() { peakDone <- watchPeakHeap(done) }()
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		close(done)
		if p := <-peakDone; len(p.profile) > 0 {
			_ = os.WriteFile(path+".peak.pprof", p.profile, 0o644)
			_ = os.WriteFile(path+".peak.txt", []byte(p.classes), 0o644)
		}
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

// peakHeap is the heap profile taken when the process's Go memory was
// largest, with the runtime's memory classes at that moment.
type peakHeap struct {
	profile []byte
	classes string
}

// watchPeakHeap samples the Go runtime's memory (all classes but what was
// returned to the OS) every 100 ms until done is closed and returns the
// heap profile and the memory classes of its largest sample.
func watchPeakHeap(done <-chan struct{}) peakHeap {
	var samples []metrics.Sample
	total, released := -1, -1
	for _, d := range metrics.All() {
		if strings.HasPrefix(d.Name, "/memory/classes/") || d.Name == "/gc/heap/live:bytes" {
			switch d.Name {
			case "/memory/classes/total:bytes":
				total = len(samples)
			case "/memory/classes/heap/released:bytes":
				released = len(samples)
			}
			samples = append(samples, metrics.Sample{Name: d.Name})
		}
	}
	var peak uint64
	var best peakHeap
	if total < 0 || released < 0 {
		return best // a runtime without these metrics: no peak profile
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return best
		case <-t.C:
		}
		metrics.Read(samples)
		if used := samples[total].Value.Uint64() - samples[released].Value.Uint64(); used > peak+peak/20 {
			peak = used
			var prof bytes.Buffer
			_ = pprof.Lookup("heap").WriteTo(&prof, 0)
			var lines strings.Builder
			for _, s := range samples {
				if s.Value.Kind() == metrics.KindUint64 {
					fmt.Fprintf(&lines, "%-50s %8.1f MiB\n", s.Name, float64(s.Value.Uint64())/(1<<20))
				}
			}
			best = peakHeap{profile: prof.Bytes(), classes: lines.String()}
		}
	}
}
