// Command 3scale-ops backs up, restores, scales and operates a Red Hat
// 3scale API Management installation. This package is wiring only: flags,
// output and exit codes; the work is done by the packages in internal/.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/redact"
	"github.com/redis/go-redis/v9"
	"github.com/urfave/cli/v2"
	"k8s.io/klog/v2"
)

func main() {
	applyMemoryLimit(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit code. Tests call it
// in-process with their own streams.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// go-redis logs dial retries on its own; errors reach the user through
	// our error path instead.
	redis.SetLogger(quietRedisLogger{})
	// client-go's klog writes transport chatter to stderr; errors that
	// matter reach the user through the command's error.
	klog.SetOutput(io.Discard)
	klog.LogToStderr(false)
	app := newApp(stdin, stdout, stderr)
	args, err := interspersed(app, args)
	if err == nil {
		err = app.RunContext(ctx, args)
	}
	if err == nil {
		return errs.OK
	}
	if strings.HasPrefix(err.Error(), "Required flag") || strings.HasPrefix(err.Error(), "Required flags") {
		err = errs.UsageError("see --help of the command", "%v", err)
	}
	code := errs.Code(err)
	if errs.Canceled(err) && ctx.Err() != nil {
		fmt.Fprintf(stderr, "3scale-ops: interrupted: %s\n", redact.String(err.Error()))
		if h := errs.Hint(err); h != "" {
			fmt.Fprintf(stderr, "hint: %s\n", redact.String(h))
		}
		return errs.Failure
	}
	fmt.Fprintf(stderr, "3scale-ops: %s\n", redact.String(err.Error()))
	if h := errs.Hint(err); h != "" {
		fmt.Fprintf(stderr, "hint: %s\n", redact.String(h))
	}
	return code
}

type quietRedisLogger struct{}

func (quietRedisLogger) Printf(context.Context, string, ...any) {}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:  "3scale-ops",
		Usage: "back up, restore, verify and operate a 3scale API Management installation",
		Description: `3scale-ops snapshots every stateful part of 3scale (system-mysql, zync's PostgreSQL,
backend-redis, system-redis, system-storage, secrets, configmaps and the APIManager CR)
into a local directory or S3, restores them in the documented runbook order, proves a
restore by serving real API traffic from it, and runs the routine operations.

Examples:
   3scale-ops -n 3scale config --check
   3scale-ops -n 3scale -r s3://s3.example.com/backups/prod backup --tag reason=nightly
   3scale-ops -n 3scale restore latest --dry-run
   3scale-ops -n 3scale scale apicast-production=3 backend-listener=2 --wait

Exit codes: 0 success, 1 failure, 2 usage or input error, 3 verification found a
difference, 4 another run holds the repository or restore lock.`,
		Version:              versionString(),
		Reader:               stdin,
		Writer:               stdout,
		ErrWriter:            stderr,
		Flags:                globalFlags(),
		Before:               setupGlobals,
		EnableBashCompletion: true,
		HideVersion:          true,
		ExitErrHandler:       func(*cli.Context, error) {}, // run() prints and exits
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return errs.UsageError("run `3scale-ops "+c.Command.Name+" --help`", "%v", err)
		},
		Commands: []*cli.Command{
			configCommand(),
			initCommand(),
			backupCommand(),
			backupsCommand(),
			restoreCommand(),
			scaleCommand(),
			rolloutCommand(),
			purgeCommand(),
			scheduleCommand(),
			manifestsCommand(),
			zyncCommand(),
			verifyCommand(),
			gatewayCommand(),
			backendCommand(),
			drillCommand(),
			versionCommand(),
		},
	}
	for _, cmd := range app.Commands {
		setUsageErrors(cmd)
	}
	return app
}

// setUsageErrors makes flag parsing errors of every (sub)command exit 2.
func setUsageErrors(cmd *cli.Command) {
	cmd.OnUsageError = func(c *cli.Context, err error, _ bool) error {
		return errs.UsageError("run `3scale-ops "+c.Command.FullName()+" --help`", "%v", err)
	}
	for _, sub := range cmd.Subcommands {
		setUsageErrors(sub)
	}
}
