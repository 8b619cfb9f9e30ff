package main

import (
	"context"
	"sort"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/repo"
	"github.com/urfave/cli/v2"
)

func backupsCommand() *cli.Command {
	return &cli.Command{
		Name:  "backups",
		Usage: "list, inspect, verify, export and prune snapshots",
		Flags: repoReadFlags(),
		Subcommands: []*cli.Command{
			{Name: "list", Usage: "list snapshots", UsageText: "3scale-ops backups list\n3scale-ops -o json backups list", Action: backupsList},
			{Name: "show", Usage: "show a snapshot's manifest (or one component's details)", ArgsUsage: "ID|latest [COMPONENT]",
				UsageText: "3scale-ops backups show latest\n3scale-ops backups show 20261123T020000Z-a1b2c3 backend-redis", Action: backupsShow},
			{Name: "verify", Usage: "check snapshots: every file present with its size, README.txt matching the manifest; --read-data re-reads and re-hashes every file and parses Redis and system-storage artifacts as a restore's preflight does", ArgsUsage: "[ID…]",
				UsageText: "3scale-ops backups verify latest\n3scale-ops backups verify --all --read-data",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "all", EnvVars: []string{"THREESCALE_OPS_VERIFY_ALL"}, Usage: "verify every snapshot"},
					&cli.BoolFlag{Name: "read-data", EnvVars: []string{"THREESCALE_OPS_READ_DATA"}, Usage: "download and re-hash every file; parse the Redis and system-storage artifacts as a restore would"},
					&cli.BoolFlag{Name: "progress", EnvVars: []string{"THREESCALE_OPS_PROGRESS"}, Usage: "show progress even when stderr is not a terminal"},
				}, Action: backupsVerify},
			{Name: "export", Usage: "write one component as a standard stream (SQL, dump.rdb, tar, List)", ArgsUsage: "ID|latest COMPONENT",
				UsageText: "3scale-ops backups export latest system-mysql | mysql -h db -u root system\n3scale-ops backups export latest backend-redis --file dump.rdb",
				Flags:     []cli.Flag{&cli.StringFlag{Name: "file", Aliases: []string{"f"}, EnvVars: []string{"THREESCALE_OPS_EXPORT_FILE"}, Usage: "write to FILE instead of stdout"}}, Action: backupsExport},
			{Name: "prune", Usage: "remove snapshots by retention policy (restic semantics) and incomplete snapshots",
				UsageText: "3scale-ops backups prune --keep-daily 7 --keep-weekly 4 --keep-monthly 6 --dry-run",
				Flags: []cli.Flag{
					&cli.IntFlag{Name: "keep-last", EnvVars: []string{"THREESCALE_OPS_KEEP_LAST"}, Usage: "keep the N newest snapshots"},
					&cli.IntFlag{Name: "keep-hourly", EnvVars: []string{"THREESCALE_OPS_KEEP_HOURLY"}, Usage: "keep the newest snapshot of each of the last N hours"},
					&cli.IntFlag{Name: "keep-daily", EnvVars: []string{"THREESCALE_OPS_KEEP_DAILY"}, Usage: "keep the newest snapshot of each of the last N days"},
					&cli.IntFlag{Name: "keep-weekly", EnvVars: []string{"THREESCALE_OPS_KEEP_WEEKLY"}, Usage: "keep the newest snapshot of each of the last N weeks"},
					&cli.IntFlag{Name: "keep-monthly", EnvVars: []string{"THREESCALE_OPS_KEEP_MONTHLY"}, Usage: "keep the newest snapshot of each of the last N months"},
					&cli.BoolFlag{Name: "dry-run", EnvVars: []string{"THREESCALE_OPS_PRUNE_DRY_RUN"}, Usage: "print what would be kept and removed"},
					&cli.BoolFlag{Name: "forget-damaged", EnvVars: []string{"THREESCALE_OPS_FORGET_DAMAGED"}, Usage: "also remove snapshots whose manifest cannot be read or verified (without it, one such snapshot makes prune remove nothing)"},
					&cli.BoolFlag{Name: "unlock-stale", EnvVars: []string{"THREESCALE_OPS_UNLOCK_STALE"}, Usage: "remove repository locks that are stale"},
				}, Action: backupsPrune},
		},
	}
}

func backupsList(c *cli.Context) error {
	g := getGlobals(c)
	r, err := openForRead(c.Context, c)
	if err != nil {
		return err
	}
	snaps, _, err := r.Catalog(c.Context)
	if err != nil {
		return err
	}
	list := []snapshotSummary{}
	var damaged []string
	for _, s := range snaps {
		switch {
		case s.Readable():
			list = append(list, summary(s.Manifest, ""))
		case s.NoKey:
			list = append(list, snapshotSummary{ID: s.ID, Time: s.Time, Size: s.Size, Encrypted: true, Components: []componentSummary{}})
		default:
			list = append(list, snapshotSummary{ID: s.ID, Time: s.Time, Size: s.Size, Encrypted: r.Encrypted(),
				Damaged: s.Damage, Components: []componentSummary{}})
			damaged = append(damaged, s.ID)
		}
	}
	if !r.Authenticated() {
		g.warnf("%s", unauthenticated)
	}
	if r.Encrypted() && len(snaps) > 0 && snaps[0].NoKey {
		g.warnf("repository %s is encrypted and no key was given: showing ids and sizes only", r.Location())
	}
	if len(damaged) > 0 {
		g.warnf("%d snapshot(s) cannot be read and are listed as DAMAGED (%s): do not count on them; `3scale-ops backups verify` tells more",
			len(damaged), strings.Join(damaged, ", "))
	}
	if g.JSON() {
		return g.printJSON(list)
	}
	rows := [][]string{}
	for _, s := range list {
		var comps []string
		for _, c := range s.Components {
			comps = append(comps, c.Name)
		}
		var tags []string
		for k, v := range s.Tags {
			tags = append(tags, k+"="+v)
		}
		sort.Strings(tags)
		enc := "no"
		if s.Encrypted {
			enc = "yes"
		}
		status := "ok"
		if s.Damaged != "" {
			status = "DAMAGED: " + s.Damaged
		}
		version := s.Threescale
		if version == "" {
			version = "-" // --local snapshots, or an installation that does not say
		}
		rows = append(rows, []string{s.ID, s.Time.Local().Format("2006-01-02 15:04:05"), version, humanBytes(s.Size), strings.Join(comps, ","), strings.Join(tags, ","), enc, status})
	}
	table(g.Stdout, []string{"ID", "TIME", "3SCALE", "SIZE", "COMPONENTS", "TAGS", "ENCRYPTED", "STATUS"}, rows)
	return nil
}

func loadRef(ctx context.Context, r *repo.Repository, ref string) (*repo.Manifest, error) {
	if ref == "" {
		return nil, errs.UsageError("give a snapshot id or latest (see `3scale-ops backups list`)", "missing snapshot id")
	}
	id, err := r.ResolveID(ctx, ref)
	if err != nil {
		return nil, err
	}
	return r.LoadManifest(ctx, id)
}
