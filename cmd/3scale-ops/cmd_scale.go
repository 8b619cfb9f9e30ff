package main

import (
	"strconv"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/scale"
	"github.com/urfave/cli/v2"
)

func scaleCommand() *cli.Command {
	return &cli.Command{
		Name:      "scale",
		Usage:     "scale 3scale components the way that sticks (APIManager CR, DeploymentConfig or Deployment)",
		ArgsUsage: "COMPONENT=N …",
		UsageText: `3scale-ops -n 3scale scale apicast-production=3 backend-listener=2 --wait
3scale-ops -n 3scale scale --down-all
3scale-ops -n 3scale scale --resume
3scale-ops -n 3scale scale status`,
		Description: "Components: " + strings.Join(scale.Names(), ", ") + `.
With an APIManager in the namespace the CR's replica field is patched (the
operator reverts direct scaling); otherwise the DeploymentConfig's or
Deployment's scale subresource is used, as oc scale does.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "down-all", EnvVars: []string{"THREESCALE_OPS_SCALE_DOWN_ALL"}, Usage: "record current replicas and scale every 3scale deployment to 0"},
			&cli.BoolFlag{Name: "resume", EnvVars: []string{"THREESCALE_OPS_SCALE_RESUME"}, Usage: "scale back to the replicas recorded by --down-all"},
			&cli.BoolFlag{Name: "wait", EnvVars: []string{"THREESCALE_OPS_SCALE_WAIT"}, Usage: "wait until the new replicas are ready"},
			&cli.DurationFlag{Name: "timeout", Value: 0, EnvVars: []string{"THREESCALE_OPS_TIMEOUT"}, Usage: "how long --wait waits", DefaultText: "10m"},
		},
		Subcommands: []*cli.Command{
			{Name: "status", Usage: "kind, desired and ready replicas of every 3scale component", UsageText: "3scale-ops -n 3scale scale status\n3scale-ops -n 3scale -o json scale status",
				Action: runScaleStatus},
		},
		Action: runScale,
	}
}

// newScaler connects to Kubernetes (scale needs it: --local is refused).
func newScaler(g *globals) (*scale.Scaler, error) {
	if g.Local {
		return nil, errs.UsageError("drop --local: scaling talks to the Kubernetes API", "scale and rollout need Kubernetes")
	}
	kc, err := g.kubeClients()
	if err != nil {
		return nil, err
	}
	s := scale.New(kc, g.namespace(kc))
	s.Log = g.Log
	return s, nil
}

func runScale(c *cli.Context) error {
	g := getGlobals(c)
	// Flags after the arguments were moved before them by interspersed.
	req := scale.Request{DownAll: c.Bool("down-all"), Resume: c.Bool("resume"), Wait: c.Bool("wait"), Timeout: c.Duration("timeout")}
	if args := c.Args().Slice(); len(args) > 0 {
		var err error
		if req.Targets, err = scale.ParseTargets(args); err != nil {
			return err
		}
	}
	if err := req.Check(); err != nil {
		return err
	}
	s, err := newScaler(g)
	if err != nil {
		return err
	}
	task, stop := progress.NewTask("scale"), func() {}
	if req.Wait {
		stop = opsWatch(g, task, "ready replicas")
	}
	res, err := s.Run(c.Context, req, task)
	stop()
	if err != nil {
		return err
	}
	if g.JSON() {
		return g.printJSON(map[string]any{"action": strings.Fields(res.Action)[0], "replicas": res.Replicas, "waited": res.Waited})
	}
	names := res.Components()
	if len(names) == 0 {
		g.printf("nothing to do: no replicas recorded by --down-all\n")
		return nil
	}
	rows := make([][]string, 0, len(names))
	for _, n := range names {
		rows = append(rows, []string{n, strconv.Itoa(int(res.Replicas[n]))})
	}
	g.printf("%s:\n", res.Action)
	table(g.Stdout, []string{"COMPONENT", "REPLICAS"}, rows)
	return nil
}

func runScaleStatus(c *cli.Context) error {
	g := getGlobals(c)
	s, err := newScaler(g)
	if err != nil {
		return err
	}
	rows, err := s.Status(c.Context)
	if err != nil {
		return err
	}
	if g.JSON() {
		return g.printJSON(rows)
	}
	out := make([][]string, 0, len(rows))
	for _, r := range rows {
		managed := "no"
		if r.Managed {
			managed = "yes"
			if r.CRField != "" {
				managed = r.CRField
			}
			if r.HPA {
				managed += " (hpa)"
			}
		}
		rec := ""
		if r.Recorded != nil {
			rec = strconv.Itoa(int(*r.Recorded))
		}
		out = append(out, []string{r.Component, r.Kind, strconv.Itoa(int(r.Desired)), strconv.Itoa(int(r.Ready)), managed, rec, r.Note})
	}
	table(g.Stdout, []string{"COMPONENT", "KIND", "DESIRED", "READY", "OPERATOR", "DOWN-ALL RECORD", "NOTE"}, out)
	return nil
}
