// Package schedule is the `3scale-ops schedule` daemon: it runs backup,
// prune and purge jobs on cron specs (robfig/cron's parser: standard five
// fields, optional seconds, @daily-style descriptors, a time zone), never
// two runs of the same job at once (the later one is skipped and counted),
// each run in a context of its own and behind a panic guard, and on
// shutdown lets a running job finish within a grace period before
// cancelling it. Time comes from an injected Clock (tests drive it by
// hand). It serves /healthz and Prometheus /metrics. It also
// renders the Kubernetes manifests that run the tool (manifests.go).
//
// The jobs themselves are functions handed in by the CLI; this package
// never knows what a backup is, and never prints.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/redact"
	"github.com/robfig/cron/v3"
)

// JobResult is what a job reports for the metrics.
type JobResult struct {
	Bytes  int64  // bytes written (backup)
	Rows   int64  // rows deleted (purge)
	Detail string // e.g. the snapshot id
}

// JobFunc runs one job. It must honour ctx: cancelled when the grace
// period after SIGTERM runs out.
type JobFunc func(ctx context.Context) (JobResult, error)

// Job is a named job on a cron spec.
type Job struct {
	Name string
	Spec string
	Run  JobFunc
}

// Clock is the scheduler's time: when runs are due, how long the grace
// period lasts, what the metrics record. Tests inject a manual clock.
type Clock interface {
	Now() time.Time
	// After sends on the channel once d has passed on this clock.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Options configure a Scheduler.
type Options struct {
	Location *time.Location // time zone of the specs (default UTC)
	Grace    time.Duration  // how long a running job may finish after shutdown starts (default 10m)
	Log      *slog.Logger
	Clock    Clock // default: the system clock
}

// Parser accepts standard five-field specs, six fields with leading
// seconds, and descriptors (@daily, @every 1h).
var Parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Scheduler runs jobs on their specs.
type Scheduler struct {
	opts    Options
	clock   Clock
	jobs    []*jobState
	metrics *metrics

	jobCtx     context.Context
	cancelJobs context.CancelFunc
	running    sync.WaitGroup
	afterRun   func(job string) // tests: called when a run has been recorded
}

type jobState struct {
	Job
	sched  cron.Schedule
	busy   atomic.Bool
	mu     sync.Mutex
	next   time.Time
	status JobStatus
}

// JobStatus is one job's state, served on /healthz.
type JobStatus struct {
	Name        string    `json:"name"`
	Spec        string    `json:"spec"`
	Next        time.Time `json:"next,omitzero"`
	Running     bool      `json:"running"`
	Runs        int64     `json:"runs"`
	Failures    int64     `json:"failures"`
	Skipped     int64     `json:"skipped"`
	LastStart   time.Time `json:"last_start,omitzero"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastDetail  string    `json:"last_detail,omitempty"`
}

// New validates every spec and prepares the jobs; nothing runs until Run.
func New(jobs []Job, opts Options) (*Scheduler, error) {
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Grace <= 0 {
		opts.Grace = 10 * time.Minute
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = realClock{}
	}
	if len(jobs) == 0 {
		return nil, errs.UsageError("give at least one of --backup, --prune, --purge-alerts (a cron spec such as \"0 2 * * *\" or @daily)", "no job scheduled")
	}
	s := &Scheduler{opts: opts, clock: opts.Clock, metrics: newMetrics()}
	s.jobCtx, s.cancelJobs = context.WithCancel(context.Background())
	seen := map[string]bool{}
	for _, j := range jobs {
		if seen[j.Name] {
			return nil, errs.UsageError("give each job once", "job %q scheduled twice", j.Name)
		}
		seen[j.Name] = true
		if j.Run == nil {
			return nil, fmt.Errorf("job %q has no function", j.Name)
		}
		sched, err := Parser.Parse(j.Spec)
		if err != nil {
			return nil, errs.UsageError("use five fields (minute hour day month weekday, e.g. \"0 2 * * *\"), six with leading seconds, or @hourly/@daily/@weekly/@every 6h",
				"invalid cron spec %q for %s: %v", j.Spec, j.Name, err)
		}
		js := &jobState{Job: j, sched: sched, status: JobStatus{Name: j.Name, Spec: j.Spec}}
		js.next = sched.Next(s.now())
		s.jobs = append(s.jobs, js)
		s.metrics.init(j.Name)
	}
	return s, nil
}

// now is the clock's time in the schedule's zone (the specs are read in it).
func (s *Scheduler) now() time.Time { return s.clock.Now().In(s.opts.Location) }

// loop starts each job when it is due until ctx is done.
func (s *Scheduler) loop(ctx context.Context) {
	for {
		now := s.now()
		var due time.Time
		for _, js := range s.jobs {
			js.mu.Lock()
			if next := js.next; due.IsZero() || next.Before(due) {
				due = next
			}
			js.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-s.clock.After(due.Sub(now)):
		}
		if ctx.Err() != nil {
			return
		}
		now = s.now()
		for _, js := range s.jobs {
			js.mu.Lock()
			fire := !js.next.After(now)
			if fire {
				js.next = js.sched.Next(now)
			}
			js.mu.Unlock()
			if fire {
				s.fire(js)
			}
		}
	}
}

// fire starts a run of the job unless its previous run is still going
// (then the run is skipped and counted).
func (s *Scheduler) fire(js *jobState) {
	if !js.busy.CompareAndSwap(false, true) {
		s.metrics.skipped.WithLabelValues(js.Name).Inc()
		js.mu.Lock()
		js.status.Skipped++
		js.mu.Unlock()
		s.opts.Log.Warn("job still running; this run is skipped", "job", js.Name)
		return
	}
	s.running.Add(1)
	go s.run(js)
}

// run runs the job once, in its own context, and records the result.
func (s *Scheduler) run(js *jobState) {
	defer s.running.Done()
	s.runOnce(js)
	js.busy.Store(false)
	if s.afterRun != nil {
		s.afterRun(js.Name)
	}
}

func (s *Scheduler) runOnce(js *jobState) {
	start := s.clock.Now()
	js.mu.Lock()
	js.status.Running, js.status.LastStart = true, start
	js.mu.Unlock()
	s.metrics.running.WithLabelValues(js.Name).Set(1)
	s.opts.Log.Info("job started", "job", js.Name)

	res, err := s.call(js)

	end := s.clock.Now()
	d := end.Sub(start)
	s.metrics.running.WithLabelValues(js.Name).Set(0)
	s.metrics.duration.WithLabelValues(js.Name).Set(d.Seconds())
	js.mu.Lock()
	js.status.Running = false
	js.status.Runs++
	if err != nil {
		js.status.Failures++
		js.status.LastError = redact.String(err.Error())
		s.metrics.runs.WithLabelValues(js.Name, "failure").Inc()
		s.metrics.failures.WithLabelValues(js.Name).Inc()
		s.opts.Log.Error("job failed", "job", js.Name, "duration", d, "err", err)
	} else {
		js.status.LastError, js.status.LastSuccess, js.status.LastDetail = "", end, res.Detail
		s.metrics.runs.WithLabelValues(js.Name, "success").Inc()
		s.metrics.lastSuccess.WithLabelValues(js.Name).Set(float64(end.UnixNano()) / 1e9)
		s.metrics.bytes.WithLabelValues(js.Name).Set(float64(res.Bytes))
		s.metrics.rows.WithLabelValues(js.Name).Add(float64(res.Rows))
		s.opts.Log.Info("job done", "job", js.Name, "duration", d, "bytes", res.Bytes, "rows", res.Rows, "detail", res.Detail)
	}
	js.mu.Unlock()
}

// call runs the job function in a context of its own (cancelled when the
// run returns, or when the grace period after shutdown runs out), turning
// a panic into a failure so one bad run never takes the daemon down.
func (s *Scheduler) call(js *jobState) (res JobResult, err error) {
	ctx, cancel := context.WithCancel(s.jobCtx)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("job %s panicked: %v", js.Name, r)
		}
	}()
	return js.Run(ctx)
}

// Status returns every job's state, sorted by name.
func (s *Scheduler) Status() []JobStatus {
	out := make([]JobStatus, 0, len(s.jobs))
	for _, js := range s.jobs {
		js.mu.Lock()
		st := js.status
		st.Next = js.next
		js.mu.Unlock()
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Run schedules the jobs and serves /healthz and /metrics on ln (if not
// nil) until ctx is done. Then no new run starts; running jobs get the
// grace period to finish, after which their context is cancelled and Run
// waits for them to return. It returns nil after a clean shutdown, or the
// error that stopped the HTTP server.
func (s *Scheduler) Run(ctx context.Context, ln net.Listener) error {
	srvErr := make(chan error, 1)
	var srv *http.Server
	if ln != nil {
		srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { srvErr <- srv.Serve(ln) }()
	}
	loopCtx, stopLoop := context.WithCancel(ctx)
	loopDone := make(chan struct{})
	go func() { defer close(loopDone); s.loop(loopCtx) }()
	s.opts.Log.Info("scheduler started", "jobs", len(s.jobs), "timezone", s.opts.Location.String())
	var err error
	select {
	case <-ctx.Done():
	case err = <-srvErr:
		err = fmt.Errorf("metrics server: %w", err)
	}
	stopLoop() // no new runs
	<-loopDone
	if !s.waitRunning(s.opts.Grace) {
		s.opts.Log.Warn("grace period over; cancelling running jobs", "grace", s.opts.Grace)
		s.cancelJobs()
		s.running.Wait()
	}
	s.cancelJobs()
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	s.opts.Log.Info("scheduler stopped")
	return err
}

// waitRunning waits up to d (on the scheduler's clock) for running jobs;
// false if they still run.
func (s *Scheduler) waitRunning(d time.Duration) bool {
	done := make(chan struct{})
	go func() { s.running.Wait(); close(done) }()
	select {
	case <-done:
		return true
	default:
	}
	select {
	case <-done:
		return true
	case <-s.clock.After(d):
		return false
	}
}
