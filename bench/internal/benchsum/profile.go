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
	for _, d := range metrics.All() {
		if strings.HasPrefix(d.Name, "/memory/classes/") || d.Name == "/gc/heap/live:bytes" {
			samples = append(samples, metrics.Sample{Name: d.Name})
		}
	}
	var peak uint64
	var best peakHeap
	var buf bytes.Buffer
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return best
		case <-t.C:
		}
		metrics.Read(samples)
		var total, released uint64
		var lines strings.Builder
		for _, s := range samples {
			if s.Value.Kind() != metrics.KindUint64 {
				continue
			}
			v := s.Value.Uint64()
			fmt.Fprintf(&lines, "%-50s %8.1f MiB\n", s.Name, float64(v)/(1<<20))
			switch s.Name {
			case "/memory/classes/total:bytes":
				total = v
			case "/memory/classes/heap/released:bytes":
				released = v
			}
		}
		if used := total - released; used > peak+peak/20 {
			peak = used
			buf.Reset()
			_ = pprof.Lookup("heap").WriteTo(&buf, 0)
			best = peakHeap{profile: append([]byte(nil), buf.Bytes()...), classes: lines.String()}
		}
	}
}
