package main

import (
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/urfave/cli/v2"
)

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "prove a restore: replay recorded probes through the embedded gateway and check cross-store consistency",
		UsageText: "3scale-ops -n 3scale verify --snapshot latest\n3scale-ops --local --system-db-url … --backend-redis-url … verify --consistency-only",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "snapshot", Usage: "snapshot whose probes and counts to compare with (default latest)"},
			&cli.BoolFlag{Name: "probes-only", Usage: "only replay probes"},
			&cli.BoolFlag{Name: "consistency-only", Usage: "only run consistency checks"},
		},
		Action: func(c *cli.Context) error { return errs.NotImplemented("verify") },
	}
}
