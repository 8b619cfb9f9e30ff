package main

import (
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/repo"
	"github.com/3scale-ops/3scale-ops/internal/runbook"
	"github.com/urfave/cli/v2"
)

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
