package main

import (
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/urfave/cli/v2"
)

func zyncCommand() *cli.Command {
	return &cli.Command{
		Name:  "zync",
		Usage: "zync operations",
		Subcommands: []*cli.Command{
			{Name: "resync", Usage: "run rake zync:resync:domains in system-sidekiq, then check routes",
				UsageText: "3scale-ops -n 3scale zync resync\n3scale-ops -n 3scale zync resync --check",
				Flags:     []cli.Flag{&cli.BoolFlag{Name: "check", Usage: "only compare expected hosts with zync's routes"}},
				Action:    func(*cli.Context) error { return errs.NotImplemented("zync resync") }},
		},
	}
}
