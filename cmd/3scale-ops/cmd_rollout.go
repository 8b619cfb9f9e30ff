package main

import (
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/urfave/cli/v2"
)

func rolloutCommand() *cli.Command {
	return &cli.Command{
		Name:      "rollout",
		Usage:     "trigger a new rollout of components and wait for it",
		ArgsUsage: "COMPONENT …",
		UsageText: "3scale-ops -n 3scale rollout backend-worker system-app system-sidekiq --timeout 10m",
		Description: `A DeploymentConfig is instantiated (as oc rollout latest) when the server offers
deploymentconfigs/instantiate, else its pod template gets a restartedAt annotation
that its ConfigChange trigger rolls out; a Deployment gets the restartedAt annotation
(as kubectl rollout restart). Then it waits until every replica is new and ready.`,
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "timeout", Value: 0, EnvVars: []string{"THREESCALE_OPS_TIMEOUT"}, Usage: "how long to wait for readiness", DefaultText: "10m"},
		},
		Action: func(c *cli.Context) error {
			g := getGlobals(c)
			s, err := newScaler(g)
			if err != nil {
				return err
			}
			names, timeout := c.Args().Slice(), c.Duration("timeout")
			task := progress.NewTask("rollout")
			stop := opsWatch(g, task, "ready replicas")
			err = s.Rollout(c.Context, names, timeout, task)
			stop()
			if err != nil {
				return err
			}
			if g.JSON() {
				return g.printJSON(map[string]any{"rolled_out": names})
			}
			for _, n := range names {
				g.printf("%s rolled out\n", n)
			}
			return nil
		},
	}
}
