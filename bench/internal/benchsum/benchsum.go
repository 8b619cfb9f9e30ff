// Package benchsum appends the benchmarks' rows to the one summary table
// make bench prints at the end (the file named by BENCH_SUMMARY).
package benchsum

import (
	"fmt"
	"os"
	"strings"
)

// Row appends one row: the step, the data it ran on, our time and the
// baseline's in seconds (same run), the baseline's name, and both peak RSS
// figures as printed. Without BENCH_SUMMARY it does nothing.
func Row(step, data string, ours, base float64, baseline, oursRSS, baseRSS string) {
	p := os.Getenv("BENCH_SUMMARY")
	if p == "" {
		return
	}
	f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench summary %s: %v\n", p, err)
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "| %s | %s | %.2f s | %.2f s %s | **%.2f×** | %s | %s |\n", step, data, ours, base,
		strings.ReplaceAll(baseline, "|", "\\|"), base/ours, oursRSS, baseRSS)
}

// KiB prints a peak RSS given in KiB (getrusage's unit); 0 means the work
// ran in the server, not in a process of ours.
func KiB(kib int64) string {
	if kib == 0 {
		return "(server)"
	}
	return fmt.Sprintf("%d MiB", kib>>10)
}
