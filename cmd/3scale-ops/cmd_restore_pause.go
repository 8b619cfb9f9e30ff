package main

import (
	"fmt"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/restore"
)

// printPause tells, after the step table, where a restore paused on
// purpose and how to continue (exit 0: nothing failed). Parameter values
// are printed only with --show-secrets (Pause.Secrets), unredacted.
func printPause(g *globals, p *restore.Pause) {
	if p == nil {
		return
	}
	names := make([]string, len(p.Params))
	for i, prm := range p.Params {
		names[i] = prm.Name
	}
	g.printf("\nrestore paused at step %s: deploy 3scale from the template (guide 7.5.1) with the parameters read from the restored secrets and configmaps.\n", p.Step)
	g.printf("  parameter file (mode 0600): %s\n  parameters: %s\n", p.ParamFile, strings.Join(names, ", "))
	if len(p.Absent) > 0 {
		g.printf("  not in the restored objects (the template's default or generated value applies): %s\n", strings.Join(p.Absent, ", "))
	}
	g.printf("  1. %s   (amp.yml of the snapshot's 3scale release; objects that already exist are reported and kept)\n", p.Command)
	g.printf("  2. %s\n", p.Resume)
	if len(p.Secrets) > 0 {
		var b strings.Builder
		b.WriteString("  the same as --param flags (--show-secrets):\n    oc new-app --file amp.yml")
		for _, prm := range p.Secrets {
			fmt.Fprintf(&b, " \\\n      --param %s=%q", prm.Name, prm.Value)
		}
		b.WriteString("\n")
		fmt.Fprint(g.Stdout, b.String()) // not redacted: asked for
	}
}
