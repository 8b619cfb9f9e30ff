package main

import (
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/urfave/cli/v2"
)

func purgeCommand() *cli.Command {
	return &cli.Command{
		Name:  "purge",
		Usage: "delete old rows that 3scale never purges (alerts) or purges through sidekiq",
		Subcommands: []*cli.Command{
			{Name: "alerts", Usage: "delete alerts older than --older-than in primary-key batches",
				UsageText: "3scale-ops -n 3scale purge alerts --older-than 14d --dry-run\n3scale-ops -n 3scale purge alerts --older-than 30d --batch-size 5000",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "older-than", Value: "14d", EnvVars: []string{"THREESCALE_OPS_PURGE_OLDER_THAN"}, Usage: "age: 14d, 2w, 36h, 3mo"},
					&cli.IntFlag{Name: "batch-size", Value: 10000, EnvVars: []string{"THREESCALE_OPS_PURGE_BATCH_SIZE"}, Usage: "rows deleted per statement"},
					&cli.BoolFlag{Name: "dry-run", Usage: "count only"},
				}, Action: func(*cli.Context) error { return errs.NotImplemented("purge alerts") }},
			{Name: "tables", Usage: "purge the tables 3scale purges itself (user_sessions 2w, audits 3mo, log_entries 6mo, event_store_events 1w)",
				UsageText: "3scale-ops -n 3scale purge tables --dry-run\n3scale-ops -n 3scale purge tables --age audits=6mo",
				Flags: []cli.Flag{
					&cli.StringSliceFlag{Name: "age", Usage: "per-table age override TABLE=AGE; repeatable"},
					&cli.IntFlag{Name: "batch-size", Value: 10000, Usage: "rows deleted per statement"},
					&cli.BoolFlag{Name: "dry-run", Usage: "count only"},
				}, Action: func(*cli.Context) error { return errs.NotImplemented("purge tables") }},
		},
	}
}
