package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/redact"
)

// startProgress shows the tracker's tasks on stderr until the returned
// function is called: redrawn in place on a terminal, as a line per task
// every 10 s (text, or JSON with --log-format json) when forced on a
// non-terminal, and not at all with --no-progress.
func startProgress(g *globals, tr *progress.Tracker, force bool) func() {
	tty := g.stderrTTY()
	if g.NoProgress || (!tty && !force) {
		return func() {}
	}
	p := &progressPrinter{w: g.Stderr, tr: tr, tty: tty, json: g.LogFormat == "json", stop: make(chan struct{})}
	interval := 10 * time.Second
	if tty {
		interval = 250 * time.Millisecond
	}
	p.wg.Add(1)
	go p.loop(interval)
	return func() {
		close(p.stop)
		p.wg.Wait()
	}
}

type progressPrinter struct {
	w     io.Writer
	tr    *progress.Tracker
	tty   bool
	json  bool
	stop  chan struct{}
	wg    sync.WaitGroup
	lines int // lines drawn last time (TTY)
}

func (p *progressPrinter) loop(interval time.Duration) {
	defer p.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			p.draw(true)
			return
		case <-t.C:
			p.draw(false)
		}
	}
}

func (p *progressPrinter) draw(bool) {
	stats := p.tr.Stats()
	if p.json {
		enc := json.NewEncoder(p.w)
		for _, s := range stats {
			_ = enc.Encode(map[string]any{"progress": s, "rate": s.Rate(), "eta_ns": s.ETA()})
		}
		return
	}
	var b strings.Builder
	if p.tty && p.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.lines) // back to the first line of the block
	}
	for _, s := range stats {
		if p.tty {
			b.WriteString("\x1b[2K")
		}
		b.WriteString(progressLine(s))
		b.WriteByte('\n')
	}
	p.lines = len(stats)
	fmt.Fprint(p.w, redact.String(b.String()))
}

func progressLine(s progress.Stats) string {
	state := s.Phase
	if state == "" {
		state = "running"
	}
	line := fmt.Sprintf("%-16s %-8s %10s", s.Name, state, humanBytes(s.Bytes))
	if s.TotalBytes > 0 {
		line += fmt.Sprintf(" / %-10s", humanBytes(s.TotalBytes))
	}
	if r := s.Rate(); r > 0 && !s.Done {
		line += fmt.Sprintf("  %9s/s", humanBytes(int64(r)))
	}
	if eta := s.ETA(); eta > 0 && !s.Done {
		line += "  ETA " + eta.Round(time.Second).String()
	}
	if s.Items > 0 {
		line += fmt.Sprintf("  %d items", s.Items)
	}
	line += "  " + s.Elapsed.Round(time.Second).String()
	return line
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// opsWatch prints a task's progress to stderr every 2s (unless
// --no-progress or -o json) until the returned stop is called.
func opsWatch(g *globals, task *progress.Task, what string) (stop func()) {
	if g.NoProgress || g.JSON() {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				st := task.Stats()
				phase := ""
				if st.Phase != "" {
					phase = st.Phase + ": "
				}
				printProgressLine(g.Stderr, fmt.Sprintf("%s%d/%d %s (%s)", phase, st.Items, st.TotalItems, what, st.Elapsed.Round(time.Second)))
			}
		}
	}()
	return func() { cancel(); <-done }
}

func printProgressLine(w io.Writer, s string) { fmt.Fprintln(w, s) }
