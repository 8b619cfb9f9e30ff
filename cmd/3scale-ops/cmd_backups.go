package main

import (
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/urfave/cli/v2"
)

func backupsCommand() *cli.Command {
	ni := func(what string) cli.ActionFunc {
		return func(*cli.Context) error { return errs.NotImplemented("backups " + what) }
	}
	return &cli.Command{
		Name:  "backups",
		Usage: "list, inspect, verify, export and prune snapshots",
		Subcommands: []*cli.Command{
			{Name: "list", Usage: "list snapshots", UsageText: "3scale-ops backups list\n3scale-ops -o json backups list", Action: ni("list")},
			{Name: "show", Usage: "show a snapshot's manifest (or one component's details)", ArgsUsage: "ID|latest [COMPONENT]",
				UsageText: "3scale-ops backups show latest\n3scale-ops backups show 20261123T020000Z-a1b2c3 backend-redis", Action: ni("show")},
			{Name: "verify", Usage: "check snapshots: every file present with its size; --read-data re-reads and re-hashes", ArgsUsage: "[ID…]",
				UsageText: "3scale-ops backups verify latest\n3scale-ops backups verify --all --read-data",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "all", Usage: "verify every snapshot"},
					&cli.BoolFlag{Name: "read-data", EnvVars: []string{"THREESCALE_OPS_READ_DATA"}, Usage: "download and re-hash every file"},
				}, Action: ni("verify")},
			{Name: "export", Usage: "write one component as a standard stream (SQL, dump.rdb, tar, List)", ArgsUsage: "ID|latest COMPONENT",
				UsageText: "3scale-ops backups export latest system-mysql | mysql -h db -u root system\n3scale-ops backups export latest backend-redis --file dump.rdb",
				Flags:     []cli.Flag{&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "write to FILE instead of stdout"}}, Action: ni("export")},
			{Name: "prune", Usage: "remove snapshots by retention policy (restic semantics)",
				UsageText: "3scale-ops backups prune --keep-daily 7 --keep-weekly 4 --keep-monthly 6 --dry-run",
				Flags: []cli.Flag{
					&cli.IntFlag{Name: "keep-last", EnvVars: []string{"THREESCALE_OPS_KEEP_LAST"}, Usage: "keep the N newest snapshots"},
					&cli.IntFlag{Name: "keep-hourly", EnvVars: []string{"THREESCALE_OPS_KEEP_HOURLY"}, Usage: "keep the newest snapshot of each of the last N hours"},
					&cli.IntFlag{Name: "keep-daily", EnvVars: []string{"THREESCALE_OPS_KEEP_DAILY"}, Usage: "keep the newest snapshot of each of the last N days"},
					&cli.IntFlag{Name: "keep-weekly", EnvVars: []string{"THREESCALE_OPS_KEEP_WEEKLY"}, Usage: "keep the newest snapshot of each of the last N weeks"},
					&cli.IntFlag{Name: "keep-monthly", EnvVars: []string{"THREESCALE_OPS_KEEP_MONTHLY"}, Usage: "keep the newest snapshot of each of the last N months"},
					&cli.BoolFlag{Name: "dry-run", Usage: "print what would be kept and removed"},
				}, Action: ni("prune")},
		},
	}
}
