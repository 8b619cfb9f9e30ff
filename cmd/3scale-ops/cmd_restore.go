package main

import (
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/urfave/cli/v2"
)

func restoreCommand() *cli.Command {
	return &cli.Command{
		Name:      "restore",
		Usage:     "restore a snapshot in the runbook's order: plan, preflight, quiesce, data, scale back, resync, verify",
		ArgsUsage: "ID|latest",
		UsageText: `3scale-ops -n 3scale restore latest --dry-run
3scale-ops -n 3scale restore 20261123T020000Z-a1b2c3 --yes
3scale-ops -n 3scale restore 20261123T020000Z-a1b2c3 --resume --yes`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "components", EnvVars: []string{"THREESCALE_OPS_COMPONENTS"}, Usage: "restore only these components"},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the plan and stop"},
			&cli.BoolFlag{Name: "resume", Usage: "continue an interrupted restore of ID from its first unfinished step"},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, EnvVars: []string{"THREESCALE_OPS_YES"}, Usage: "do not ask for confirmation"},
			&cli.StringFlag{Name: "redis-mode", Value: "replay", EnvVars: []string{"THREESCALE_OPS_REDIS_MODE"}, Usage: "replay (RESTORE over the network) or file (the guide's dump.rdb procedure)"},
			&cli.BoolFlag{Name: "skip-queues", EnvVars: []string{"THREESCALE_OPS_SKIP_QUEUES"}, Usage: "leave job queues untouched (restoring them can run jobs twice)"},
			&cli.BoolFlag{Name: "no-quiesce", Usage: "do not scale 3scale down during the restore (unsafe)"},
			&cli.BoolFlag{Name: "no-verify", Usage: "skip the final verification"},
			&cli.BoolFlag{Name: "drop-existing", Usage: "allow restoring into databases that already hold data (they are emptied)"},
		},
		Action: func(c *cli.Context) error { return errs.NotImplemented("restore") },
	}
}
