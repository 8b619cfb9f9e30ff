package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/redact"
	"github.com/3scale-ops/3scale-ops/internal/repo"
	"github.com/3scale-ops/3scale-ops/internal/runbook"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// globals are the parsed global flags, shared by every command. The
// settings part (runbook.Settings) is the one definition that drill and
// schedule pass on to the libraries; the rest is the terminal's.
type globals struct {
	runbook.Settings
	LogFormat  string
	LogLevel   string
	Output     string // text | json
	NoProgress bool

	Stdout io.Writer
	Stderr io.Writer
	Stdin  io.Reader
}

const globalsKey = "3scale-ops-globals"

func globalFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "namespace", Aliases: []string{"n"}, EnvVars: []string{"THREESCALE_NAMESPACE"}, Usage: "namespace of the 3scale installation (default: the kubeconfig context's)"},
		&cli.StringFlag{Name: "kubeconfig", EnvVars: []string{"KUBECONFIG"}, Usage: "kubeconfig file (default: ~/.kube/config, or in-cluster)"},
		&cli.StringFlag{Name: "context", EnvVars: []string{"THREESCALE_OPS_CONTEXT"}, Usage: "kubeconfig context"},
		&cli.StringFlag{Name: "repo", Aliases: []string{"r"}, EnvVars: []string{"THREESCALE_OPS_REPO"}, Value: "./3scale-backups", Usage: "backup repository: a path, file:///path or s3://HOST[:PORT]/BUCKET/PREFIX"},
		&cli.BoolFlag{Name: "s3-insecure", EnvVars: []string{"THREESCALE_OPS_S3_INSECURE"}, Usage: "talk plain http to the S3 endpoint"},
		&cli.StringFlag{Name: "password-file", EnvVars: []string{"THREESCALE_OPS_PASSWORD_FILE"}, Usage: "file holding the repository passphrase (age scrypt); THREESCALE_OPS_PASSWORD also works"},
		&cli.StringSliceFlag{Name: "recipient", EnvVars: []string{"THREESCALE_OPS_RECIPIENTS"}, Usage: "age recipient (public key) to encrypt to; repeatable"},
		&cli.StringFlag{Name: "recipients-file", EnvVars: []string{"THREESCALE_OPS_RECIPIENTS_FILE"}, Usage: "file of age recipients, one per line"},
		&cli.StringFlag{Name: "writer-key-file", EnvVars: []string{"THREESCALE_OPS_WRITER_KEY_FILE"}, Usage: "writer key of an encrypted repository (written by init --writer-key-out): lets a backup job write authenticated snapshots without the reading key, and only into the config.json it was issued for"},
		&cli.IntFlag{Name: "kdf-work-factor", EnvVars: []string{"THREESCALE_OPS_KDF_WORK_FACTOR"}, Value: repo.DefaultScryptWorkFactor, Usage: "scrypt work factor (log2 N), 15 to 20, of the passphrase of a repository this command creates (init, or a first backup): deriving the key takes 2^N KiB of memory and time in proportion (18: 256 MiB, about a second); 16 (64 MiB) fits a job with a small memory limit, at a quarter of the cost to someone guessing the passphrase"},
		&cli.StringFlag{Name: "identity-file", EnvVars: []string{"THREESCALE_OPS_IDENTITY_FILE"}, Usage: "age identity file (AGE-SECRET-KEY-…) that opens a repository encrypted to --recipient keys"},
		&cli.StringFlag{Name: "state-dir", EnvVars: []string{"THREESCALE_OPS_STATE_DIR"}, Usage: "local directory for the restore's lock and journal, for a read-only repository (read-only directory, read-only S3 credentials, object lock)"},
		&cli.StringFlag{Name: "log-format", EnvVars: []string{"THREESCALE_OPS_LOG_FORMAT"}, Value: "text", Usage: "log format: text or json (logs go to stderr)"},
		&cli.StringFlag{Name: "log-level", EnvVars: []string{"THREESCALE_OPS_LOG_LEVEL"}, Value: "info", Usage: "debug, info, warn or error"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, EnvVars: []string{"THREESCALE_OPS_OUTPUT"}, Value: "text", Usage: "result format on stdout: text or json (one JSON document)"},
		&cli.BoolFlag{Name: "no-progress", EnvVars: []string{"THREESCALE_OPS_NO_PROGRESS"}, Usage: "never show progress"},
		&cli.BoolFlag{Name: "local", EnvVars: []string{"THREESCALE_OPS_LOCAL"}, Usage: "no Kubernetes at all: every connection comes from flags or environment"},
		&cli.StringFlag{Name: "system-db-url", EnvVars: []string{"THREESCALE_SYSTEM_DB_URL"}, Usage: "system database (Porta), e.g. mysql2://root:PW@host:3306/system"},
		&cli.StringFlag{Name: "zync-db-url", EnvVars: []string{"THREESCALE_ZYNC_DB_URL"}, Usage: "zync database, e.g. postgresql://zync:PW@host:5432/zync_production"},
		&cli.StringFlag{Name: "backend-redis-url", EnvVars: []string{"THREESCALE_BACKEND_REDIS_URL"}, Usage: "backend-redis storage, e.g. redis://host:6379/0"},
		&cli.StringFlag{Name: "backend-redis-queues-url", EnvVars: []string{"THREESCALE_BACKEND_REDIS_QUEUES_URL"}, Usage: "backend-redis queues, e.g. redis://host:6379/1"},
		&cli.StringFlag{Name: "system-redis-url", EnvVars: []string{"THREESCALE_SYSTEM_REDIS_URL"}, Usage: "system-redis, e.g. redis://host:6379/1"},
		&cli.StringFlag{Name: "system-storage", EnvVars: []string{"THREESCALE_SYSTEM_STORAGE"}, Usage: "system-storage: dir:///path, s3://HOST/BUCKET/PREFIX or pod (default: pod, or S3 when the installation stores files in S3)"},
	}, connectionTLSFlags()...)
}

func setupGlobals(c *cli.Context) error {
	g := &globals{
		Settings: runbook.Settings{
			Namespace: c.String("namespace"), Kubeconfig: c.String("kubeconfig"), Context: c.String("context"), Local: c.Bool("local"),
			Repo: c.String("repo"), PasswordFile: c.String("password-file"), Recipients: c.StringSlice("recipient"),
			RecipientsFile: c.String("recipients-file"), IdentityFile: c.String("identity-file"), StateDir: c.String("state-dir"), WriterKeyFile: c.String("writer-key-file"),
			KDFWorkFactor: c.Int("kdf-work-factor"),
			S3Insecure:    c.Bool("s3-insecure"), ToolVersion: version,
			Overrides: config.Overrides{
				SystemDB: c.String("system-db-url"), ZyncDB: c.String("zync-db-url"),
				BackendRedis: c.String("backend-redis-url"), BackendRedisQueues: c.String("backend-redis-queues-url"),
				SystemRedis: c.String("system-redis-url"), SystemStorage: c.String("system-storage"),
			},
		},
		LogFormat: c.String("log-format"), LogLevel: c.String("log-level"), Output: c.String("output"), NoProgress: c.Bool("no-progress"),
		Stdout: c.App.Writer, Stderr: c.App.ErrWriter, Stdin: c.App.Reader,
	}
	tlsOverrides(c, &g.Overrides)
	for _, u := range []string{g.Overrides.SystemDB, g.Overrides.ZyncDB, g.Overrides.BackendRedis,
		g.Overrides.BackendRedisQueues, g.Overrides.SystemRedis, g.Overrides.SystemStorage} {
		redact.AddURL(u)
	}
	redact.Add(os.Getenv("THREESCALE_OPS_PASSWORD"), os.Getenv("AWS_SECRET_ACCESS_KEY"))
	if g.Output != "text" && g.Output != "json" {
		return errs.UsageError("use -o text or -o json", "unknown output format %q", g.Output)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.LogLevel)); err != nil {
		return errs.UsageError("use --log-level debug, info, warn or error", "unknown log level %q", g.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch g.LogFormat {
	case "text":
		h = slog.NewTextHandler(g.Stderr, opts)
	case "json":
		h = slog.NewJSONHandler(g.Stderr, opts)
	default:
		return errs.UsageError("use --log-format text or json", "unknown log format %q", g.LogFormat)
	}
	g.Log = slog.New(redact.Handler(h))
	c.App.Metadata = map[string]any{globalsKey: g}
	return nil
}

// getGlobals returns the parsed global flags of the running app.
func getGlobals(c *cli.Context) *globals {
	return c.App.Metadata[globalsKey].(*globals)
}

// JSON reports whether -o json was given.
func (g *globals) JSON() bool { return g.Output == "json" }

// printJSON writes v as the one JSON document of stdout, with every
// registered secret masked (error texts and reports can carry them).
func (g *globals) printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(g.Stdout, redact.String(string(b)))
	return err
}

// printf writes redacted text to stdout.
func (g *globals) printf(format string, args ...any) {
	fmt.Fprint(g.Stdout, redact.String(fmt.Sprintf(format, args...)))
}

// warnf writes a redacted warning line to stderr.
func (g *globals) warnf(format string, args ...any) {
	fmt.Fprintf(g.Stderr, "warning: %s\n", redact.String(fmt.Sprintf(format, args...)))
}

// interactive reports whether stdin and stderr are terminals (for prompts
// and progress).
func (g *globals) interactive() bool {
	in, ok := g.Stdin.(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return false
	}
	return g.stderrTTY()
}

func (g *globals) stderrTTY() bool {
	f, ok := g.Stderr.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// table renders rows as aligned text columns.
func table(w io.Writer, header []string, rows [][]string) {
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = len(h)
	}
	for _, r := range rows {
		for i, cell := range r {
			if i < len(widths) && len(cell) > widths[i] {
				widths[i] = len(cell)
			}
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		for i, cell := range cells {
			if i == len(cells)-1 {
				b.WriteString(cell)
			} else {
				fmt.Fprintf(&b, "%-*s  ", widths[i], cell)
			}
		}
		fmt.Fprintln(w, redact.String(strings.TrimRight(b.String(), " ")))
	}
	line(header)
	for _, r := range rows {
		line(r)
	}
}
