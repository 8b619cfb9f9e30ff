package main

import (
	"net"
	"os"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/purge"
	"github.com/3scale-ops/3scale-ops/internal/runbook"
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
backup leaves no visible snapshot). Every job runs in this process with the global
settings given here, each run in a context of its own; a run that panics counts as
a failed run and the daemon goes on.

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
		jobs = append(jobs, schedule.Job{Name: "backup", Spec: spec, Run: runbook.BackupJob(&g.Settings, map[string]string{"trigger": "schedule"})})
	}
	if spec := val("prune", f.Prune); spec != "" {
		req, err := runbook.ParsePruneArgs(val("prune-args", f.PruneArgs))
		if err != nil {
			return err
		}
		jobs = append(jobs, schedule.Job{Name: "prune", Spec: spec, Run: runbook.PruneJob(&g.Settings, req)})
	}
	if spec := val("purge-alerts", f.PurgeAlerts); spec != "" {
		if err := runbook.CheckBatch(c.Int("purge-batch-size")); err != nil {
			return err
		}
		jobs = append(jobs, schedule.Job{Name: "purge-alerts", Spec: spec, Run: runbook.PurgeAlertsJob(&g.Settings, age, c.Int("purge-batch-size"))})
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
