package main

import (
	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/zync"
	"github.com/urfave/cli/v2"
)

func zyncCommand() *cli.Command {
	return &cli.Command{
		Name:  "zync",
		Usage: "zync operations",
		Subcommands: []*cli.Command{
			{Name: "resync", Usage: "run rake zync:resync:domains in system-sidekiq, then check routes",
				UsageText: "3scale-ops -n 3scale zync resync\n3scale-ops -n 3scale zync resync --check\n3scale-ops -n 3scale -o json zync resync --check",
				Flags:     []cli.Flag{&cli.BoolFlag{Name: "check", EnvVars: []string{"THREESCALE_OPS_ZYNC_CHECK"}, Usage: "only compare expected hosts with zync's routes"}},
				Action:    runZyncResync},
		},
	}
}

func runZyncResync(c *cli.Context) error {
	g := getGlobals(c)
	if g.Local {
		return errs.UsageError("drop --local: the resync runs in a pod and checks Routes", "zync resync needs Kubernetes")
	}
	conns, kc, err := g.connections(c.Context)
	if err != nil {
		return err
	}
	if err := conns.Require(config.SystemDB); err != nil {
		return err
	}
	db, err := conns.SystemDB.Open()
	if err != nil {
		return err
	}
	defer db.Close()
	w := &logWriter{g: g, prefix: "zync resync: "}
	rep, pod, err := zync.Run(c.Context, zync.Request{Kube: kc, Namespace: conns.Namespace, SystemDB: db, DBName: conns.SystemDB.Redacted(),
		CheckOnly: c.Bool("check"), Output: w})
	w.Flush()
	if rep == nil {
		return err
	}
	if g.JSON() {
		if perr := g.printJSON(map[string]any{"pod": pod, "routes": rep}); perr != nil {
			return perr
		}
	} else {
		g.printf("routes: %d expected hosts, %d zync routes, %d ok, %d findings\n", rep.Expected, rep.Routes, rep.OK, len(rep.Findings))
		rows := [][]string{}
		for _, f := range rep.Findings {
			rows = append(rows, []string{f.Kind, f.Host, f.Route, f.Fix})
		}
		if len(rows) > 0 {
			table(g.Stdout, []string{"FINDING", "HOST", "ROUTE", "FIX"}, rows)
		}
	}
	return err
}
