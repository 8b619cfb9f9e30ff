package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/purge"
	"github.com/3scale-ops/3scale-ops/internal/schedule"
	"github.com/urfave/cli/v2"
	"sigs.k8s.io/yaml"
)

func scheduleCommand() *cli.Command {
	return &cli.Command{
		Name:      "schedule",
		Usage:     "run backups, prunes and purges on cron schedules (daemon with /healthz and /metrics)",
		UsageText: `3scale-ops -n 3scale schedule --backup "0 2 * * *" --prune "0 4 * * *" --purge-alerts @daily`,
		Description: `Specs: five fields (minute hour day month weekday), six with leading seconds, or
@hourly/@daily/@weekly/@monthly/@every DURATION, in --timezone. A job whose previous run
is still going is skipped (counted in threescale_ops_job_skipped_total). On SIGTERM no
new run starts and a running one gets --grace to finish, then is cancelled (a cancelled
backup leaves no visible snapshot). backup and prune run as child processes of this
binary ("3scale-ops backup", "3scale-ops backups prune ARGS") with the same global
settings passed through the environment; purge-alerts runs in-process.

Config file (--config, YAML; flags win):
  backup: "0 2 * * *"
  prune: "0 4 * * *"
  purge-alerts: "@daily"
  timezone: Europe/Madrid
  listen: ":9090"
  grace: 30m
  prune-args: "--keep-daily 7 --keep-weekly 4 --keep-monthly 6"
  purge-older-than: 14d`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "backup", EnvVars: []string{"THREESCALE_OPS_SCHEDULE_BACKUP"}, Usage: "cron spec for backup"},
			&cli.StringFlag{Name: "prune", EnvVars: []string{"THREESCALE_OPS_SCHEDULE_PRUNE"}, Usage: "cron spec for backups prune"},
			&cli.StringFlag{Name: "purge-alerts", EnvVars: []string{"THREESCALE_OPS_SCHEDULE_PURGE_ALERTS"}, Usage: "cron spec for purge alerts"},
			&cli.StringFlag{Name: "listen", Value: ":9090", EnvVars: []string{"THREESCALE_OPS_LISTEN"}, Usage: "address for /healthz and /metrics"},
			&cli.StringFlag{Name: "timezone", Value: "UTC", EnvVars: []string{"THREESCALE_OPS_TIMEZONE"}, Usage: "time zone of the cron specs"},
			&cli.StringFlag{Name: "config", EnvVars: []string{"THREESCALE_OPS_SCHEDULE_CONFIG"}, Usage: "YAML file with the schedule"},
			&cli.DurationFlag{Name: "grace", Value: 10 * time.Minute, EnvVars: []string{"THREESCALE_OPS_SCHEDULE_GRACE"}, Usage: "how long a running job may finish after SIGTERM"},
			&cli.StringFlag{Name: "prune-args", Value: "--keep-daily 7 --keep-weekly 4 --keep-monthly 6", EnvVars: []string{"THREESCALE_OPS_SCHEDULE_PRUNE_ARGS"}, Usage: "arguments of the scheduled \"backups prune\""},
			&cli.StringFlag{Name: "purge-older-than", Value: "14d", EnvVars: []string{"THREESCALE_OPS_PURGE_OLDER_THAN"}, Usage: "age for the scheduled alerts purge"},
			&cli.IntFlag{Name: "purge-batch-size", Value: 10000, EnvVars: []string{"THREESCALE_OPS_PURGE_BATCH_SIZE"}, Usage: "batch size of the scheduled alerts purge"},
		},
		Action: runSchedule,
	}
}

// scheduleFile is the --config file.
type scheduleFile struct {
	Backup         string `json:"backup"`
	Prune          string `json:"prune"`
	PurgeAlerts    string `json:"purge-alerts"`
	Timezone       string `json:"timezone"`
	Listen         string `json:"listen"`
	Grace          string `json:"grace"`
	PruneArgs      string `json:"prune-args"`
	PurgeOlderThan string `json:"purge-older-than"`
}

func runSchedule(c *cli.Context) error {
	g := getGlobals(c)
	// Flags (and their env vars) win over the file.
	val := func(name, file string) string {
		if c.IsSet(name) || file == "" {
			return c.String(name)
		}
		return file
	}
	var f scheduleFile
	if path := c.String("config"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return errs.UsageError("give a readable YAML file to --config", "schedule config: %v", err)
		}
		if err := yaml.UnmarshalStrict(b, &f); err != nil {
			return errs.UsageError("keys: backup, prune, purge-alerts, timezone, listen, grace, prune-args, purge-older-than", "schedule config %s: %v", path, err)
		}
	}
	grace := c.Duration("grace")
	if f.Grace != "" && !c.IsSet("grace") {
		d, err := time.ParseDuration(f.Grace)
		if err != nil {
			return errs.UsageError("write grace as a duration, e.g. 30m", "schedule config grace: %v", err)
		}
		grace = d
	}
	loc, err := time.LoadLocation(val("timezone", f.Timezone))
	if err != nil {
		return errs.UsageError("use an IANA zone such as UTC or Europe/Madrid", "time zone: %v", err)
	}
	age, err := purge.ParseAge(val("purge-older-than", f.PurgeOlderThan))
	if err != nil {
		return err
	}
	var jobs []schedule.Job
	if spec := val("backup", f.Backup); spec != "" {
		jobs = append(jobs, schedule.Job{Name: "backup", Spec: spec, Run: childJob(g, "backup", "backup", "--tag", "trigger=schedule")})
	}
	if spec := val("prune", f.Prune); spec != "" {
		args := append([]string{"backups", "prune"}, strings.Fields(val("prune-args", f.PruneArgs))...)
		jobs = append(jobs, schedule.Job{Name: "prune", Spec: spec, Run: childJob(g, "prune", args...)})
	}
	if spec := val("purge-alerts", f.PurgeAlerts); spec != "" {
		batch := c.Int("purge-batch-size")
		jobs = append(jobs, schedule.Job{Name: "purge-alerts", Spec: spec, Run: func(ctx context.Context) (schedule.JobResult, error) {
			p, err := openPurger(ctx, g, age, batch)
			if err != nil {
				return schedule.JobResult{}, err
			}
			defer p.Close()
			res, err := p.Alerts(ctx, age, false, nil)
			return schedule.JobResult{Rows: res.Deleted, Detail: fmt.Sprintf("%d alerts older than %s deleted", res.Deleted, res.Age)}, err
		}})
	}
	s, err := schedule.New(jobs, schedule.Options{Location: loc, Grace: grace, Log: g.Log})
	if err != nil {
		return err
	}
	addr := val("listen", f.Listen)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return errs.UsageError("pick a free address for --listen, e.g. :9090", "listen on %s: %v", addr, err)
	}
	g.Log.Info("serving /healthz and /metrics", "addr", ln.Addr().String())
	return s.Run(c.Context, ln)
}

// childJob runs this binary with args as a child process, passing the
// global settings through the environment (never secrets in arguments),
// and reads its -o json result for the metrics.
func childJob(g *globals, name string, args ...string) schedule.JobFunc {
	return func(ctx context.Context) (schedule.JobResult, error) {
		exe, err := os.Executable()
		if err != nil {
			return schedule.JobResult{}, fmt.Errorf("%s: find own executable: %w", name, err)
		}
		cmd := exec.CommandContext(ctx, exe, append([]string{"--output", "json", "--no-progress"}, args...)...)
		cmd.Env = append(os.Environ(), childEnv(g)...)
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) } // lets it abort cleanly
		cmd.WaitDelay = time.Minute
		var out bytes.Buffer
		lw := &logWriter{g: g, prefix: name + ": "}
		cmd.Stdout, cmd.Stderr = &out, lw
		err = cmd.Run()
		lw.Flush()
		res := parseChildResult(out.Bytes())
		if err != nil {
			if ctx.Err() != nil {
				return res, fmt.Errorf("%s cancelled at shutdown: %w", name, ctx.Err())
			}
			return res, fmt.Errorf("%s: %w (its log lines are above)", name, err)
		}
		return res, nil
	}
}

// childEnv passes the daemon's global settings to a child.
func childEnv(g *globals) []string {
	env := []string{"THREESCALE_NAMESPACE=" + g.Namespace, "THREESCALE_OPS_REPO=" + g.Repo,
		"THREESCALE_OPS_LOG_FORMAT=" + g.LogFormat, "THREESCALE_OPS_LOG_LEVEL=" + g.LogLevel}
	add := func(k, v string) {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	add("KUBECONFIG", g.Kubeconfig)
	add("THREESCALE_OPS_CONTEXT", g.Context)
	add("THREESCALE_OPS_PASSWORD_FILE", g.PasswordFile)
	add("THREESCALE_OPS_RECIPIENTS", strings.Join(g.Recipients, ","))
	add("THREESCALE_OPS_RECIPIENTS_FILE", g.RecipientsFile)
	add("THREESCALE_OPS_IDENTITY_FILE", g.IdentityFile)
	add("THREESCALE_OPS_WRITER_KEY_FILE", g.WriterKeyFile)
	if g.S3Insecure {
		add("THREESCALE_OPS_S3_INSECURE", "true")
	}
	if g.Local {
		add("THREESCALE_OPS_LOCAL", "true")
	}
	ov := g.Overrides
	add("THREESCALE_SYSTEM_DB_URL", ov.SystemDB)
	add("THREESCALE_ZYNC_DB_URL", ov.ZyncDB)
	add("THREESCALE_BACKEND_REDIS_URL", ov.BackendRedis)
	add("THREESCALE_BACKEND_REDIS_QUEUES_URL", ov.BackendRedisQueues)
	add("THREESCALE_SYSTEM_REDIS_URL", ov.SystemRedis)
	add("THREESCALE_SYSTEM_STORAGE", ov.SystemStorage)
	return append(env, tlsFlagEnv(ov)...)
}

// parseChildResult picks the snapshot id and size out of a child's JSON
// result, whatever its exact shape; a non-JSON result yields nothing.
func parseChildResult(b []byte) schedule.JobResult {
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return schedule.JobResult{}
	}
	var r schedule.JobResult
	for _, k := range []string{"id", "snapshot", "snapshot_id"} {
		if s, ok := m[k].(string); ok {
			r.Detail = s
			break
		}
	}
	for _, k := range []string{"bytes", "size", "size_bytes", "stored_bytes"} {
		if n, ok := m[k].(float64); ok {
			r.Bytes = int64(n)
			break
		}
	}
	return r
}
