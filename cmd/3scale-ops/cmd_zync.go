package main

import (
	"context"
	"fmt"

	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
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
	rep, pod, err := zyncResync(c.Context, g, conns, kc, !c.Bool("check"))
	if err != nil {
		return err
	}
	if g.JSON() {
		if err := g.printJSON(map[string]any{"pod": pod, "routes": rep}); err != nil {
			return err
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
	if len(rep.Findings) > 0 {
		return errs.New(errs.Mismatch, "run the FIX of each finding", "%d route findings in namespace %s", len(rep.Findings), conns.Namespace)
	}
	return nil
}

// zyncResync runs the rake task (when run is true) and the route check.
func zyncResync(ctx context.Context, g *globals, conns *config.Connections, kc *kube.Clients, run bool) (*zync.RouteReport, string, error) {
	pod := ""
	if run {
		var err error
		w := &logWriter{g: g, prefix: "zync resync: "}
		if pod, err = zync.Resync(ctx, kc, conns.Namespace, w); err != nil {
			return nil, pod, err
		}
		w.Flush()
	}
	db, err := conns.SystemDB.Open()
	if err != nil {
		return nil, pod, err
	}
	defer db.Close()
	exp, err := zync.ExpectedHosts(ctx, db)
	if err != nil {
		return nil, pod, fmt.Errorf("system database %s: %w", conns.SystemDB.Redacted(), err)
	}
	rep, err := zync.CheckRoutes(ctx, kc, conns.Namespace, exp)
	return rep, pod, err
}
