package pgdump

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/redact"
)

// EnvPgDump names the environment variable that points at the pg_dump
// binary to use when Engine.PgDump is empty.
const EnvPgDump = "THREESCALE_OPS_PG_DUMP"

// EnvImage is set by the image of `make image` (build/image) to
// "minimal": a static binary and CA certificates only, no pg_dump.
const EnvImage = "THREESCALE_OPS_IMAGE"

// hintPgDump says where a matching client comes from; in the minimal
// image it says how to get an image that has one.
func hintPgDump(major int) string {
	if os.Getenv(EnvImage) == "minimal" {
		return fmt.Sprintf("this is the minimal image of `make image`, which has no pg_dump: run zync-postgres backups from the image the Dockerfile builds "+
			"(`docker build -t IMAGE .`: Alpine with the PostgreSQL 17 client), or where the PostgreSQL %d (or newer) client tools are installed, "+
			"or leave zync-postgres out (--components); see docs/operations.md, \"Container images and pg_dump\"", major)
	}
	return fmt.Sprintf("install the PostgreSQL %d (or newer) client tools — the image the Dockerfile builds ships them, the minimal one of `make image` does not; "+
		"on Debian/Ubuntu `apt-get install postgresql-client-%d`, on RHEL `dnf install postgresql%d` — "+
		"or point %s (or --pg-dump) at a pg_dump of major version %d or later", major, major, major, EnvPgDump, major)
}

var pgDumpVersionRE = regexp.MustCompile(`\(PostgreSQL\) (\d+)(?:\.(\d+))?`)

// parsePgDumpVersion reads the major version from `pg_dump --version`.
func parsePgDumpVersion(out string) (int, error) {
	m := pgDumpVersionRE.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("unrecognised `pg_dump --version` output %q", strings.TrimSpace(out))
	}
	return strconv.Atoi(m[1])
}

// pgDumpVersion runs `path --version` and returns its major version.
func pgDumpVersion(ctx context.Context, path string) (int, error) {
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return 0, err
	}
	return parsePgDumpVersion(string(out))
}

// pgDumpCandidates lists where a pg_dump may live: the configured path,
// the per-major-version directories of the Debian and PGDG RPM layouts
// (newest first), then PATH.
func (e *Engine) pgDumpCandidates() []string {
	if e.PgDump != "" {
		return []string{e.PgDump}
	}
	var out []string
	for _, pat := range []string{"/usr/lib/postgresql/*/bin/pg_dump", "/usr/pgsql-*/bin/pg_dump"} {
		m, _ := filepath.Glob(pat)
		for i := len(m) - 1; i >= 0; i-- {
			out = append(out, m[i])
		}
	}
	if p, err := exec.LookPath("pg_dump"); err == nil {
		out = append(out, p)
	}
	return out
}

// findPgDump returns a pg_dump whose major version is at least the
// server's, or an error naming both versions and where to get one. It
// runs before any data is read.
func (e *Engine) findPgDump(ctx context.Context, serverMajor int) (string, error) {
	cands := e.pgDumpCandidates()
	var seen []string
	for _, p := range cands {
		v, err := pgDumpVersion(ctx, p)
		if err != nil {
			seen = append(seen, fmt.Sprintf("%s (%v)", p, err))
			continue
		}
		if v >= serverMajor {
			return p, nil
		}
		seen = append(seen, fmt.Sprintf("%s is version %d", p, v))
	}
	if len(seen) == 0 {
		return "", errs.New(errs.Usage, hintPgDump(serverMajor),
			"zync-postgres: pg_dump not found (the schema of PostgreSQL %d is read with pg_dump %d or later)", serverMajor, serverMajor)
	}
	return "", errs.New(errs.Usage, hintPgDump(serverMajor),
		"zync-postgres: the server is PostgreSQL %d but no pg_dump of version %d or later was found: %s",
		serverMajor, serverMajor, strings.Join(seen, "; "))
}

// pgDumpTarget turns the engine URL into a libpq connection string
// without the password (it goes in PGPASSWORD, never in argv).
func pgDumpTarget(raw string) (conn, password string, err error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", "", errs.New(errs.Usage, "give the zync database as postgresql://user:password@host:port/db",
			"zync-postgres: connection URL is not a postgres:// URL")
	}
	q := u.Query()
	if p, ok := u.User.Password(); ok {
		password = p
		u.User = url.User(u.User.Username())
	}
	if p := q.Get("password"); p != "" {
		password = p
		q.Del("password")
	}
	// Parameters only pgx knows would make libpq refuse the string.
	for k := range q {
		switch k {
		case "sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword", "connect_timeout", "options",
			"target_session_attrs", "gssencmode", "sslcompression", "keepalives", "keepalives_idle", "channel_binding":
		default:
			q.Del(k)
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), password, nil
}

// runPgDump runs pg_dump with args against the source, writing its
// standard output to w. Its error output is kept (bounded) for the error.
func (e *Engine) runPgDump(ctx context.Context, bin string, w io.Writer, args ...string) error {
	conn, pw, err := pgDumpTarget(e.URL)
	if err != nil {
		return err
	}
	tlsEnv, cleanup, err := e.TLS.libpqEnv()
	if err != nil {
		return err
	}
	defer cleanup()
	if e.TLS != nil && e.TLS.Mode != "" {
		conn = withoutSSLMode(conn)
	}
	cmd := exec.CommandContext(ctx, bin, append(args, "--dbname="+conn)...)
	env := append([]string{"PGAPPNAME=" + appDump, "PGCONNECT_TIMEOUT=30"}, tlsEnv...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	if pw != "" {
		env = append(env, "PGPASSWORD="+pw)
	}
	cmd.Env = env
	cmd.Stdout = w
	stderr := &capWriter{max: 8192}
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("zync-postgres: pg_dump: %w", ctx.Err())
		}
		var ee *exec.ExitError
		msg := err.Error()
		if errors.As(err, &ee) {
			msg = strings.TrimSpace(stderr.String())
		}
		return errs.Wrap(errs.Failure, fmt.Errorf("zync-postgres: pg_dump %s: %s", strings.Join(args[:2], " "), redact.String(msg)),
			"the schema could not be read; fix the cause pg_dump names (or leave the object out with --exclude-object) and run the backup again")
	}
	return nil
}

// capWriter keeps the first max bytes written to it.
type capWriter struct {
	buf bytes.Buffer
	max int
}

func (c *capWriter) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (c *capWriter) String() string { return c.buf.String() }
