package main

import (
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/urfave/cli/v2"
)

// interspersed lets flags follow positional arguments, as operators type
// them (`restore latest --yes`): urfave/cli v2 stops parsing flags at the
// first positional argument, so the command's own flags are moved in
// front of its positional arguments. Global flags must still come before
// the command.
//
// A command or subcommand name that does not exist is reported as a usage
// error (exit 2) here, before urfave/cli would answer with its help.
func interspersed(app *cli.App, args []string) ([]string, error) {
	if len(args) < 2 {
		return args, nil
	}
	out := []string{args[0]}
	i := 1
	// global flags
	for i < len(args) && strings.HasPrefix(args[i], "-") {
		out = append(out, args[i])
		if takesValue(app.Flags, args[i]) && !strings.Contains(args[i], "=") && i+1 < len(args) {
			i++
			out = append(out, args[i])
		}
		i++
	}
	cmds := app.Commands
	var cmd *cli.Command
	path := "3scale-ops"
	for i < len(args) {
		next := findCommand(cmds, args[i])
		if next == nil {
			a := args[i]
			if !strings.HasPrefix(a, "-") && a != "help" && a != "h" && (cmd == nil || (len(cmd.Subcommands) > 0 && cmd.Action == nil)) {
				names := make([]string, 0, len(cmds))
				for _, c := range cmds {
					names = append(names, c.Name)
				}
				return nil, errs.UsageError("commands: "+strings.Join(names, ", ")+" (see `"+path+" --help`)", "unknown command %q", a)
			}
			break
		}
		cmd = next
		path += " " + cmd.Name
		out = append(out, args[i])
		cmds = cmd.Subcommands
		i++
		// flags between a command and its subcommand stay in place
		for i < len(args) && strings.HasPrefix(args[i], "-") && findCommand(cmds, args[i]) == nil {
			if len(cmds) == 0 {
				break
			}
			out = append(out, args[i])
			if takesValue(cmd.Flags, args[i]) && !strings.Contains(args[i], "=") && i+1 < len(args) {
				i++
				out = append(out, args[i])
			}
			i++
		}
	}
	if cmd == nil {
		return args, nil
	}
	var flags, pos []string
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i:]...)
			break
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			flags = append(flags, a)
			if takesValue(cmd.Flags, a) && !strings.Contains(a, "=") && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
			continue
		}
		pos = append(pos, a)
	}
	out = append(out, flags...)
	return append(out, pos...), nil
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.Name == name {
			return c
		}
		for _, a := range c.Aliases {
			if a == name {
				return c
			}
		}
	}
	return nil
}

// takesValue reports whether the flag token names a non-boolean flag.
func takesValue(flags []cli.Flag, token string) bool {
	name := strings.TrimLeft(token, "-")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				_, isBool := f.(*cli.BoolFlag)
				return !isBool
			}
		}
	}
	return false
}
