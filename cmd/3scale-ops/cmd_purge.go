package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/purge"
	"github.com/3scale-ops/3scale-ops/internal/runbook"
	"github.com/urfave/cli/v2"
)

func purgeCommand() *cli.Command {
	return &cli.Command{
		Name:  "purge",
		Usage: "delete old rows that 3scale never purges (alerts) or purges through sidekiq",
		Subcommands: []*cli.Command{
			{Name: "alerts", Usage: "delete alerts older than --older-than in primary-key batches",
				UsageText: "3scale-ops -n 3scale purge alerts --older-than 14d --dry-run\n3scale-ops -n 3scale purge alerts --older-than 30d --batch-size 5000",
				Description: `Deletes alerts whose timestamp (UTC) is older than the age, in batches of
primary keys found through index_alerts_on_timestamp, one short transaction per
batch: the table is never locked for long, replication lag stays bounded, and an
interrupted purge continues on the next run. Oracle: prints the guide's statement.`,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "older-than", Value: "14d", EnvVars: []string{"THREESCALE_OPS_PURGE_OLDER_THAN"}, Usage: "age: 14d, 2w, 36h, 3mo"},
					&cli.IntFlag{Name: "batch-size", Value: 10000, EnvVars: []string{"THREESCALE_OPS_PURGE_BATCH_SIZE"}, Usage: "rows deleted per statement"},
					&cli.BoolFlag{Name: "dry-run", EnvVars: []string{"THREESCALE_OPS_PURGE_DRY_RUN"}, Usage: "count only"},
				}, Action: runPurgeAlerts},
			{Name: "tables", Usage: "purge the tables 3scale purges itself (user_sessions 2w, audits 3mo, log_entries 6mo, event_store_events 1w)",
				UsageText: "3scale-ops -n 3scale purge tables --dry-run\n3scale-ops -n 3scale purge tables --age audits=6mo",
				Flags: []cli.Flag{
					&cli.StringSliceFlag{Name: "age", EnvVars: []string{"THREESCALE_OPS_PURGE_AGE"}, Usage: "per-table age override TABLE=AGE; repeatable"},
					&cli.IntFlag{Name: "batch-size", Value: 10000, EnvVars: []string{"THREESCALE_OPS_PURGE_BATCH_SIZE"}, Usage: "rows deleted per statement"},
					&cli.BoolFlag{Name: "dry-run", EnvVars: []string{"THREESCALE_OPS_PURGE_DRY_RUN"}, Usage: "count only"},
				}, Action: runPurgeTables},
		},
	}
}

// openPurger resolves the system database and connects to it.
func openPurger(ctx context.Context, g *globals, age purge.Age, batch int) (*purge.Purger, error) {
	if err := runbook.CheckBatch(batch); err != nil {
		return nil, err
	}
	conns, _, err := g.connections(ctx)
	if err != nil {
		return nil, err
	}
	return runbook.OpenPurger(conns, age, batch, g.Log)
}

func runPurgeAlerts(c *cli.Context) error {
	g := getGlobals(c)
	age, err := purge.ParseAge(c.String("older-than"))
	if err != nil {
		return err
	}
	p, err := openPurger(c.Context, g, age, c.Int("batch-size"))
	if err != nil {
		return err
	}
	defer p.Close()
	task := progress.NewTask("purge alerts")
	stop := opsWatch(g, task, "rows deleted")
	res, err := p.Alerts(c.Context, age, c.Bool("dry-run"), task)
	stop()
	if err != nil {
		return err
	}
	return printPurge(g, []purge.Result{res})
}

func runPurgeTables(c *cli.Context) error {
	g := getGlobals(c)
	ages := map[string]purge.Age{}
	for _, a := range c.StringSlice("age") {
		table, v, ok := strings.Cut(a, "=")
		if !ok {
			return errs.UsageError("write --age TABLE=AGE, e.g. --age audits=6mo", "invalid --age %q", a)
		}
		age, err := purge.ParseAge(v)
		if err != nil {
			return err
		}
		ages[table] = age
	}
	p, err := openPurger(c.Context, g, purge.MustAge("14d"), c.Int("batch-size"))
	if err != nil {
		return err
	}
	defer p.Close()
	task := progress.NewTask("purge tables")
	stop := opsWatch(g, task, "rows deleted")
	res, err := p.PurgeTables(c.Context, ages, c.Bool("dry-run"), task)
	stop()
	if err != nil {
		return err
	}
	return printPurge(g, res)
}

func printPurge(g *globals, res []purge.Result) error {
	if g.JSON() {
		return g.printJSON(res)
	}
	rows := make([][]string, 0, len(res))
	for _, r := range res {
		deleted := fmt.Sprint(r.Deleted)
		switch {
		case r.Skipped != "":
			deleted = "skipped: " + r.Skipped
		case r.DryRun:
			deleted = "0 (dry run)"
		}
		rows = append(rows, []string{r.Table, r.Age, r.Cutoff.Format("2006-01-02 15:04:05") + " UTC", fmt.Sprint(r.Matched), deleted,
			fmt.Sprint(r.Batches), r.Duration.Round(1e6).String(), fmt.Sprintf("%.0f/s", r.Rate)})
	}
	table(g.Stdout, []string{"TABLE", "OLDER THAN", "CUTOFF", "MATCHED", "DELETED", "BATCHES", "DURATION", "RATE"}, rows)
	return nil
}
