package schedule

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the daemon's Prometheus series, in a registry of its own.
type metrics struct {
	reg         *prometheus.Registry
	lastSuccess *prometheus.GaugeVec
	duration    *prometheus.GaugeVec
	bytes       *prometheus.GaugeVec
	runs        *prometheus.CounterVec
	failures    *prometheus.CounterVec
	skipped     *prometheus.CounterVec
	rows        *prometheus.CounterVec
	running     *prometheus.GaugeVec
}

func newMetrics() *metrics {
	job := []string{"job"}
	m := &metrics{
		reg: prometheus.NewRegistry(),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "threescale_ops", Name: "job_last_success_timestamp_seconds",
			Help: "Unix time of the job's last successful run (0: none yet). Alert when it is older than the schedule allows."}, job),
		duration: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "threescale_ops", Name: "job_last_duration_seconds",
			Help: "Duration of the job's last run, successful or not."}, job),
		bytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "threescale_ops", Name: "job_last_bytes",
			Help: "Bytes written by the job's last successful run (backup size)."}, job),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "threescale_ops", Name: "job_runs_total",
			Help: "Finished runs by result (success, failure)."}, []string{"job", "result"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "threescale_ops", Name: "job_failures_total",
			Help: "Failed runs."}, job),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "threescale_ops", Name: "job_skipped_total",
			Help: "Runs skipped because the previous run of the same job was still going."}, job),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "threescale_ops", Name: "purged_rows_total",
			Help: "Rows deleted by purge jobs."}, job),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "threescale_ops", Name: "job_running",
			Help: "1 while the job runs."}, job),
	}
	m.reg.MustRegister(m.lastSuccess, m.duration, m.bytes, m.runs, m.failures, m.skipped, m.rows, m.running,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// init makes every series of a job visible (at 0) before its first run.
func (m *metrics) init(job string) {
	m.lastSuccess.WithLabelValues(job)
	m.duration.WithLabelValues(job)
	m.bytes.WithLabelValues(job)
	m.runs.WithLabelValues(job, "success")
	m.runs.WithLabelValues(job, "failure")
	m.failures.WithLabelValues(job)
	m.skipped.WithLabelValues(job)
	m.rows.WithLabelValues(job)
	m.running.WithLabelValues(job)
}

// Handler serves /metrics (Prometheus text) and /healthz (200 and the jobs'
// state as JSON while the daemon runs; job failures show in the body and
// the metrics, not as an unhealthy daemon, so Kubernetes does not restart
// it in the middle of the next backup).
func (s *Scheduler) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "ok", "jobs": s.Status()})
	})
	return mux
}
