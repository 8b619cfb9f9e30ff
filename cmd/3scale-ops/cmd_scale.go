package main

import (
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/urfave/cli/v2"
)

func scaleCommand() *cli.Command {
	return &cli.Command{
		Name:      "scale",
		Usage:     "scale 3scale components the way that sticks (APIManager CR, DeploymentConfig or Deployment)",
		ArgsUsage: "COMPONENT=N …",
		UsageText: `3scale-ops -n 3scale scale apicast-production=3 backend-listener=2 --wait
3scale-ops -n 3scale scale --down-all
3scale-ops -n 3scale scale --resume
3scale-ops -n 3scale scale status`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "down-all", Usage: "record current replicas and scale every 3scale deployment to 0"},
			&cli.BoolFlag{Name: "resume", Usage: "scale back to the replicas recorded by --down-all"},
			&cli.BoolFlag{Name: "wait", Usage: "wait until the new replicas are ready"},
			&cli.DurationFlag{Name: "timeout", Value: 0, EnvVars: []string{"THREESCALE_OPS_TIMEOUT"}, Usage: "how long --wait waits (default 10m)"},
		},
		Subcommands: []*cli.Command{
			{Name: "status", Usage: "kind, desired and ready replicas of every 3scale component", UsageText: "3scale-ops -n 3scale scale status\n3scale-ops -n 3scale -o json scale status",
				Action: func(*cli.Context) error { return errs.NotImplemented("scale status") }},
		},
		Action: func(c *cli.Context) error { return errs.NotImplemented("scale") },
	}
}
