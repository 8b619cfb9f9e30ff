package main

import (
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/urfave/cli/v2"
)

func drillCommand() *cli.Command {
	return &cli.Command{
		Name:  "drill",
		Usage: "disaster-recovery drill: back up, restore into a scratch target, verify, verdict",
		UsageText: `3scale-ops -n 3scale drill --target-namespace 3scale-drill --report drill.xml
3scale-ops --local --system-db-url … drill --target-system-db-url … --target-backend-redis-url …`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "snapshot", Usage: "restore-test this existing snapshot instead of taking a new one"},
			&cli.StringFlag{Name: "report", Usage: "write a JUnit XML report to this file"},
			&cli.StringFlag{Name: "target-namespace", EnvVars: []string{"THREESCALE_OPS_TARGET_NAMESPACE"}, Usage: "scratch namespace to restore into"},
			&cli.StringFlag{Name: "target-system-db-url", EnvVars: []string{"THREESCALE_OPS_TARGET_SYSTEM_DB_URL"}},
			&cli.StringFlag{Name: "target-zync-db-url", EnvVars: []string{"THREESCALE_OPS_TARGET_ZYNC_DB_URL"}},
			&cli.StringFlag{Name: "target-backend-redis-url", EnvVars: []string{"THREESCALE_OPS_TARGET_BACKEND_REDIS_URL"}},
			&cli.StringFlag{Name: "target-backend-redis-queues-url", EnvVars: []string{"THREESCALE_OPS_TARGET_BACKEND_REDIS_QUEUES_URL"}},
			&cli.StringFlag{Name: "target-system-redis-url", EnvVars: []string{"THREESCALE_OPS_TARGET_SYSTEM_REDIS_URL"}},
			&cli.StringFlag{Name: "target-system-storage", EnvVars: []string{"THREESCALE_OPS_TARGET_SYSTEM_STORAGE"}},
		},
		Action: func(c *cli.Context) error { return errs.NotImplemented("drill") },
	}
}
