package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

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

// parseTargets parses COMPONENT=N arguments.
func parseTargets(args []string) (map[string]int32, error) {
	out := map[string]int32{}
	for _, a := range args {
		name, n, ok := strings.Cut(a, "=")
		v, err := strconv.ParseInt(n, 10, 32)
		if !ok || err != nil || v < 0 {
			return nil, errs.UsageError("write COMPONENT=N, e.g. apicast-production=3", "invalid argument %q", a)
		}
		out[name] = int32(v)
	}
	return out, nil
}

func runScale(c *cli.Context) error {
	g := getGlobals(c)
	// Flags after the arguments were moved before them by interspersed.
	args, timeout := c.Args().Slice(), c.Duration("timeout")
	flags := map[string]bool{"down-all": c.Bool("down-all"), "resume": c.Bool("resume"), "wait": c.Bool("wait")}
	modes := 0
	for _, f := range []bool{flags["down-all"], flags["resume"], len(args) > 0} {
		if f {
			modes++
		}
	}
	if modes != 1 {
		return errs.UsageError("give COMPONENT=N …, --down-all or --resume (or `scale status`)", "scale needs exactly one of COMPONENT=N, --down-all, --resume")
	}
	var targets map[string]int32
	if len(args) > 0 {
		var err error
		if targets, err = parseTargets(args); err != nil {
			return err
		}
	}
	s, err := newScaler(g)
	if err != nil {
		return err
	}
	ctx := c.Context
	var changed map[string]int32
	action := "scaled"
	switch {
	case flags["down-all"]:
		action = "scaled to 0 (recorded replicas)"
		changed, err = s.DownAll(ctx)
	case flags["resume"]:
		action = "resumed"
		changed, err = s.Resume(ctx)
	default:
		changed, err = targets, s.Scale(ctx, targets)
	}
	if err != nil {
		return err
	}
	names := slices.Sorted(maps.Keys(changed))
	if flags["wait"] && len(names) > 0 {
		task := progress.NewTask("scale")
		stop := opsWatch(g, task, "ready replicas")
		err = s.Wait(ctx, names, timeout, task)
		stop()
		if err != nil {
			return err
		}
	}
	if g.JSON() {
		return g.printJSON(map[string]any{"action": strings.Fields(action)[0], "replicas": changed, "waited": flags["wait"]})
	}
	if len(names) == 0 {
		g.printf("nothing to do: no replicas recorded by --down-all\n")
		return nil
	}
	rows := make([][]string, 0, len(names))
	for _, n := range names {
		rows = append(rows, []string{n, strconv.Itoa(int(changed[n]))})
	}
	g.printf("%s:\n", action)
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

// opsWatch prints a task's progress to stderr every 2s (unless
// --no-progress or -o json) until the returned stop is called.
func opsWatch(g *globals, task *progress.Task, what string) (stop func()) {
	if g.NoProgress || g.JSON() {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				st := task.Stats()
				phase := ""
				if st.Phase != "" {
					phase = st.Phase + ": "
				}
				printProgressLine(g.Stderr, fmt.Sprintf("%s%d/%d %s (%s)", phase, st.Items, st.TotalItems, what, st.Elapsed.Round(time.Second)))
			}
		}
	}()
	return func() { cancel(); <-done }
}

func printProgressLine(w io.Writer, s string) { fmt.Fprintln(w, s) }
