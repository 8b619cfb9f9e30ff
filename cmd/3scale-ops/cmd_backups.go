package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/engines"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/rdb"
	"github.com/3scale-ops/3scale-ops/internal/repo"
	"github.com/3scale-ops/3scale-ops/internal/runbook"
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

func backupsShow(c *cli.Context) error {
	g := getGlobals(c)
	r, err := openForRead(c.Context, c)
	if err != nil {
		return err
	}
	m, err := loadRef(c.Context, r, c.Args().First())
	if err != nil {
		return err
	}
	comps := m.Components
	if name := c.Args().Get(1); name != "" {
		comp := m.Component(name)
		if comp == nil {
			return errs.UsageError("components of this snapshot: "+strings.Join(m.ComponentNames(), ", "), "snapshot %s has no component %q", m.ID, name)
		}
		if g.JSON() {
			return g.printJSON(comp)
		}
		comps = []repo.Component{*comp}
	} else if g.JSON() {
		return g.printJSON(m)
	}
	g.printf("snapshot     %s\n", m.ID)
	g.printf("repository   %s\n", r.Location())
	g.printf("time         %s – %s (%s)\n", m.Start.Local().Format(time.RFC3339), m.End.Local().Format(time.RFC3339), m.End.Sub(m.Start).Round(time.Second))
	g.printf("tool         3scale-ops %s\n", m.ToolVersion)
	if m.Namespace != "" {
		g.printf("namespace    %s\n", m.Namespace)
	}
	if m.ThreescaleVersion != "" {
		g.printf("3scale       %s\n", m.ThreescaleVersion)
	}
	g.printf("size         %s stored, compression %s, encrypted %v\n", humanBytes(m.Size()), m.Compression, m.Encrypted)
	for k, v := range m.Tags {
		g.printf("tag          %s=%s\n", k, v)
	}
	for _, comp := range comps {
		g.printf("\n%s  (%s)\n", comp.Name, comp.Duration)
		keys := make([]string, 0, len(comp.Meta))
		for k := range comp.Meta {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := string(comp.Meta[k])
			if len(v) > 200 {
				v = v[:200] + "…"
			}
			g.printf("  %s: %s\n", k, v)
		}
		rows := [][]string{}
		for _, f := range comp.Files {
			count := ""
			if f.Count > 0 {
				count = fmt.Sprint(f.Count)
			}
			rows = append(rows, []string{"  " + f.Path, f.Format, humanBytes(f.RawSize), humanBytes(f.Size), count, f.SHA256[:16]})
		}
		table(g.Stdout, []string{"  FILE", "FORMAT", "PLAIN", "STORED", "COUNT", "SHA256"}, rows)
		printRedisKeyspace(g, comp)
	}
	return nil
}

// printRedisKeyspace shows, for a Redis component, the key counts per
// database and their type breakdown read from the RDB at backup time.
func printRedisKeyspace(g *globals, comp repo.Component) {
	raw, ok := comp.Meta[rdb.MetaKey]
	if !ok {
		return
	}
	var meta rdb.Meta
	if json.Unmarshal(raw, &meta) != nil {
		return
	}
	for _, f := range meta.Files {
		g.printf("\n  %s (%s, %s):\n", f.File, f.Role, f.Path)
		rows := [][]string{}
		for _, d := range f.DBs {
			types := make([]string, 0, len(d.Types))
			for t, n := range d.Types {
				types = append(types, fmt.Sprintf("%s=%d", t, n))
			}
			sort.Strings(types)
			rows = append(rows, []string{fmt.Sprintf("  db%d", d.DB), fmt.Sprint(d.Keys), fmt.Sprint(d.Expires), strings.Join(types, " ")})
		}
		table(g.Stdout, []string{"  DB", "KEYS", "EXPIRES", "TYPES"}, rows)
	}
}

func backupsVerify(c *cli.Context) error {
	g := getGlobals(c)
	ctx := c.Context
	r, err := openForRead(ctx, c)
	if err != nil {
		return err
	}
	refs := c.Args().Slice()
	readData := c.Bool("read-data")
	var ids []string
	if c.Bool("all") {
		snaps, err := r.Snapshots(ctx)
		if err != nil {
			return err
		}
		for _, s := range snaps {
			if s.Complete {
				ids = append(ids, s.ID)
			}
		}
	} else {
		if len(refs) == 0 {
			refs = []string{"latest"}
		}
		for _, ref := range refs {
			id, err := r.ResolveID(ctx, ref)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
	}
	tr := &progress.Tracker{}
	stop := startProgress(g, tr, c.Bool("progress"))
	results := []repo.VerifyResult{}
	for _, id := range ids {
		res, err := r.Verify(ctx, id, readData, tr.Start(id))
		if err == nil && readData {
			var ps []repo.Problem
			ps, err = engines.VerifyContent(ctx, r, id, res.Problems)
			res.Problems = append(res.Problems, ps...)
		}
		if err != nil {
			stop()
			return err
		}
		results = append(results, res)
	}
	stop()
	if g.JSON() {
		if err := g.printJSON(results); err != nil {
			return err
		}
	} else {
		for _, res := range results {
			if len(res.Problems) == 0 {
				how := "sizes"
				if res.ReadData {
					how = "sizes and sha256, plain and stored; content parsed and compared with the manifest"
				}
				g.printf("ok       %s  %d files, %s (%s)\n", res.Snapshot, res.Files, humanBytes(res.Bytes), how)
				continue
			}
			for _, p := range res.Problems {
				g.printf("DAMAGED  %s: %s\n", p.File, p.Problem)
			}
		}
	}
	return repo.MismatchError(results)
}

func backupsExport(c *cli.Context) error {
	g := getGlobals(c)
	ctx := c.Context
	args := c.Args().Slice()
	if len(args) != 2 {
		return errs.UsageError("usage: 3scale-ops backups export ID|latest COMPONENT [--file FILE]", "export needs a snapshot and a component")
	}
	r, err := openForRead(ctx, c)
	if err != nil {
		return err
	}
	m, err := loadRef(ctx, r, args[0])
	if err != nil {
		return err
	}
	name := args[1]
	src, err := r.Source(m, name)
	if err != nil {
		return errs.Wrap(errs.Usage, err, "components of this snapshot: "+strings.Join(m.ComponentNames(), ", "))
	}
	out := c.String("file")
	if out == "" {
		return engines.Export(ctx, name, src, g.Stdout)
	}
	// Write beside the target and rename, so a failed export leaves no
	// file that looks complete.
	f, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".partial-*")
	if err != nil {
		return errs.UsageError("check --file", "create %s: %v", out, err)
	}
	err = engines.Export(ctx, name, src, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), out)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("export %s of %s to %s: %w", name, m.ID, out, err)
	}
	if !g.JSON() {
		g.Log.Info("exported", "component", name, "snapshot", m.ID, "file", out)
		return nil
	}
	st, _ := os.Stat(out)
	return g.printJSON(map[string]any{"snapshot": m.ID, "component": name, "file": out, "size": st.Size()})
}

func backupsPrune(c *cli.Context) error {
	g := getGlobals(c)
	ctx := c.Context
	p := repo.Policy{Last: c.Int("keep-last"), Hourly: c.Int("keep-hourly"), Daily: c.Int("keep-daily"),
		Weekly: c.Int("keep-weekly"), Monthly: c.Int("keep-monthly")}
	if err := runbook.CheckPolicy(p); err != nil {
		return err
	}
	r, err := openForRead(ctx, c)
	if err != nil {
		return err
	}
	dry := c.Bool("dry-run")
	res, perr := runbook.Prune(ctx, r, runbook.PruneRequest{Policy: p, DryRun: dry, ForgetDamaged: c.Bool("forget-damaged"), UnlockStale: c.Bool("unlock-stale")})
	if res == nil {
		return perr
	}
	if g.JSON() {
		if err := g.printJSON(res); err != nil {
			return err
		}
		return perr
	}
	verb := func(s string) string {
		if res.Blocked != "" {
			return "keep (blocked)"
		}
		if dry {
			return "would " + s
		}
		return s
	}
	rows := [][]string{}
	protected := map[string]string{}
	for _, p := range res.Protected {
		protected[p.ID] = p.Until.UTC().Format(time.RFC3339)
	}
	for _, d := range res.Decisions {
		action, why := "keep", strings.Join(d.Reasons, ", ")
		if !d.Keep {
			action = verb("remove")
			if until, ok := protected[d.ID]; ok {
				action, why = "protected", "object lock retention until "+until+": left for a later prune"
			}
		}
		rows = append(rows, []string{action, d.ID, why})
	}
	for _, d := range res.Damaged {
		rows = append(rows, []string{verb("remove"), d.ID, "DAMAGED: " + d.Reason})
	}
	for _, s := range res.Incomplete {
		rows = append(rows, []string{verb("remove"), s.ID, "incomplete (no manifest): a backup that never finished, " + humanBytes(s.Size)})
	}
	table(g.Stdout, []string{"ACTION", "SNAPSHOT", "WHY"}, rows)
	if !dry && perr == nil {
		g.printf("removed %d snapshot(s)\n", len(res.Removed))
		if len(res.Protected) > 0 {
			g.printf("%d snapshot(s) still protected by object lock retention, left in place\n", len(res.Protected))
		}
	}
	return perr
}
