package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// Set with -ldflags "-X main.version=… -X main.commit=…" (see Makefile).
var (
	version = "dev"
	commit  = ""
)

func buildCommit() string {
	if commit != "" {
		return commit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}

func versionString() string {
	return fmt.Sprintf("%s (commit %s, %s)", version, buildCommit(), runtime.Version())
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:      "version",
		Usage:     "print version, commit and Go version",
		UsageText: "3scale-ops version\n3scale-ops -o json version",
		Action: func(c *cli.Context) error {
			g := getGlobals(c)
			if g.JSON() {
				return g.printJSON(map[string]string{"version": version, "commit": buildCommit(), "go": runtime.Version()})
			}
			g.printf("3scale-ops %s\n", versionString())
			return nil
		},
	}
}
