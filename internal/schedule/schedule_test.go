package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
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

func TestFiresNeverOverlapsAndExportsMetrics(t *testing.T) {
	var concurrent, maxConcurrent, slowRuns, fastRuns atomic.Int64
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
		select {
		case <-time.After(2200 * time.Millisecond):
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
	s, err := New([]Job{{Name: "backup", Spec: "* * * * * *", Run: slow}, {Name: "purge-alerts", Spec: "@every 1s", Run: fast}},
		Options{Log: quiet(), Grace: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	base, stop := start(t, s)
	time.Sleep(4500 * time.Millisecond)
	mf := scrape(t, base)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if maxConcurrent.Load() != 1 {
		t.Errorf("backup ran %d at once", maxConcurrent.Load())
	}
	if slowRuns.Load() < 1 || slowRuns.Load() > 2 {
		t.Errorf("backup started %d times in 4.5s with 2.2s runs", slowRuns.Load())
	}
	if skipped := value(t, mf, "threescale_ops_job_skipped_total", "backup"); skipped < 1 {
		t.Errorf("skipped = %v, want the overlapping seconds counted", skipped)
	}
	if ok := value(t, mf, "threescale_ops_job_runs_total", "backup", "result", "success"); ok < 1 {
		t.Errorf("backup successes = %v", ok)
	}
	if ts := value(t, mf, "threescale_ops_job_last_success_timestamp_seconds", "backup"); time.Since(time.Unix(int64(ts), 0)) > 10*time.Second {
		t.Errorf("last success timestamp %v is not recent", ts)
	}
	if b := value(t, mf, "threescale_ops_job_last_bytes", "backup"); b != 4096 {
		t.Errorf("last bytes = %v", b)
	}
	succ := value(t, mf, "threescale_ops_job_runs_total", "purge-alerts", "result", "success")
	fail := value(t, mf, "threescale_ops_job_failures_total", "purge-alerts")
	if succ < 2 || fail < 1 {
		t.Errorf("purge-alerts: %v successes, %v failures", succ, fail)
	}
	if rows := value(t, mf, "threescale_ops_purged_rows_total", "purge-alerts"); rows != 5*succ {
		t.Errorf("purged rows = %v, want 5 per success (%v)", rows, succ)
	}
	if d := value(t, mf, "threescale_ops_job_last_duration_seconds", "backup"); d < 2 || d > 5 {
		t.Errorf("backup duration = %v", d)
	}
}

func TestHealthz(t *testing.T) {
	s, err := New([]Job{{Name: "prune", Spec: "0 4 * * *", Run: func(context.Context) (JobResult, error) { return JobResult{}, nil }}},
		Options{Log: quiet(), Location: time.FixedZone("X", -5*3600)})
	if err != nil {
		t.Fatal(err)
	}
	base, _ := start(t, s)
	var body struct {
		Status string      `json:"status"`
		Jobs   []JobStatus `json:"jobs"`
	}
	var resp *http.Response
	for range 50 { // the server may need a moment
		if resp, err = http.Get(base + "/healthz"); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
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
	if next := body.Jobs[0].Next.In(time.FixedZone("X", -5*3600)); next.Hour() != 4 || next.Minute() != 0 {
		t.Errorf("next run %s is not 04:00 in the schedule's time zone", next)
	}
}

func TestGracefulShutdownLetsJobFinish(t *testing.T) {
	started := make(chan struct{}, 10)
	var finished, cancelled atomic.Bool
	s, err := New([]Job{{Name: "backup", Spec: "@every 1s", Run: func(ctx context.Context) (JobResult, error) {
		started <- struct{}{}
		select {
		case <-time.After(800 * time.Millisecond):
			finished.Store(true)
			return JobResult{}, nil
		case <-ctx.Done():
			cancelled.Store(true)
			return JobResult{}, ctx.Err()
		}
	}}}, Options{Log: quiet(), Grace: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, stop := start(t, s)
	<-started
	if err := stop(); err != nil {
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
	s, err := New([]Job{{Name: "backup", Spec: "@every 1s", Run: func(ctx context.Context) (JobResult, error) {
		started <- struct{}{}
		<-ctx.Done()
		cancelled.Store(true)
		return JobResult{}, ctx.Err()
	}}}, Options{Log: quiet(), Grace: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, stop := start(t, s)
	<-started
	t0 := time.Now()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !cancelled.Load() {
		t.Error("job not cancelled after the grace period")
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("shutdown took %s with a 200ms grace", d)
	}
	if st := s.Status()[0]; st.Failures != 1 || st.LastError == "" {
		t.Errorf("cancelled run not recorded as a failure: %+v", st)
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
