package main

import (
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/urfave/cli/v2"
)

func rolloutCommand() *cli.Command {
	return &cli.Command{
		Name:      "rollout",
		Usage:     "trigger a new rollout of components and wait for it",
		ArgsUsage: "COMPONENT …",
		UsageText: "3scale-ops -n 3scale rollout backend-worker system-app system-sidekiq --timeout 10m",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "timeout", Value: 0, EnvVars: []string{"THREESCALE_OPS_TIMEOUT"}, Usage: "how long to wait for readiness (default 10m)"},
		},
		Action: func(c *cli.Context) error { return errs.NotImplemented("rollout") },
	}
}
