package main

import (
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/urfave/cli/v2"
)

func configCommand() *cli.Command {
	return &cli.Command{
		Name:      "config",
		Aliases:   []string{"status"},
		Usage:     "show the resolved connections (passwords redacted) and check each is reachable",
		UsageText: "3scale-ops -n 3scale config\n3scale-ops -n 3scale -o json config --check",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "check", Value: true, Usage: "connect to each server (version, latency)"}},
		Action:    func(c *cli.Context) error { return errs.NotImplemented("config") },
	}
}
