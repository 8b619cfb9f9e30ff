package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// start runs s in the background with a loopback listener; stop() shuts it
// down and returns Run's error.
func start(t *testing.T, s *Scheduler) (base string, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	var stopped bool
	var result error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			result = <-done
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return "http://" + ln.Addr().String(), stop
}

func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mf
}

// value returns the value of family name for the given job (and result).
func value(t *testing.T, mf map[string]*dto.MetricFamily, name, job string, labels ...string) float64 {
	t.Helper()
	f, ok := mf[name]
	if !ok {
		t.Fatalf("metric %s missing", name)
	}
	for _, m := range f.GetMetric() {
		lv := map[string]string{}
		for _, l := range m.GetLabel() {
			lv[l.GetName()] = l.GetValue()
		}
		if lv["job"] != job || (len(labels) == 2 && lv[labels[0]] != labels[1]) {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s{job=%q %v} missing", name, job, labels)
	return 0
}

var t0 = time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)

// tick moves the clock to the scheduler's next due time, one second on,
// once the scheduler is waiting for it.
func tick(c *manualClock) {
	next := c.Now().Add(time.Second)
	c.WaitFor(next)
	c.Advance(time.Second)
}

// recorded makes s report each recorded run on the returned channel.
func recorded(s *Scheduler) <-chan string {
	done := make(chan string, 100)
	s.afterRun = func(job string) { done <- job }
	return done
}

// waitRun waits until a run of job has been recorded (runs of other jobs
// may come first).
func waitRun(t *testing.T, done <-chan string, job string) {
	t.Helper()
	for name := range done {
		if name == job {
			return
		}
	}
}

func TestFiresNeverOverlapsAndExportsMetrics(t *testing.T) {
	var concurrent, maxConcurrent, slowRuns, fastRuns atomic.Int64
	started, release := make(chan struct{}, 10), make(chan struct{})
	slow := func(ctx context.Context) (JobResult, error) {
		n := concurrent.Add(1)
		defer concurrent.Add(-1)
		for {
			m := maxConcurrent.Load()
			if n <= m || maxConcurrent.CompareAndSwap(m, n) {
				break
			}
		}
		slowRuns.Add(1)
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
			return JobResult{}, ctx.Err()
		}
		return JobResult{Bytes: 4096, Detail: "20260301T020000Z-abc123"}, nil
	}
	fast := func(context.Context) (JobResult, error) {
		if fastRuns.Add(1)%2 == 0 {
			return JobResult{}, errors.New("database unreachable")
		}
		return JobResult{Rows: 5}, nil
	}
	clk := newManualClock(t0)
	s, err := New([]Job{{Name: "backup", Spec: "* * * * * *", Run: slow}, {Name: "purge-alerts", Spec: "@every 1s", Run: fast}},
		Options{Log: quiet(), Grace: 10 * time.Second, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	done := recorded(s)
	base, stop := start(t, s)

	tick(clk) // 02:00:01: both start; backup keeps running
	<-started
	waitRun(t, done, "purge-alerts")
	tick(clk) // 02:00:02: backup still running: skipped
	waitRun(t, done, "purge-alerts")
	tick(clk) // 02:00:03: skipped again
	waitRun(t, done, "purge-alerts")
	release <- struct{}{}
	waitRun(t, done, "backup")
	mf := scrape(t, base)
	if d := value(t, mf, "threescale_ops_job_last_duration_seconds", "backup"); d != 2 {
		t.Errorf("backup duration = %v, want 2 (02:00:01 to 02:00:03)", d)
	}
	tick(clk) // 02:00:04: backup starts again
	<-started
	waitRun(t, done, "purge-alerts")
	release <- struct{}{}
	waitRun(t, done, "backup")
	mf = scrape(t, base)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if maxConcurrent.Load() != 1 {
		t.Errorf("backup ran %d at once", maxConcurrent.Load())
	}
	if slowRuns.Load() != 2 {
		t.Errorf("backup started %d times in 4 seconds with a run over 02:00:01-03, want 2", slowRuns.Load())
	}
	if skipped := value(t, mf, "threescale_ops_job_skipped_total", "backup"); skipped != 2 {
		t.Errorf("skipped = %v, want the 2 overlapping seconds counted", skipped)
	}
	if ok := value(t, mf, "threescale_ops_job_runs_total", "backup", "result", "success"); ok != 2 {
		t.Errorf("backup successes = %v", ok)
	}
	if ts := value(t, mf, "threescale_ops_job_last_success_timestamp_seconds", "backup"); ts != float64(t0.Add(4*time.Second).Unix()) {
		t.Errorf("last success timestamp %v, want %d (02:00:04)", ts, t0.Add(4*time.Second).Unix())
	}
	if b := value(t, mf, "threescale_ops_job_last_bytes", "backup"); b != 4096 {
		t.Errorf("last bytes = %v", b)
	}
	succ := value(t, mf, "threescale_ops_job_runs_total", "purge-alerts", "result", "success")
	fail := value(t, mf, "threescale_ops_job_failures_total", "purge-alerts")
	if succ != 2 || fail != 2 {
		t.Errorf("purge-alerts: %v successes, %v failures; want 2 and 2", succ, fail)
	}
	if rows := value(t, mf, "threescale_ops_purged_rows_total", "purge-alerts"); rows != 10 {
		t.Errorf("purged rows = %v, want 5 per success", rows)
	}
	if st := s.Status()[0]; st.Name != "backup" || st.LastDetail != "20260301T020000Z-abc123" || !st.LastSuccess.Equal(t0.Add(4*time.Second)) {
		t.Errorf("backup status %+v", st)
	}
}

func TestHealthz(t *testing.T) {
	zone := time.FixedZone("X", -5*3600)
	s, err := New([]Job{{Name: "prune", Spec: "0 4 * * *", Run: func(context.Context) (JobResult, error) { return JobResult{}, nil }}},
		Options{Log: quiet(), Location: zone, Clock: newManualClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	base, _ := start(t, s)
	var body struct {
		Status string      `json:"status"`
		Jobs   []JobStatus `json:"jobs"`
	}
	resp, err := http.Get(base + "/healthz") // the listener is open before Run serves it
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz %d: %v", resp.StatusCode, err)
	}
	if body.Status != "ok" || len(body.Jobs) != 1 || body.Jobs[0].Name != "prune" {
		t.Fatalf("healthz = %+v", body)
	}
	// 02:00 UTC is 21:00 the day before in X: the next 04:00 there is
	// 09:00 UTC the same day.
	if next := body.Jobs[0].Next; !next.Equal(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("next run %s is not 04:00 in the schedule's time zone", next.In(zone))
	}
}

// oneRun schedules job every second on a manual clock, starts the
// scheduler and the first run; stop shuts it down.
func oneRun(t *testing.T, grace time.Duration, job JobFunc) (*Scheduler, *manualClock, func() error) {
	t.Helper()
	clk := newManualClock(t0)
	s, err := New([]Job{{Name: "backup", Spec: "@every 1s", Run: job}}, Options{Log: quiet(), Grace: grace, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	_, stop := start(t, s)
	tick(clk)
	return s, clk, stop
}

func TestGracefulShutdownLetsJobFinish(t *testing.T) {
	started, release := make(chan struct{}, 10), make(chan struct{})
	var finished, cancelled atomic.Bool
	s, clk, stop := oneRun(t, 5*time.Second, func(ctx context.Context) (JobResult, error) {
		started <- struct{}{}
		select {
		case <-release:
			finished.Store(true)
			return JobResult{}, nil
		case <-ctx.Done():
			cancelled.Store(true)
			return JobResult{}, ctx.Err()
		}
	})
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	clk.WaitFor(clk.Now().Add(5 * time.Second)) // shutdown is in the grace period
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if !finished.Load() || cancelled.Load() {
		t.Errorf("finished=%v cancelled=%v; the running job should finish within the grace period", finished.Load(), cancelled.Load())
	}
	if st := s.Status()[0]; st.Running || st.Runs != 1 || st.Failures != 0 {
		t.Errorf("status after shutdown = %+v", st)
	}
}

func TestGraceExpiredCancelsJob(t *testing.T) {
	started := make(chan struct{}, 10)
	var cancelled atomic.Bool
	grace := 200 * time.Millisecond
	s, clk, stop := oneRun(t, grace, func(ctx context.Context) (JobResult, error) {
		started <- struct{}{}
		<-ctx.Done()
		cancelled.Store(true)
		return JobResult{}, ctx.Err()
	})
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	clk.WaitFor(clk.Now().Add(grace))
	clk.Advance(grace)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if !cancelled.Load() {
		t.Error("job not cancelled after the grace period")
	}
	if st := s.Status()[0]; st.Failures != 1 || st.LastError == "" {
		t.Errorf("cancelled run not recorded as a failure: %+v", st)
	}
}

// A job that panics is a failed run; the daemon goes on, and every run
// has a context of its own that ends with the run.
func TestPanicIsAFailedRun(t *testing.T) {
	var runs atomic.Int64
	ctxs := make(chan context.Context, 10)
	clk := newManualClock(t0)
	s, err := New([]Job{{Name: "prune", Spec: "@every 1s", Run: func(ctx context.Context) (JobResult, error) {
		ctxs <- ctx
		if runs.Add(1) == 1 {
			panic("index out of range")
		}
		return JobResult{Detail: "ok"}, nil
	}}}, Options{Log: quiet(), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	done := recorded(s)
	_, stop := start(t, s)
	tick(clk)
	waitRun(t, done, "prune")
	if st := s.Status()[0]; st.Failures != 1 || !strings.Contains(st.LastError, "panicked: index out of range") {
		t.Fatalf("status after the panic = %+v", st)
	}
	first := <-ctxs
	if first.Err() == nil {
		t.Error("the first run's context is still live after the run")
	}
	tick(clk)
	waitRun(t, done, "prune")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if st := s.Status()[0]; st.Runs != 2 || st.Failures != 1 || st.LastError != "" || st.LastDetail != "ok" {
		t.Errorf("status after the next run = %+v", st)
	}
	if second := <-ctxs; second == first {
		t.Error("two runs shared one context")
	}
}

func TestSpecs(t *testing.T) {
	ok := func(context.Context) (JobResult, error) { return JobResult{}, nil }
	for _, spec := range []string{"0 2 * * *", "*/5 * * * * *", "@daily", "@every 6h", "0 4 * * SUN"} {
		if _, err := New([]Job{{Name: "j", Spec: spec, Run: ok}}, Options{}); err != nil {
			t.Errorf("%q: %v", spec, err)
		}
	}
	for _, spec := range []string{"", "0 25 * * *", "@fortnightly", "* * *"} {
		if _, err := New([]Job{{Name: "j", Spec: spec, Run: ok}}, Options{}); errs.Code(err) != errs.Usage {
			t.Errorf("%q: err = %v, want usage", spec, err)
		}
	}
	if _, err := New(nil, Options{}); errs.Code(err) != errs.Usage {
		t.Errorf("no jobs: %v", err)
	}
}
