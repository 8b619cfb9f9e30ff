package mysqldump

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"sort"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
)

// maxStatement bounds one statement read back from a file (the server's
// max_allowed_packet cannot exceed 1 GiB either).
const maxStatement = 1 << 30

func readMeta(src artifact.Source) (*Meta, error) {
	var m Meta
	if err := src.Get(MetaKey, &m); err != nil {
		return nil, errs.Corrupt(fmt.Errorf("system-mysql: snapshot metadata %q: %w", MetaKey, artifact.AsCorrupt(err)),
			"the snapshot has no usable system-mysql dump; run `3scale-ops backups verify` or pick another snapshot")
	}
	if m.Format != metaFormat {
		return nil, errs.New(errs.Usage, "use the 3scale-ops version that wrote the snapshot",
			"system-mysql: dump format %d is not supported (this build reads format %d)", m.Format, metaFormat)
	}
	return &m, nil
}

// checkFiles makes sure every file the metadata lists is in the snapshot
// with the size it had when written, before anything is touched.
func checkFiles(src artifact.Source, m *Meta) error {
	have := map[string]artifact.FileInfo{}
	for _, f := range src.Files() {
		have[f.Name] = f
	}
	check := func(fm FileMeta) error {
		f, ok := have[fm.Name]
		if !ok {
			return errs.Corrupt(fmt.Errorf("system-mysql: file %s is missing from the snapshot: %w", fm.Name, artifact.ErrCorrupt),
				"the snapshot is incomplete; run `3scale-ops backups verify` and restore another snapshot")
		}
		if f.RawSize != fm.Bytes {
			return errs.Corrupt(fmt.Errorf("system-mysql: file %s has %d bytes, the dump wrote %d: %w", fm.Name, f.RawSize, fm.Bytes, artifact.ErrCorrupt),
				"the snapshot is damaged (truncated); run `3scale-ops backups verify` and restore another snapshot")
		}
		return nil
	}
	if err := check(m.PreData); err != nil {
		return err
	}
	if err := check(m.PostData); err != nil {
		return err
	}
	for _, t := range m.Tables {
		if len(t.Files) == 0 {
			return errs.Corrupt(fmt.Errorf("system-mysql: table %s has no data file: %w", t.Name, artifact.ErrCorrupt), "the snapshot metadata is damaged; restore another snapshot")
		}
		var rows int64
		for _, f := range t.Files {
			if err := check(f); err != nil {
				return err
			}
			rows += f.Rows
		}
		if rows != t.Rows {
			return errs.Corrupt(fmt.Errorf("system-mysql: table %s: files hold %d rows, metadata says %d: %w", t.Name, rows, t.Rows, artifact.ErrCorrupt),
				"the snapshot metadata is damaged; restore another snapshot")
		}
	}
	return nil
}

// hashReader counts and checksums what is read through it.
type hashReader struct {
	r   io.Reader
	crc hash.Hash32
	n   int64
}

func newHashReader(r io.Reader) *hashReader { return &hashReader{r: r, crc: crc32.New(castagnoli)} }

func (h *hashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.crc.Write(p[:n])
	h.n += int64(n)
	return n, err
}

func (h *hashReader) verify(fm FileMeta) error {
	if h.n != fm.Bytes || h.crc.Sum32() != fm.CRC32C {
		return fmt.Errorf("file %s: read %d bytes (crc32c %08x), the dump wrote %d (crc32c %08x): %w",
			fm.Name, h.n, h.crc.Sum32(), fm.Bytes, fm.CRC32C, artifact.ErrCorrupt)
	}
	return nil
}

// readAll reads a (small) schema file into statements and verifies it.
func readAll(ctx context.Context, src artifact.Source, fm FileMeta) ([]string, error) {
	rc, err := src.Open(ctx, fm.Name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	hr := newHashReader(rc)
	sr := newStmtReader(hr, maxStatement)
	var out []string
	for {
		st, err := sr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("file %s: %w", fm.Name, err)
		}
		out = append(out, string(st))
	}
	if err := hr.verify(fm); err != nil {
		return nil, err
	}
	return out, nil
}

// stripComments drops leading whitespace and comment lines.
func stripComments(s string) string {
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		if strings.HasPrefix(s, "-- ") || strings.HasPrefix(s, "#") {
			if i := strings.IndexByte(s, '\n'); i >= 0 {
				s = s[i+1:]
				continue
			}
			return ""
		}
		return s
	}
}

// Preflight checks, without changing anything, that the snapshot's files
// are all there with their recorded sizes, that the target server is
// reachable, not older than the source and knows every collation the dump
// uses, that the target database is empty (or DropExisting is set), and
// that the schema files hold only the statements their role allows.
func (e *Engine) Preflight(ctx context.Context, src artifact.Source) error {
	t, err := e.preflight(ctx, src)
	if err != nil {
		return err
	}
	// The schema files are small: their statements are checked here too,
	// before the restore's first step changes anything anywhere.
	_, _, err = e.readSchema(ctx, src, t.meta)
	return err
}

// readSchema reads, verifies and checks both schema files.
func (e *Engine) readSchema(ctx context.Context, src artifact.Source, m *Meta) (pre, post []string, err error) {
	pre, post, what, err := checkedSchema(ctx, src, m)
	if err != nil {
		return nil, nil, e.loadError(err, what, false)
	}
	return pre, post, nil
}

// checkedSchema reads and verifies both schema files and checks their
// statements against the files' roles (allow.go), for a restore and an
// export alike; on error, what names the step that failed.
func checkedSchema(ctx context.Context, src artifact.Source, m *Meta) (pre, post []string, what string, err error) {
	if pre, err = readAll(ctx, src, m.PreData); err != nil {
		return nil, nil, "read the schema", err
	}
	if post, err = readAll(ctx, src, m.PostData); err != nil {
		return nil, nil, "read the post-data schema", err
	}
	if err := checkPreData(m.PreData.Name, pre, m); err != nil {
		return nil, nil, "check the schema", err
	}
	if err := checkPostData(m.PostData.Name, post, m); err != nil {
		return nil, nil, "check the post-data schema", err
	}
	return pre, post, "", nil
}

type target struct {
	meta     *Meta
	flavor   string // the target server's: "mariadb" or "mysql"
	exists   bool
	existing []string // "table x", "view v", "procedure p"
}

func (e *Engine) preflight(ctx context.Context, src artifact.Source) (*target, error) {
	m, err := readMeta(src)
	if err != nil {
		return nil, err
	}
	if err := checkFiles(src, m); err != nil {
		return nil, err
	}
	cfg := e.cfg.Clone()
	cfg.DBName = ""
	srv := &Engine{opts: e.opts, cfg: cfg}
	db, err := srv.open()
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var version string
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		return nil, e.wrap(err, "connect to the restore target")
	}
	if err := compatible(m.Version, version); err != nil {
		return nil, err
	}
	if len(m.Collations) > 0 {
		have := map[string]bool{}
		rows, err := db.QueryContext(ctx, "SELECT COLLATION_NAME FROM information_schema.COLLATIONS")
		if err != nil {
			return nil, e.wrap(err, "list collations")
		}
		for rows.Next() {
			var c string
			if rows.Scan(&c) == nil {
				have[c] = true
			}
		}
		rows.Close()
		var missing []string
		for _, c := range m.Collations {
			if !have[c] {
				missing = append(missing, c)
			}
		}
		if len(missing) > 0 {
			return nil, errs.New(errs.Failure, "restore into a server version that has these collations (the source ran "+m.Version+")",
				"system-mysql: the target server (%s) lacks collations the dump uses: %s", version, strings.Join(missing, ", "))
		}
	}
	t := &target{meta: m}
	t.flavor, _ = parseVersion(version)
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", e.cfg.DBName).Scan(&n); err != nil {
		return nil, e.wrap(err, "look up the target database")
	}
	t.exists = n > 0
	if t.exists {
		q := `SELECT CONCAT(CASE TABLE_TYPE WHEN 'VIEW' THEN 'view ' WHEN 'SEQUENCE' THEN 'sequence ' ELSE 'table ' END, TABLE_NAME)
			FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?
			UNION ALL SELECT CONCAT(LOWER(ROUTINE_TYPE), ' ', ROUTINE_NAME) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?
			UNION ALL SELECT CONCAT('event ', EVENT_NAME) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?`
		rows, err := db.QueryContext(ctx, q, e.cfg.DBName, e.cfg.DBName, e.cfg.DBName)
		if err != nil {
			return nil, e.wrap(err, "list the target database's objects")
		}
		for rows.Next() {
			var s string
			if rows.Scan(&s) == nil {
				t.existing = append(t.existing, s)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, e.wrap(err, "list the target database's objects")
		}
		sort.Strings(t.existing)
	}
	if len(t.existing) > 0 && !e.opts.DropExisting {
		shown := t.existing
		more := ""
		if len(shown) > 10 {
			more = fmt.Sprintf(" and %d more", len(shown)-10)
			shown = shown[:10]
		}
		return nil, errs.New(errs.Usage, "restore into an empty database, or rerun with --drop-existing to drop them (their data is lost)",
			"system-mysql: target database %s on %s is not empty: %s%s", e.cfg.DBName, e.cfg.Addr, strings.Join(shown, ", "), more)
	}
	return t, nil
}

// compatible refuses a target whose major version is older than the
// source's (MariaDB 10.6 → 10.5, MySQL 8.0 → 5.7).
func compatible(source, target string) error {
	sf, sv := parseVersion(source)
	tf, tv := parseVersion(target)
	if sf != tf {
		return nil // cross-flavor: the collation check decides
	}
	major := func(v [3]int) int {
		if sf == "mysql" && v[0] >= 8 {
			return v[0] * 100
		}
		return v[0]*100 + v[1]
	}
	if major(tv) < major(sv) {
		return errs.New(errs.Failure, "restore into a server at least as new as the source",
			"system-mysql: the target server (%s) is older than the one the dump was taken from (%s)", target, source)
	}
	return nil
}

// Restore loads the dump: tables (without secondary indexes), data files
// in parallel (each file in one transaction, verified before commit),
// the deferred indexes, then routines, views and triggers; it finally
// compares every table's row count with the dump's.
func (e *Engine) restoreData(ctx context.Context, src artifact.Source, task *progress.Task) error {
	task.SetPhase("preflight")
	t, err := e.preflight(ctx, src)
	if err != nil {
		return err
	}
	m := t.meta
	// Read, verify and check both schema files before touching anything.
	pre, post, err := e.readSchema(ctx, src, m)
	if err != nil {
		return err
	}
	var total, rows int64
	for _, tm := range m.Tables {
		rows += tm.Rows
		for _, f := range tm.Files {
			total += f.Bytes
		}
	}
	task.SetTotal(total, rows)

	if err := e.prepareTarget(ctx, t); err != nil {
		return err
	}
	db, err := e.open()
	if err != nil {
		return err
	}
	defer db.Close()
	history := false
	for _, tm := range m.Tables {
		history = history || tm.Versioned
	}
	conns, err := e.loadConns(ctx, db, t.flavor, history)
	if err != nil {
		return err
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()

	task.SetPhase("schema")
	alters := map[string]string{}
	for _, st := range pre {
		st = stripComments(st)
		if strings.HasPrefix(st, "CREATE TABLE ") && !e.opts.KeepIndexes {
			name := createTableName(st)
			var alter string
			st, alter = deferIndexes(st)
			if alter != "" {
				alters[name] = alter
			}
		}
		if _, err := conns[0].ExecContext(ctx, st); err != nil {
			return e.loadError(err, "create tables", true)
		}
	}

	task.SetPhase("data")
	if err := e.loadData(ctx, conns, src, m, alters, task); err != nil {
		return err
	}

	task.SetPhase("post-data")
	defs, k := newDefiners(ctx, conns[0]), 0
	for _, st := range post {
		// Only the statement's own header changes; leading comments and
		// the body stay byte for byte.
		if body := stripComments(st); strings.HasPrefix(body, "CREATE ") {
			i := len(st) - len(body)
			if k < len(m.Definers) && defs.keep(m.Definers[k]) {
				st = st[:i] + withDefiner(st[i:], m.Definers[k])
			}
			k++
		}
		if _, err := conns[0].ExecContext(ctx, st); err != nil {
			return e.loadError(fmt.Errorf("%s: %w", firstLine(st), err), "create routines, views and triggers", true)
		}
	}
	task.SetPhase("verify")
	if err := e.compareCounts(ctx, conns, m); err != nil {
		return err
	}
	task.SetPhase("done")
	task.Done()
	return nil
}

func firstLine(s string) string {
	s = stripComments(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

func createTableName(st string) string {
	line := st
	if i := strings.IndexByte(st, '\n'); i >= 0 {
		line = st[:i]
	}
	line = strings.TrimSuffix(strings.TrimPrefix(line, "CREATE TABLE "), " (")
	return strings.ReplaceAll(strings.Trim(line, "`"), "``", "`")
}

func (e *Engine) loadError(err error, what string, touched bool) error {
	if errs.Canceled(err) {
		return err
	}
	hint := "nothing was changed; run `3scale-ops backups verify` and restore another snapshot"
	if touched {
		hint = "the target database is partly loaded; fix the cause and rerun the restore with --drop-existing"
	}
	code := errs.Failure
	if errors.Is(err, artifact.ErrCorrupt) || errors.Is(err, ErrTruncated) {
		code = errs.Mismatch // damaged content: exit 3 in every engine
	}
	return errs.Wrap(code, fmt.Errorf("system-mysql %s/%s: %s: %w", e.cfg.Addr, e.cfg.DBName, what, err), hint)
}

// Restore restores the artifact and reports what it wrote (the counts its
// progress task kept).
func (e *Engine) Restore(ctx context.Context, src artifact.Source, task *progress.Task) (artifact.Result, error) {
	if task == nil {
		task = progress.NewTask(e.Name())
	}
	if err := e.restoreData(ctx, src, task); err != nil {
		return artifact.Result{}, err
	}
	st := task.Stats()
	return artifact.Result{Items: st.Items, Bytes: st.Bytes, Summary: fmt.Sprintf("%d rows, %d bytes", st.Items, st.Bytes)}, nil
}
