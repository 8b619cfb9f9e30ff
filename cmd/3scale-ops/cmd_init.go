package main

import (
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/urfave/cli/v2"
)

func initCommand() *cli.Command {
	return &cli.Command{
		Name:      "init",
		Usage:     "create a backup repository (backup also creates one on first use)",
		UsageText: "3scale-ops -r s3://s3.example.com/backups/prod init\n3scale-ops -r /srv/3scale-backups --password-file /etc/3scale-ops/pw init",
		Action:    func(c *cli.Context) error { return errs.NotImplemented("init") },
	}
}
