package main

import (
	"io"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// Every flag of every command can be set from the environment, and its
// help text renders as written: no backticks (urfave/cli turns them into
// the value placeholder) and no default stated twice.
func TestEveryFlagHasAnEnvironmentVariable(t *testing.T) {
	app := newApp(strings.NewReader(""), io.Discard, io.Discard)
	seen := 0
	var walk func(path string, flags []cli.Flag, cmds []*cli.Command)
	walk = func(path string, flags []cli.Flag, cmds []*cli.Command) {
		for _, f := range flags {
			name := f.Names()[0]
			if name == "help" || name == "version" {
				continue
			}
			seen++
			df, ok := f.(cli.DocGenerationFlag)
			if !ok {
				t.Errorf("%s --%s: flag type %T has no help text", path, name, f)
				continue
			}
			if len(df.GetEnvVars()) == 0 {
				t.Errorf("%s --%s has no environment variable", path, name)
			}
			if u := df.GetUsage(); strings.Contains(u, "`") {
				t.Errorf("%s --%s: backticks in the usage become a placeholder: %q", path, name, u)
			}
			if strings.Contains(df.GetUsage(), "(default") && df.GetDefaultText() == "" && df.GetValue() != "" {
				t.Errorf("%s --%s: the usage states a default and cli adds another: %q", path, name, df.GetUsage())
			}
			if help := cli.FlagStringer(f); strings.Count(help, "default") > 1 {
				t.Errorf("%s --%s: default shown twice: %q", path, name, help)
			}
		}
		for _, c := range cmds {
			walk(path+" "+c.Name, c.Flags, c.Subcommands)
		}
	}
	walk("3scale-ops", app.Flags, app.Commands)
	if seen < 50 {
		t.Fatalf("walked only %d flags", seen)
	}
}
