package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/component"
	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/restore"
	"github.com/urfave/cli/v2"
)

func drillCommand() *cli.Command {
	return &cli.Command{
		Name:  "drill",
		Usage: "disaster-recovery drill: back up, restore into a scratch target, verify, verdict",
		Description: `A drill takes a fresh snapshot of the source (or uses --snapshot), restores it
into a scratch target — another namespace, or other servers given with the
--target-* flags — runs the verification, and prints a JSON report (-o json) or
a table, optionally also JUnit XML for CI. The target is scratch: its data is
replaced (--drop-existing is implied). Exit 0 only when every step passed;
3 when the data was restored but verification found differences.`,
		UsageText: `3scale-ops -n 3scale drill --target-namespace 3scale-drill --report drill.xml
3scale-ops --local --system-db-url mysql2://… --backend-redis-url … drill \
    --target-system-db-url mysql2://… --target-backend-redis-url … --target-system-storage dir:///tmp/drill
3scale-ops -r s3://s3.example.com/backups/prod drill --snapshot latest --target-namespace 3scale-drill`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "snapshot", EnvVars: []string{"THREESCALE_OPS_DRILL_SNAPSHOT"}, Usage: "restore-test this existing snapshot (id or latest) instead of taking a new one"},
			&cli.BoolFlag{Name: "require-all", EnvVars: []string{"THREESCALE_OPS_DRILL_REQUIRE_ALL"}, Usage: "fail when a component of the snapshot is not restored and verified"},
			&cli.StringFlag{Name: "report", EnvVars: []string{"THREESCALE_OPS_DRILL_REPORT"}, Usage: "write a JUnit XML report to this file"},
			&cli.StringFlag{Name: "target-namespace", EnvVars: []string{"THREESCALE_OPS_TARGET_NAMESPACE"}, Usage: "scratch namespace to restore into (connections from its secrets)"},
			&cli.StringFlag{Name: "target-system-db-url", EnvVars: []string{"THREESCALE_OPS_TARGET_SYSTEM_DB_URL"}, Usage: "scratch system database"},
			&cli.StringFlag{Name: "target-zync-db-url", EnvVars: []string{"THREESCALE_OPS_TARGET_ZYNC_DB_URL"}, Usage: "scratch zync database"},
			&cli.StringFlag{Name: "target-backend-redis-url", EnvVars: []string{"THREESCALE_OPS_TARGET_BACKEND_REDIS_URL"}, Usage: "scratch backend-redis"},
			&cli.StringFlag{Name: "target-backend-redis-queues-url", EnvVars: []string{"THREESCALE_OPS_TARGET_BACKEND_REDIS_QUEUES_URL"}, Usage: "scratch backend-redis queues"},
			&cli.StringFlag{Name: "target-system-redis-url", EnvVars: []string{"THREESCALE_OPS_TARGET_SYSTEM_REDIS_URL"}, Usage: "scratch system-redis"},
			&cli.StringFlag{Name: "target-system-storage", EnvVars: []string{"THREESCALE_OPS_TARGET_SYSTEM_STORAGE"}, Usage: "scratch system-storage (dir:///path or s3://…)"},
			&cli.StringSliceFlag{Name: "components", EnvVars: []string{"THREESCALE_OPS_DRILL_COMPONENTS"}, Usage: "drill only these components"},
		},
		Action: runDrill,
	}
}

// DrillStep is one phase of a drill.
type DrillStep struct {
	Name     string  `json:"name"`
	Passed   bool    `json:"passed"`
	Seconds  float64 `json:"seconds"`
	Detail   string  `json:"detail,omitempty"`
	ExitCode int     `json:"exit_code"`
}

// DrillReport is the drill's verdict.
type DrillReport struct {
	Snapshot string              `json:"snapshot"`
	Source   string              `json:"source"`
	Target   string              `json:"target"`
	Passed   bool                `json:"passed"`
	Seconds  float64             `json:"seconds"`
	Steps    []DrillStep         `json:"steps"`
	Restore  []restore.StepState `json:"restore_steps,omitempty"`
	// Skipped are the components the snapshot holds that this drill did
	// not restore (and so did not verify), each with the reason.
	Skipped []DrillSkip `json:"skipped_components,omitempty"`
}

// DrillSkip is a component the drill left out.
type DrillSkip struct {
	Component string `json:"component"`
	Reason    string `json:"reason"`
}

func runDrill(c *cli.Context) error {
	g := getGlobals(c)
	start := time.Now()
	target, targetDesc, targetComps, err := drillTarget(c, g)
	if err != nil {
		return err
	}
	rep := &DrillReport{Source: sourceDesc(g), Target: targetDesc}
	src := g.forwardArgs()
	comps := splitList(c.StringSlice("components"))

	snapshot := c.String("snapshot")
	if snapshot == "" {
		args := append(append([]string{}, src...), "-o", "json", "backup")
		if len(comps) > 0 {
			args = append(args, "--components", strings.Join(append(comps, "verify"), ","))
		}
		out, step := subRun(c.Context, g, "backup", args)
		rep.Steps = append(rep.Steps, step)
		if !step.Passed {
			return finishDrill(c, g, rep, start, step)
		}
		var sum struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(out, &sum); err != nil || sum.ID == "" {
			step.Passed, step.Detail = false, "backup printed no snapshot id"
			rep.Steps[len(rep.Steps)-1] = step
			return finishDrill(c, g, rep, start, step)
		}
		snapshot = sum.ID
	}
	rep.Snapshot = snapshot

	var restoreFlags []string
	if i := slices.Index(target, rewriteArg); i >= 0 {
		target, restoreFlags = slices.Delete(slices.Clone(target), i, i+1), []string{rewriteArg}
	}
	args := append(append(target, g.repoArgs()...), append([]string{"-o", "json", "restore", snapshot, "--yes", "--drop-existing"}, restoreFlags...)...)
	if restoreComps := drillComponents(comps, targetComps); len(restoreComps) > 0 {
		args = append(args, "--components", strings.Join(restoreComps, ","))
	}
	out, step := subRun(c.Context, g, "restore+verify", args)
	var doc struct {
		Report *restore.Report `json:"report"`
		Plan   *restore.Plan   `json:"plan"`
	}
	if json.Unmarshal(out, &doc) == nil && doc.Plan != nil {
		rep.Skipped = drillSkipped(c.Context, g, snapshot, doc.Plan.Components, comps)
		if c.Bool("require-all") && len(rep.Skipped) > 0 && step.Passed {
			step.Passed, step.ExitCode = false, errs.Mismatch
			step.Detail = fmt.Sprintf("--require-all: %d component(s) of the snapshot not restored (see skipped)", len(rep.Skipped))
		}
	}
	if json.Unmarshal(out, &doc) == nil && doc.Report != nil {
		rep.Restore = doc.Report.Steps
		if step.Detail == "" {
			for _, s := range doc.Report.Steps {
				if s.Name == restore.StepVerify {
					step.Detail = s.Summary
				}
			}
		}
	}
	rep.Steps = append(rep.Steps, step)
	return finishDrill(c, g, rep, start, step)
}

// drillSkipped lists the restorable components of the snapshot the
// restore did not take, with the reason.
func drillSkipped(ctx context.Context, g *globals, snapshot string, restored, chosen []string) []DrillSkip {
	r, err := g.openRepository(ctx, false)
	if err != nil {
		return nil
	}
	id, err := r.ResolveID(ctx, snapshot)
	if err != nil {
		return nil
	}
	m, err := r.LoadManifest(ctx, id)
	if err != nil {
		return nil
	}
	var out []DrillSkip
	for _, name := range m.ComponentNames() {
		if info, ok := component.Lookup(name); !ok || info.Class == component.Meta || slices.Contains(restored, name) {
			continue
		}
		reason := "no --target-* flag points at a scratch target for it"
		if len(chosen) > 0 && !slices.Contains(chosen, name) {
			reason = "left out with --components"
		}
		out = append(out, DrillSkip{Component: name, Reason: reason})
	}
	return out
}

// drillComponents is what the restore takes: the chosen components (all
// when none were chosen), limited to those the --target-* flags point at
// (no limit for a target namespace).
func drillComponents(chosen, target []string) []string {
	if len(target) == 0 {
		return chosen
	}
	if len(chosen) == 0 {
		return target
	}
	var out []string
	for _, c := range chosen {
		if slices.Contains(target, c) {
			out = append(out, c)
		}
	}
	return out
}

// subRun runs one command of this binary in-process and records it as a step.
func subRun(ctx context.Context, g *globals, name string, args []string) ([]byte, DrillStep) {
	var out, errb bytes.Buffer
	t0 := time.Now()
	code := run(ctx, append([]string{"3scale-ops"}, args...), strings.NewReader(""), &out, &errb)
	step := DrillStep{Name: name, Passed: code == 0, Seconds: time.Since(t0).Seconds(), ExitCode: code}
	if code != 0 {
		msg := strings.TrimSpace(errb.String())
		if i := strings.LastIndex(msg, "3scale-ops: "); i >= 0 {
			msg = msg[i+len("3scale-ops: "):]
		}
		step.Detail = msg
	}
	g.Log.Info("drill step finished", "step", name, "passed", step.Passed, "seconds", fmt.Sprintf("%.1f", step.Seconds))
	return out.Bytes(), step
}

func finishDrill(c *cli.Context, g *globals, rep *DrillReport, start time.Time, last DrillStep) error {
	rep.Seconds = time.Since(start).Seconds()
	rep.Passed = true
	for _, s := range rep.Steps {
		rep.Passed = rep.Passed && s.Passed
	}
	if f := c.String("report"); f != "" {
		if err := os.WriteFile(f, junit(rep), 0o644); err != nil {
			return errs.UsageError("check --report", "write JUnit report: %v", err)
		}
	}
	if g.JSON() {
		if err := g.printJSON(rep); err != nil {
			return err
		}
	} else {
		rows := [][]string{}
		for _, s := range rep.Steps {
			res := "pass"
			if !s.Passed {
				res = "FAIL"
			}
			rows = append(rows, []string{s.Name, res, fmt.Sprintf("%.1fs", s.Seconds), s.Detail})
		}
		for _, s := range rep.Restore {
			rows = append(rows, []string{"  " + s.Name, s.Status, s.Ended.Sub(s.Started).Round(10 * time.Millisecond).String(), s.Summary})
		}
		for _, s := range rep.Skipped {
			rows = append(rows, []string{"  " + s.Component, "SKIPPED", "", "not restored, not verified: " + s.Reason})
		}
		table(g.Stdout, []string{"STEP", "RESULT", "TIME", "DETAIL"}, rows)
		verdict := "PASSED"
		if !rep.Passed {
			verdict = "FAILED"
		} else if len(rep.Skipped) > 0 {
			verdict = fmt.Sprintf("PASSED for %d restored components, %d SKIPPED (--require-all makes that a failure)", len(rep.Restore), len(rep.Skipped))
		}
		g.printf("drill %s: snapshot %s restored from %s into %s in %.1fs\n", verdict, rep.Snapshot, rep.Source, rep.Target, rep.Seconds)
	}
	if !rep.Passed {
		code := last.ExitCode
		if code == 0 {
			code = errs.Failure
		}
		return errs.New(code, "see the failed step above", "drill failed at step %s", last.Name)
	}
	return nil
}

// rewriteArg points the restored secrets of a drill's target namespace at
// the servers its --target-* flags give.
const rewriteArg = "--rewrite-connections"

// connFlags are the connection override flags, each with its drill
// target flag and the component it points at.
var connFlags = []struct{ flag, target, component string }{
	{"--system-db-url", "target-system-db-url", "system-mysql"},
	{"--zync-db-url", "target-zync-db-url", "zync-postgres"},
	{"--backend-redis-url", "target-backend-redis-url", "backend-redis"},
	{"--backend-redis-queues-url", "target-backend-redis-queues-url", ""},
	{"--system-redis-url", "target-system-redis-url", "system-redis"},
	{"--system-storage", "target-system-storage", "system-storage"},
}

// drillTarget builds the global flags that point a restore at the target,
// and the components the target can take. Every connection flag is passed
// explicitly (empty when not given), so that nothing falls back to the
// source's environment variables: a drill must never write to its source.
func drillTarget(c *cli.Context, g *globals) (args []string, desc string, comps []string, err error) {
	if ns := c.String("target-namespace"); ns != "" {
		if g.Local {
			return nil, "", nil, errs.UsageError("drop --local, or give --target-* connection flags", "--target-namespace needs Kubernetes")
		}
		kc, err := g.kubeClients()
		if err != nil {
			return nil, "", nil, err
		}
		if ns == g.namespace(kc) {
			return nil, "", nil, errs.UsageError("give a scratch namespace", "the drill target namespace %q is the source namespace", ns)
		}
		ov := config.Overrides{SystemDB: c.String("target-system-db-url"), ZyncDB: c.String("target-zync-db-url"),
			BackendRedis: c.String("target-backend-redis-url"), BackendRedisQueues: c.String("target-backend-redis-queues-url"),
			SystemRedis: c.String("target-system-redis-url"), SystemStorage: c.String("target-system-storage")}
		if err := guardDrillNamespace(c.Context, kc, ns, ov, splitList(c.StringSlice("components"))); err != nil {
			return nil, "", nil, err
		}
		args = []string{"-n", ns}
		if g.Kubeconfig != "" {
			args = append(args, "--kubeconfig", g.Kubeconfig)
		}
		if g.Context != "" {
			args = append(args, "--context", g.Context)
		}
		// Servers given by --target-* flags take the place of those the
		// namespace's secrets name, and the restored secrets are pointed at
		// them: the scratch installation must never name the source's.
		given := false
		for _, f := range connFlags {
			v := c.String(f.target)
			if v != "" && strings.TrimRight(v, "/") == strings.TrimRight(g.overrideFlags()[f.flag], "/") {
				return nil, "", nil, errs.UsageError("point --"+f.target+" at scratch servers", "--%s is the source's own %s: a drill must not restore into its source", f.target, f.flag)
			}
			args = append(args, f.flag+"="+v)
			given = given || v != ""
		}
		args = append(args, tlsFlagArgs(g.Overrides, true)...)
		if given {
			// a restore flag: runDrill moves it after the restore command
			args = append(args, rewriteArg)
		}
		return args, "namespace " + ns, nil, nil
	}
	src := g.overrideFlags()
	args = []string{"--local"}
	for _, f := range connFlags {
		v := c.String(f.target)
		if v != "" && strings.TrimRight(v, "/") == strings.TrimRight(src[f.flag], "/") {
			return nil, "", nil, errs.UsageError("point --"+f.target+" at scratch servers", "--%s is the source's own %s: a drill must not restore into its source", f.target, f.flag)
		}
		args = append(args, f.flag+"="+v)
		if v != "" && f.component != "" {
			comps = append(comps, f.component)
		}
	}
	args = append(args, tlsFlagArgs(g.Overrides, true)...)
	if len(comps) == 0 {
		return nil, "", nil, errs.UsageError("give --target-namespace, or --target-system-db-url and the other --target-* flags", "the drill has no target")
	}
	return args, "scratch servers (--target-* flags)", comps, nil
}

// forwardArgs renders the source's global flags for an in-process run.
func (g *globals) forwardArgs() []string {
	var a []string
	if g.Local {
		a = append(a, "--local")
	} else {
		if g.Namespace != "" {
			a = append(a, "-n", g.Namespace)
		}
		if g.Kubeconfig != "" {
			a = append(a, "--kubeconfig", g.Kubeconfig)
		}
		if g.Context != "" {
			a = append(a, "--context", g.Context)
		}
	}
	ov := g.overrideFlags()
	for _, f := range connFlags {
		if v := ov[f.flag]; v != "" {
			a = append(a, f.flag, v)
		}
	}
	a = append(a, tlsFlagArgs(g.Overrides, false)...)
	return append(a, g.repoArgs()...)
}

// overrideFlags maps each connection flag to the value it was given.
func (g *globals) overrideFlags() map[string]string {
	return map[string]string{"--system-db-url": g.Overrides.SystemDB, "--zync-db-url": g.Overrides.ZyncDB,
		"--backend-redis-url": g.Overrides.BackendRedis, "--backend-redis-queues-url": g.Overrides.BackendRedisQueues,
		"--system-redis-url": g.Overrides.SystemRedis, "--system-storage": g.Overrides.SystemStorage}
}

// repoArgs are the repository flags (they travel to every sub-run).
func (g *globals) repoArgs() []string {
	a := []string{"-r", g.Repo, "--log-format", g.LogFormat, "--log-level", g.LogLevel, "--no-progress"}
	if g.S3Insecure {
		a = append(a, "--s3-insecure")
	}
	if g.PasswordFile != "" {
		a = append(a, "--password-file", g.PasswordFile)
	}
	for _, r := range g.Recipients {
		a = append(a, "--recipient", r)
	}
	if g.RecipientsFile != "" {
		a = append(a, "--recipients-file", g.RecipientsFile)
	}
	if g.IdentityFile != "" {
		a = append(a, "--identity-file", g.IdentityFile)
	}
	return a
}

func sourceDesc(g *globals) string {
	if g.Local {
		return "local connections"
	}
	return "namespace " + g.Namespace
}

type junitSuite struct {
	XMLName  xml.Name    `xml:"testsuite"`
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name    string        `xml:"name,attr"`
	Class   string        `xml:"classname,attr"`
	Time    string        `xml:"time,attr"`
	Failure *junitFailure `xml:"failure,omitempty"`
	Skipped *junitSkipped `xml:"skipped,omitempty"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// junit renders the drill as a JUnit XML test suite: one case per drill
// step and per restore step.
func junit(rep *DrillReport) []byte {
	s := junitSuite{Name: "3scale-ops drill " + rep.Snapshot, Time: fmt.Sprintf("%.3f", rep.Seconds)}
	add := func(name string, secs float64, ok bool, msg string) {
		c := junitCase{Name: name, Class: "drill", Time: fmt.Sprintf("%.3f", secs)}
		if !ok {
			c.Failure = &junitFailure{Message: msg, Text: msg}
			s.Failures++
		}
		s.Cases = append(s.Cases, c)
		s.Tests++
	}
	for _, st := range rep.Steps {
		add(st.Name, st.Seconds, st.Passed, st.Detail)
	}
	for _, st := range rep.Restore {
		add("restore/"+st.Name, st.Ended.Sub(st.Started).Seconds(), st.Status == restore.Done && !st.Mismatch, st.Error+st.Summary)
	}
	for _, sk := range rep.Skipped {
		s.Cases = append(s.Cases, junitCase{Name: "restore/" + sk.Component, Class: "drill", Time: "0.000", Skipped: &junitSkipped{Message: sk.Reason}})
		s.Tests++
		s.Skipped++
	}
	b, _ := xml.MarshalIndent(s, "", "  ")
	return append([]byte(xml.Header), append(b, '\n')...)
}
