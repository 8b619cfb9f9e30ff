package main

import (
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/urfave/cli/v2"
)

func backupCommand() *cli.Command {
	return &cli.Command{
		Name:  "backup",
		Usage: "take one consistent snapshot of the installation into the repository",
		UsageText: `3scale-ops -n 3scale backup
3scale-ops -n 3scale backup --components system-mysql,backend-redis --tag reason=pre-upgrade
3scale-ops --local --system-db-url mysql2://root:PW@db/system -r /backups backup --components system-mysql`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "components", EnvVars: []string{"THREESCALE_OPS_COMPONENTS"}, Usage: "components to back up (default: all that the installation has)"},
			&cli.StringSliceFlag{Name: "tag", EnvVars: []string{"THREESCALE_OPS_TAGS"}, Usage: "tag k=v recorded in the snapshot; repeatable"},
			&cli.BoolFlag{Name: "skip-queues", EnvVars: []string{"THREESCALE_OPS_SKIP_QUEUES"}, Usage: "leave out backend-redis db 1 (job queues)"},
			&cli.BoolFlag{Name: "progress", EnvVars: []string{"THREESCALE_OPS_PROGRESS"}, Usage: "show progress even when stderr is not a terminal"},
		},
		Action: func(c *cli.Context) error { return errs.NotImplemented("backup") },
	}
}
