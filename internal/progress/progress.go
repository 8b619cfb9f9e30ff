// Package progress is how long-running work reports what it has done.
// Engines update a Task (cheap atomic counters, nil-safe); only the UI
// layer (cmd/3scale-ops) reads tasks and writes to the terminal, throttled,
// as text on a TTY or as JSON lines. Nothing here prints by itself.
package progress

import (
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Task is one unit of reported work: a component backup, a table load, a
// restore step. All methods are safe for concurrent use and on a nil *Task.
type Task struct {
	Name       string
	start      time.Time
	bytes      atomic.Int64
	items      atomic.Int64
	totalBytes atomic.Int64
	totalItems atomic.Int64
	phase      atomic.Pointer[string]
	done       atomic.Bool
}

// NewTask starts a task now.
func NewTask(name string) *Task { return &Task{Name: name, start: time.Now()} }

// AddBytes adds n processed bytes.
func (t *Task) AddBytes(n int64) {
	if t != nil {
		t.bytes.Add(n)
	}
}

// AddItems adds n processed rows, keys or files.
func (t *Task) AddItems(n int64) {
	if t != nil {
		t.items.Add(n)
	}
}

// SetTotal sets the expected totals (0 = unknown), for rate and ETA.
func (t *Task) SetTotal(bytes, items int64) {
	if t != nil {
		t.totalBytes.Store(bytes)
		t.totalItems.Store(items)
	}
}

// SetPhase names what the task is doing now ("schema", "data", "indexes").
func (t *Task) SetPhase(p string) {
	if t != nil {
		t.phase.Store(&p)
	}
}

// Done marks the task finished.
func (t *Task) Done() {
	if t != nil {
		t.done.Store(true)
	}
}

// Stats is a point-in-time copy of a task's counters.
type Stats struct {
	Name       string        `json:"name"`
	Phase      string        `json:"phase,omitempty"`
	Bytes      int64         `json:"bytes"`
	Items      int64         `json:"items"`
	TotalBytes int64         `json:"total_bytes,omitempty"`
	TotalItems int64         `json:"total_items,omitempty"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	Done       bool          `json:"done"`
}

// Stats returns the task's counters now.
func (t *Task) Stats() Stats {
	if t == nil {
		return Stats{}
	}
	s := Stats{Name: t.Name, Bytes: t.bytes.Load(), Items: t.items.Load(),
		TotalBytes: t.totalBytes.Load(), TotalItems: t.totalItems.Load(),
		Elapsed: time.Since(t.start), Done: t.done.Load()}
	if p := t.phase.Load(); p != nil {
		s.Phase = *p
	}
	return s
}

// Rate is bytes per second so far.
func (s Stats) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Bytes) / s.Elapsed.Seconds()
}

// ETA estimates the remaining time from the byte (or item) totals; 0 when unknown.
func (s Stats) ETA() time.Duration {
	done, total := s.Bytes, s.TotalBytes
	if total <= 0 {
		done, total = s.Items, s.TotalItems
	}
	if total <= 0 || done <= 0 || done >= total {
		return 0
	}
	return time.Duration(float64(s.Elapsed) * float64(total-done) / float64(done))
}

// Tracker holds the tasks of one command run, for a printer to poll.
type Tracker struct {
	mu    sync.Mutex
	tasks []*Task
}

// Start creates and registers a task. A nil Tracker returns a task that is
// counted but never shown.
func (tr *Tracker) Start(name string) *Task {
	t := NewTask(name)
	if tr != nil {
		tr.mu.Lock()
		tr.tasks = append(tr.tasks, t)
		tr.mu.Unlock()
	}
	return t
}

// Stats returns every task's counters, in start order.
func (tr *Tracker) Stats() []Stats {
	if tr == nil {
		return nil
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := make([]Stats, len(tr.tasks))
	for i, t := range tr.tasks {
		out[i] = t.Stats()
	}
	sort.SliceStable(out, func(i, j int) bool { return !out[i].Done && out[j].Done })
	return out
}

// Writer counts bytes written through it into a task.
type Writer struct {
	W    io.Writer
	Task *Task
}

func (w Writer) Write(p []byte) (int, error) {
	n, err := w.W.Write(p)
	w.Task.AddBytes(int64(n))
	return n, err
}

// Reader counts bytes read through it into a task.
type Reader struct {
	R    io.Reader
	Task *Task
}

func (r Reader) Read(p []byte) (int, error) {
	n, err := r.R.Read(p)
	r.Task.AddBytes(int64(n))
	return n, err
}
