package main

import (
	"fmt"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/engines"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/repo"
	"github.com/urfave/cli/v2"
)

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
	size, err := engines.ExportFile(ctx, name, src, out)
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", m.ID, err)
	}
	if !g.JSON() {
		g.Log.Info("exported", "component", name, "snapshot", m.ID, "file", out)
		return nil
	}
	return g.printJSON(map[string]any{"snapshot": m.ID, "component": name, "file": out, "size": size})
}
