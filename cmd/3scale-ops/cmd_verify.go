package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/3scale-ops/3scale-ops/internal/engines"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/repo"
	"github.com/3scale-ops/3scale-ops/internal/verify"
	"github.com/urfave/cli/v2"
)

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:  "verify",
		Usage: "prove a restore: replay recorded probes through the embedded backend and check cross-store consistency",
		UsageText: `3scale-ops -n 3scale verify
3scale-ops -n 3scale verify --snapshot 20261123T020000Z-a1b2c3
3scale-ops --local --system-db-url mysql2://… --backend-redis-url redis://… verify --consistency-only`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "snapshot", Value: "latest", EnvVars: []string{"THREESCALE_OPS_VERIFY_SNAPSHOT"}, Usage: "snapshot whose probes to replay"},
			&cli.BoolFlag{Name: "probes-only", EnvVars: []string{"THREESCALE_OPS_VERIFY_PROBES_ONLY"}, Usage: "only replay probes"},
			&cli.BoolFlag{Name: "consistency-only", EnvVars: []string{"THREESCALE_OPS_VERIFY_CONSISTENCY_ONLY"}, Usage: "only run consistency checks"},
		},
		Action: func(c *cli.Context) error {
			g := getGlobals(c)
			if c.Bool("probes-only") && c.Bool("consistency-only") {
				return errs.UsageError("give one of them, or neither for both", "--probes-only and --consistency-only exclude each other")
			}
			conns, _, err := g.connections(c.Context)
			if err != nil {
				return err
			}
			var r *repo.Repository
			if !c.Bool("consistency-only") {
				if r, err = g.openRepository(c.Context, false); err != nil {
					return err
				}
			}
			rep, err := runVerify(c.Context, conns, r, c.String("snapshot"), c.Bool("consistency-only"), c.Bool("probes-only"), nil)
			if err != nil {
				return err
			}
			return printVerify(g, rep)
		},
	}
}

// runVerify runs the verification with the probes of snapshot in r
// (skipProbes or r nil: none).
func runVerify(ctx context.Context, conns *config.Connections, r *repo.Repository, snapshot string, skipProbes, skipChecks bool, task *progress.Task) (*verify.Report, error) {
	if err := conns.Require(config.SystemDB, config.BackendRedis); err != nil {
		return nil, err
	}
	var probes artifact.Source
	if !skipProbes && r != nil {
		id, err := r.ResolveID(ctx, snapshot)
		if err != nil {
			return nil, err
		}
		m, err := r.LoadManifest(ctx, id)
		if err != nil {
			return nil, err
		}
		if m.Component(verify.Component) == nil {
			return nil, errs.New(errs.Usage, "take a backup with the verify component (the default), or use --consistency-only",
				"snapshot %s holds no probes", id)
		}
		if probes, err = r.Source(m, verify.Component); err != nil {
			return nil, err
		}
	}
	return engines.Verify(ctx, conns, probes, skipChecks, task)
}

func printVerify(g *globals, rep *verify.Report) error {
	if g.JSON() {
		if err := g.printJSON(rep); err != nil {
			return err
		}
	} else {
		g.printf("probes replayed: %d, mismatches: %d\n", rep.Probes, len(rep.Mismatches))
		for _, m := range rep.Mismatches {
			g.printf("  service %s application %s: recorded %s, now %s\n", m.ServiceID, m.AppID, m.Want, m.Got)
		}
		rows := [][]string{}
		for _, c := range rep.Checks {
			res := "pass"
			if !c.Passed {
				res = "FAIL"
			}
			name := c.Name
			if c.Detail != "" {
				name += " (" + c.Detail + ")"
			}
			rows = append(rows, []string{res, fmt.Sprint(c.Checked), fmt.Sprint(c.Failed), name})
		}
		if len(rows) > 0 {
			table(g.Stdout, []string{"RESULT", "CHECKED", "FAILED", "CHECK"}, rows)
		}
		for _, c := range rep.Checks {
			if len(c.Examples) > 0 {
				g.printf("%s:\n  %s\n", c.Name, strings.Join(c.Examples, "\n  "))
			}
		}
	}
	if !rep.Passed {
		return errs.New(errs.Mismatch, "restore the differing objects again, or investigate the listed applications",
			"verification found %d differences", rep.Failures())
	}
	return nil
}
