package pgdump

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
)

// The schema files of a snapshot are SQL that the restore runs and the
// export hands to psql. Before either, every statement in them is split
// out as PostgreSQL's lexer splits it (quotes, E'' escapes, dollar
// quoting, nested comments) and checked against the kinds of statement
// pg_dump writes into that section: schema objects in pre-data, indexes,
// keys, triggers and rules in post-data, GRANT/REVOKE in ACL entries,
// setval in the sequences file, and the session settings pg_dump writes
// everywhere. A statement of any other kind (COPY … TO PROGRAM, DO, DROP,
// ALTER ROLE or SYSTEM, a bare SELECT, a psql meta-command) refuses the
// snapshot before anything is changed, as does a form of an allowed kind
// that runs a query as it is created (pgDumpForm). Expressions and
// function bodies are not read: a CHECK, a column default, a function or
// a materialized view's query a snapshot defines runs with the restoring
// user's rights when the load evaluates it, as in pg_restore; an
// authenticated (encrypted) repository is what keeps a forged one out.

// errStatement is a statement of a kind its file may not hold.
var errStatement = errors.New("statement not allowed here")

// sqlRole is the part of a snapshot a statement comes from.
type sqlRole int

const (
	roleSession sqlRole = iota // a section's prelude: settings only
	rolePreData
	rolePostData
	roleACL
	roleSequences
)

// allowed lists, per role, the leading words of the statements pg_dump
// writes there (upper case, single spaces).
var allowed = map[sqlRole][]string{
	rolePreData: {
		"CREATE TABLE", "CREATE UNLOGGED TABLE", "CREATE SEQUENCE", "CREATE SCHEMA",
		"CREATE EXTENSION IF NOT EXISTS", "CREATE FUNCTION", "CREATE PROCEDURE", "CREATE AGGREGATE",
		"CREATE TYPE", "CREATE DOMAIN", "CREATE VIEW", "CREATE MATERIALIZED VIEW", "CREATE COLLATION",
		"CREATE CAST", "CREATE OPERATOR", "CREATE TEXT SEARCH", "CREATE CONVERSION", "CREATE STATISTICS",
		"CREATE FOREIGN TABLE", "CREATE DEFAULT CONVERSION", "CREATE OR REPLACE VIEW",
		"ALTER TABLE", "ALTER SEQUENCE", "ALTER TYPE", "ALTER DOMAIN", "ALTER FUNCTION", "ALTER VIEW",
		"ALTER MATERIALIZED VIEW", "ALTER AGGREGATE", "ALTER PROCEDURE", "ALTER OPERATOR", "ALTER SCHEMA",
		"ALTER COLLATION", "ALTER TEXT SEARCH", "ALTER STATISTICS", "ALTER FOREIGN TABLE",
		"COMMENT ON",
	},
	rolePostData: {
		"CREATE INDEX", "CREATE UNIQUE INDEX", "ALTER TABLE", "ALTER INDEX", "CREATE TRIGGER",
		"CREATE CONSTRAINT TRIGGER", "CREATE RULE", "CREATE POLICY", "ALTER POLICY",
		"REFRESH MATERIALIZED VIEW", "COMMENT ON", "CREATE STATISTICS", "ALTER STATISTICS",
		"CREATE OR REPLACE VIEW", "CREATE EVENT TRIGGER", "ALTER EVENT TRIGGER", "CREATE PUBLICATION",
		"ALTER PUBLICATION",
	},
	roleACL:       {"GRANT", "REVOKE", "ALTER DEFAULT PRIVILEGES"},
	roleSequences: {"REFRESH MATERIALIZED VIEW", "COMMENT ON LARGE OBJECT"},
}

// setvalStatement is the sequences file's `SELECT pg_catalog.setval('seq',
// N, true|false);`, nothing else in the SELECT.
var setvalStatement = regexp.MustCompile(`^SELECT pg_catalog\.setval\('(?:[^']|'')*', -?[0-9]+, (?:true|false)\);$`)

// refusedAlter are never allowed in an ALTER, in any case, outside
// quotes: pg_dump --no-owner never hands a table to another role, moves
// it to another schema or renames it.
var refusedAlter = []string{" OWNER TO ", " SET SCHEMA ", " RENAME "}

// sessionSettings are the settings pg_dump writes (`SET name = value;`),
// each with the values it may have: nil is any single value (a word, a
// number or a quoted string). Anything else (role, session_authorization,
// session_replication_role, search_path as a SET) is not pg_dump's.
var sessionSettings = map[string][]string{
	"statement_timeout": nil, "lock_timeout": nil, "idle_in_transaction_session_timeout": nil,
	"transaction_timeout": nil, "client_min_messages": nil, "xmloption": nil,
	"default_tablespace": nil, "default_table_access_method": nil,
	"standard_conforming_strings": {"on"}, // the split reads strings as the server does only then
	"check_function_bodies":       {"false"},
	"row_security":                {"off"},
	"default_with_oids":           {"false"},
	"client_encoding":             serverEncodings, // not a client-only one (SJIS, BIG5, …): see below
}

// serverEncodings are PostgreSQL's server encodings, as pg_dump names
// them. In each, a byte below 0x80 is always that ASCII character, so a
// quote or backslash is what it looks like; in the client-only encodings
// (SJIS, BIG5, GBK, UHC, GB18030, JOHAB, SHIFT_JIS_2004) it may be the
// second byte of a character, and the server would end a string where
// the split does not.
var serverEncodings = func() []string {
	var out []string
	for _, e := range strings.Fields(`SQL_ASCII EUC_JP EUC_CN EUC_KR EUC_TW EUC_JIS_2004 UTF8 MULE_INTERNAL
		LATIN1 LATIN2 LATIN3 LATIN4 LATIN5 LATIN6 LATIN7 LATIN8 LATIN9 LATIN10 WIN1256 WIN1258 WIN866
		WIN874 KOI8R WIN1251 WIN1252 ISO_8859_5 ISO_8859_6 ISO_8859_7 ISO_8859_8 WIN1250 WIN1253 WIN1254
		WIN1255 WIN1257 KOI8U`) {
		out = append(out, "'"+e+"'")
	}
	return out
}()

var (
	setStatement = regexp.MustCompile(`^SET ([a-z_]+) = ('(?:[^']|'')*'|[A-Za-z0-9_.-]+);$`)
	// setSearchPath is the one set_config pg_dump writes, whole.
	setSearchPath = regexp.MustCompile(`^SELECT pg_catalog\.set_config\('search_path', '(?:[^']|'')*', false\);$`)
)

// sessionStatement reports pg_dump's session settings: `SET name =
// value;` of sessionSettings, and its `SELECT
// pg_catalog.set_config('search_path', '…', false);`, each whole.
func sessionStatement(s string) bool {
	if setSearchPath.MatchString(s) {
		return true
	}
	m := setStatement.FindStringSubmatch(s)
	if m == nil {
		return false
	}
	values, ok := sessionSettings[m[1]]
	if !ok {
		return false
	}
	if values == nil {
		return true
	}
	for _, v := range values {
		if m[2] == v {
			return true
		}
	}
	return false
}

// checkStatement checks one statement (comments removed, white space
// collapsed) against its role; skel is the statement in upper case with
// the contents of its quotes left out.
func checkStatement(s, skel string, role sqlRole) error {
	if sessionStatement(s) || role == roleSequences && setvalStatement.MatchString(s) {
		return nil
	}
	for _, p := range allowed[role] {
		if strings.HasPrefix(s, p) && (len(s) == len(p) || s[len(p)] == ' ' || s[len(p)] == ';' || s[len(p)] == '(') {
			if !pgDumpForm(p, skel) {
				return errStatement
			}
			return nil
		}
	}
	return errStatement
}

// pgDumpForm reports whether a statement of an allowed kind (its leading
// words p) has the form pg_dump writes: the same words also start forms
// that run a query as they are created (CREATE TABLE … AS SELECT, a
// materialized view WITH DATA, CREATE SCHEMA holding GRANT and other
// statements, ALTER … TYPE … USING an expression), which pg_dump never
// writes.
func pgDumpForm(p, skel string) bool {
	top := topLevel(skel)
	switch p {
	case "CREATE TABLE", "CREATE UNLOGGED TABLE":
		return !strings.Contains(top, " AS ") && !strings.Contains(top, " EXECUTE ")
	case "CREATE MATERIALIZED VIEW":
		return strings.HasSuffix(skel, " WITH NO DATA;")
	case "CREATE SCHEMA":
		return len(strings.Fields(top)) == 3 && strings.HasSuffix(top, ";")
	case "GRANT", "REVOKE":
		// pg_dump grants privileges ON objects, never a role's membership.
		return strings.Contains(top, " ON ")
	case "ALTER DEFAULT PRIVILEGES":
		return strings.Contains(top, " ON ") && !strings.Contains(top, " USING ")
	case "ALTER OPERATOR":
		// ALTER OPERATOR FAMILY|CLASS name USING method: the method.
		return !refusedInAlter(skel)
	}
	if strings.HasPrefix(p, "ALTER ") {
		if refusedInAlter(skel) {
			return false
		}
		// USING only in EXCLUDE USING method and REPLICA IDENTITY USING
		// INDEX.
		for rest := top; ; {
			i := strings.Index(rest, " USING ")
			if i < 0 {
				break
			}
			if !strings.HasSuffix(rest[:i], " EXCLUDE") && !strings.HasSuffix(rest[:i], " REPLICA IDENTITY") {
				return false
			}
			rest = rest[i+len(" USING"):]
		}
	}
	return true
}

func refusedInAlter(skel string) bool {
	for _, w := range refusedAlter {
		if strings.Contains(skel, w) {
			return true
		}
	}
	return false
}

// topLevel is skel without what its parentheses hold (quotes are empty
// in a skeleton, so every parenthesis in it is the statement's own).
func topLevel(skel string) string {
	var b strings.Builder
	depth := 0
	for i := 0; i < len(skel); i++ {
		switch c := skel[i]; {
		case c == '(':
			if depth == 0 {
				b.WriteString("()")
			}
			depth++
		case c == ')':
			if depth > 0 {
				depth--
			}
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// checkSQL splits sql into statements as PostgreSQL does and checks each
// against role. The error names the first refused statement by its
// skeleton, cut short: a literal in it (a user mapping's password) never
// reaches a log.
func checkSQL(sql string, role sqlRole) error {
	return splitStatements(sql, func(stmt, skel string) error {
		if err := checkStatement(stmt, skel, role); err != nil {
			return fmt.Errorf("%w: %s", err, quoteSkeleton(skel))
		}
		return nil
	})
}

// quoteSkeleton is a statement's skeleton for a message: quoted, at most
// 120 bytes.
func quoteSkeleton(skel string) string {
	if len(skel) > 120 {
		skel = skel[:120] + "…"
	}
	return fmt.Sprintf("%q", skel)
}

// splitStatements calls fn with each statement of sql: its text without
// comments, runs of white space outside quotes as one space, trimmed,
// ending in ";" where the text has one; and its skeleton, the same in
// upper case with the text inside each quote left out. It refuses a psql
// meta-command (a backslash outside quotes) and a quote, dollar quote or
// comment left open.
func splitStatements(sql string, fn func(stmt, skel string) error) error {
	var b, k strings.Builder
	space := false
	emit := func() error {
		s, sk := strings.TrimSpace(b.String()), skeleton(k.String())
		b.Reset()
		k.Reset()
		space = false
		if s == "" || s == ";" {
			return nil
		}
		return fn(s, sk)
	}
	// put adds s; a quote's skeleton is its delimiters only.
	put := func(s, skel string) {
		if space && b.Len() > 0 {
			b.WriteByte(' ')
			k.WriteByte(' ')
		}
		space = false
		b.WriteString(s)
		k.WriteString(skel)
	}
	word := func(s string) { put(s, strings.ToUpper(s)) }
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case sqlSpace(c):
			space = true
			i++
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			i = commentEnd(sql, i)
			space = true
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			depth := 0
			for {
				if i+1 >= len(sql) {
					return errors.New("a comment is not closed")
				}
				if sql[i] == '/' && sql[i+1] == '*' {
					depth++
					i += 2
				} else if sql[i] == '*' && sql[i+1] == '/' {
					depth--
					i += 2
					if depth == 0 {
						break
					}
				} else {
					i++
				}
			}
			space = true
		case c == '\'':
			// A plain, B'', X'', N'' or U&'' string: no backslash escapes
			// (standard_conforming_strings is on: sessionStatement). An
			// E'' string is read where its E is (the word case).
			j, ok := quotedString(sql, i, false)
			if !ok {
				return errors.New("a quoted string is not closed")
			}
			put(sql[i:j], " '' ")
			i = j
		case c == '"':
			j, ok := closingQuote(sql, i, '"', false)
			if !ok {
				return errors.New("a quoted identifier is not closed")
			}
			put(sql[i:j+1], ` "" `)
			i = j + 1
		case c == '$': // after a number; in an identifier the word takes it
			tag, ok := dollarTag(sql[i:])
			if !ok { // a parameter ($1) or a lone $
				word("$")
				i++
				continue
			}
			end := strings.Index(sql[i+len(tag):], tag)
			if end < 0 {
				return errors.New("a dollar-quoted string is not closed")
			}
			j := i + len(tag) + end + len(tag)
			put(sql[i:j], " $$ ")
			i = j
		case c == '\\':
			return errors.New(`a psql meta-command (\…) is not SQL pg_dump writes`)
		case c == ';':
			word(";")
			i++
			if err := emit(); err != nil {
				return err
			}
		case wordByte(c):
			// An identifier or keyword may hold $ (not a number: 1$a$
			// is 1 and a dollar quote).
			ident := c < '0' || c > '9'
			j := i
			for j < len(sql) && (wordByte(sql[j]) || ident && sql[j] == '$') {
				j++
			}
			if (sql[i:j] == "E" || sql[i:j] == "e") && j < len(sql) && sql[j] == '\'' {
				// E'…': backslash escapes, as the server's lexer reads
				// one only when the whole word before the quote is E.
				end, ok := quotedString(sql, j, true)
				if !ok {
					return errors.New("a quoted string is not closed")
				}
				put(sql[i:end], " '' ")
				i = end
				continue
			}
			word(sql[i:j])
			i = j
		case c == '(' || c == ')':
			put(string(c), " "+string(c)+" ")
			i++
		default:
			word(sql[i : i+1])
			i++
		}
	}
	if s := strings.TrimSpace(b.String()); s != "" && !strings.HasSuffix(s, ";") {
		// pg_dump ends every statement; one left open would be joined
		// with whatever the restore runs after it.
		return fmt.Errorf("a statement is not ended by ;: %s", quoteSkeleton(skeleton(k.String())))
	}
	return emit()
}

// skeleton is the skeleton's words one space apart, a quote or
// parenthesis a word of its own (the server needs no space around one).
func skeleton(k string) string {
	return strings.ReplaceAll(strings.Join(strings.Fields(k), " "), " ;", ";")
}

// sqlSpace is white space to the server's lexer (\v since PostgreSQL 16).
func sqlSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// commentEnd returns the end of the -- comment at sql[i]: its newline,
// \n or \r.
func commentEnd(sql string, i int) int {
	for i < len(sql) && sql[i] != '\n' && sql[i] != '\r' {
		i++
	}
	return i
}

// quotedString returns the end of the string whose quote is at sql[i],
// with esc backslash escapes, taking in its continuations: a quote after
// white space that holds a newline (and comments after that newline)
// goes on with the same string, as in the server's lexer.
func quotedString(sql string, i int, esc bool) (int, bool) {
	for {
		j, ok := closingQuote(sql, i, '\'', esc)
		if !ok {
			return 0, false
		}
		k, newline := j+1, false
	gap:
		for k < len(sql) {
			switch {
			case sql[k] == '\n' || sql[k] == '\r':
				newline = true
				k++
			case sqlSpace(sql[k]):
				k++
			case newline && sql[k] == '-' && k+1 < len(sql) && sql[k+1] == '-':
				k = commentEnd(sql, k)
			default:
				break gap
			}
		}
		if !newline || k >= len(sql) || sql[k] != '\'' {
			return j + 1, true
		}
		i = k
	}
}

// closingQuote returns the index of the quote q that closes the one at
// sql[i]: a doubled q is one q of the text, and with esc a backslash
// escapes the byte after it.
func closingQuote(sql string, i int, q byte, esc bool) (int, bool) {
	for j := i + 1; j < len(sql); j++ {
		switch {
		case esc && sql[j] == '\\':
			j++
		case sql[j] == q && j+1 < len(sql) && sql[j+1] == q:
			j++
		case sql[j] == q:
			return j, true
		}
	}
	return 0, false
}

// wordByte is a byte of an identifier or keyword (not its first: digits).
func wordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// dollarTag returns the $tag$ s starts with, as the server's lexer reads
// one: `$$`, or `$` an identifier not starting with a digit and `$`.
func dollarTag(s string) (string, bool) {
	for j := 1; j < len(s); j++ {
		c := s[j]
		if c == '$' {
			return s[:j+1], true
		}
		if !(wordByte(c) && !(j == 1 && c >= '0' && c <= '9')) {
			return "", false
		}
	}
	return "", false
}

const hintForged = "restore another snapshot, and find out who could write to the repository: pg_dump writes no such statement (an encrypted repository is authenticated and refuses changed snapshots)"

// schemaErr is a refused schema statement: the snapshot is damaged or
// forged (exit 3).
func schemaErr(file, where string, err error) error {
	return errs.Corrupt(fmt.Errorf("zync-postgres: %w: %w", &refusedStatement{file, where, err}, artifact.ErrCorrupt), hintForged)
}

// refusedStatement names the file, the place in it and the statement.
type refusedStatement struct {
	file, where string
	err         error
}

func (r *refusedStatement) Error() string { return r.file + ", " + r.where + ": " + r.err.Error() }

// checkSection checks a pg_dump section: its prelude holds only
// settings, each entry what its role allows (an ACL entry GRANT and
// REVOKE, even when grants are not applied: its settings still are).
func checkSection(file string, s *section, role sqlRole) error {
	if err := checkSQL(s.Prelude, roleSession); err != nil {
		return schemaErr(file, "before its first entry", err)
	}
	for _, en := range s.Entries {
		r := role
		if isACL(en) {
			r = roleACL
		}
		if err := checkSQL(en.SQL, r); err != nil {
			return schemaErr(file, fmt.Sprintf("entry %s %s", en.Type, en.Name), err)
		}
	}
	return nil
}

// checkFile checks a whole schema file against one role.
func checkFile(file string, sql []byte, role sqlRole) error {
	if err := checkSQL(string(sql), role); err != nil {
		return schemaErr(file, "statement", err)
	}
	return nil
}

// schema is a snapshot's three schema files as read, parsed once and
// checked: format 2 and later as pg_dump's sections, format 1's
// post-data as its marked steps.
type schema struct {
	pre, post, seqs []byte
	preSec, postSec *section
	prelude         string
	steps           []step
}

// parseSchema parses the three schema files and checks every statement
// of them, before a restore or an export uses any.
func parseSchema(m *Meta, pre, post, seqs []byte) (*schema, error) {
	s := &schema{pre: pre, post: post, seqs: seqs}
	if err := checkFile(FileSequences, seqs, roleSequences); err != nil {
		return nil, err
	}
	var err error
	if m.Format >= 2 {
		if s.preSec, err = checkedSection(FilePreData, pre, rolePreData); err != nil {
			return nil, err
		}
		if s.postSec, err = checkedSection(FilePostData, post, rolePostData); err != nil {
			return nil, err
		}
		return s, nil
	}
	if err := checkFile(FilePreData, pre, rolePreData); err != nil {
		return nil, err
	}
	if s.prelude, s.steps, err = parsePostData(bytes.NewReader(post)); err != nil {
		return nil, parseErr(FilePostData, err)
	}
	if err := checkSQL(s.prelude, roleSession); err != nil {
		return nil, schemaErr(FilePostData, "before its first step", err)
	}
	for _, st := range s.steps {
		if err := checkSQL(st.SQL, rolePostData); err != nil {
			return nil, schemaErr(FilePostData, "step "+st.Kind, err)
		}
	}
	return s, nil
}

// checkedSection parses a pg_dump section file and checks it.
func checkedSection(file string, sql []byte, role sqlRole) (*section, error) {
	sec, err := parseSection(bytes.NewReader(sql))
	if err != nil {
		return nil, parseErr(file, err)
	}
	if err := checkSection(file, sec, role); err != nil {
		return nil, err
	}
	return sec, nil
}

// parseErr is a schema file that does not parse: damaged (exit 3).
func parseErr(file string, err error) error {
	return errs.Corrupt(fmt.Errorf("zync-postgres: %s: %w", file, artifact.AsCorrupt(err)), hintRedo)
}
