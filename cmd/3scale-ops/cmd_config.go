package main

import (
	"fmt"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/urfave/cli/v2"
)

func configCommand() *cli.Command {
	return &cli.Command{
		Name:    "config",
		Aliases: []string{"status"},
		Usage:   "show the resolved connections (passwords redacted) and check each is reachable",
		UsageText: `3scale-ops -n 3scale config
3scale-ops -n 3scale -o json config
3scale-ops -n 3scale config --check=false      # resolve only, connect to nothing
3scale-ops --local --system-db-url mysql2://root:PW@127.0.0.1:3306/system config`,
		Flags: []cli.Flag{&cli.BoolFlag{Name: "check", Value: true, EnvVars: []string{"THREESCALE_OPS_CHECK"}, Usage: "connect to each server (version, latency)"}},
		Action: func(c *cli.Context) error {
			g := getGlobals(c)
			conns, kc, err := g.connections(c.Context)
			if err != nil {
				return err
			}
			statuses := config.Check(c.Context, conns, kc, c.Bool("check"))
			failed := 0
			for _, s := range statuses {
				if s.Error != "" {
					failed++
				}
			}
			if g.JSON() {
				if err := g.printJSON(map[string]any{"namespace": conns.Namespace, "local": g.Local, "connections": statuses}); err != nil {
					return err
				}
			} else {
				rows := make([][]string, 0, len(statuses))
				for _, s := range statuses {
					state := "resolved"
					switch {
					case s.Error != "":
						state = "ERROR"
					case s.Reachable:
						state = fmt.Sprintf("ok %dms", s.LatencyMS)
					}
					rows = append(rows, []string{s.Component, state, s.Version, s.Target, s.Source})
				}
				if conns.Namespace != "" {
					g.printf("namespace: %s\n", conns.Namespace)
				}
				table(g.Stdout, []string{"COMPONENT", "STATE", "VERSION", "TARGET", "SOURCE"}, rows)
				for _, s := range statuses {
					if s.Error != "" {
						g.printf("%s: %s\n", s.Component, s.Error)
						if s.Hint != "" {
							g.printf("  hint: %s\n", s.Hint)
						}
					}
				}
			}
			if failed > 0 {
				names := []string{}
				for _, s := range statuses {
					if s.Error != "" {
						names = append(names, s.Component)
					}
				}
				// Configuration errors alone (a bad key, an untrusted
				// certificate) exit 2; a server refusing or unreachable, 1.
				code := errs.Usage
				for _, s := range statuses {
					if s.Error != "" && s.Code != errs.Usage {
						code = errs.Failure
					}
				}
				return errs.New(code, "fix the connections listed above (flags override secrets: see `3scale-ops --help`)",
					"%d of %d connections failed: %s", failed, len(statuses), strings.Join(names, ", "))
			}
			return nil
		},
	}
}
