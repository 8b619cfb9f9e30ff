package main

import (
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/urfave/cli/v2"
)

func scheduleCommand() *cli.Command {
	return &cli.Command{
		Name:      "schedule",
		Usage:     "run backups, prunes and purges on cron schedules (daemon with /healthz and /metrics)",
		UsageText: `3scale-ops -n 3scale schedule --backup "0 2 * * *" --prune "0 4 * * *" --purge-alerts @daily`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "backup", EnvVars: []string{"THREESCALE_OPS_SCHEDULE_BACKUP"}, Usage: "cron spec for backup"},
			&cli.StringFlag{Name: "prune", EnvVars: []string{"THREESCALE_OPS_SCHEDULE_PRUNE"}, Usage: "cron spec for backups prune"},
			&cli.StringFlag{Name: "purge-alerts", EnvVars: []string{"THREESCALE_OPS_SCHEDULE_PURGE_ALERTS"}, Usage: "cron spec for purge alerts"},
			&cli.StringFlag{Name: "listen", Value: ":9090", EnvVars: []string{"THREESCALE_OPS_LISTEN"}, Usage: "address for /healthz and /metrics"},
			&cli.StringFlag{Name: "timezone", Value: "UTC", EnvVars: []string{"THREESCALE_OPS_TIMEZONE"}, Usage: "time zone of the cron specs"},
			&cli.StringFlag{Name: "config", EnvVars: []string{"THREESCALE_OPS_SCHEDULE_CONFIG"}, Usage: "YAML file with the schedule"},
		},
		Action: func(c *cli.Context) error { return errs.NotImplemented("schedule") },
	}
}
