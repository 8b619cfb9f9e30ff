package main

import (
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/urfave/cli/v2"
)

func manifestsCommand() *cli.Command {
	return &cli.Command{
		Name:      "manifests",
		Usage:     "print Kubernetes YAML: cronjob, rbac, schedule (daemon Deployment) or all",
		ArgsUsage: "cronjob|rbac|schedule|all",
		UsageText: "3scale-ops -n 3scale manifests all > 3scale-ops.yaml",
		Action:    func(c *cli.Context) error { return errs.NotImplemented("manifests") },
	}
}
