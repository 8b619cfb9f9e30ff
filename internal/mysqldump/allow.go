package mysqldump

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
)

// The restore runs a snapshot's SQL as the restoring user, so every
// statement is checked against what its file's role allows before it is
// sent: a data file holds its session settings and INSERTs of literal
// values into its own table, nothing else; a schema file holds session
// settings and the CREATE statements of the objects its metadata lists.
// A statement planted in a file (CREATE DATABASE, SELECT … INTO OUTFILE,
// GRANT, an INSERT … SELECT reading another table) is refused as damaged
// content (exit 3) and never reaches the server. The schema files are
// checked before anything is changed; a data file's statements as they are
// loaded, each before it is sent.

// sessionSet matches the session settings post-data holds: its header and
// each object's own character set, collation, sql_mode and time zone.
var sessionSet = regexp.MustCompile(`^(?:SET NAMES utf8mb4|SET time_zone='\+00:00'|SET sql_mode='[A-Z_,]*'|` +
	`SET foreign_key_checks=0|SET unique_checks=0|/\*M!101100 SET SESSION system_versioning_insert_history=1 \*/|` +
	`SET SESSION (?:character_set_client|collation_connection|sql_mode|time_zone) = '[A-Za-z0-9_,:+\-/ ]*')$`)

// postDataCreate matches the start of the CREATE statements post-data
// holds (SHOW CREATE output with the DEFINER taken out) and captures the
// object's kind.
var postDataCreate = regexp.MustCompile(`^CREATE (?:OR REPLACE )?(?:ALGORITHM=[A-Z]+ )?(?:SQL SECURITY [A-Z]+ )?(?:DEFINER=\S+ )?(PROCEDURE|FUNCTION|AGGREGATE FUNCTION|VIEW|TRIGGER|EVENT|PACKAGE BODY|PACKAGE) `)

// forged returns the error a statement outside its file's role gets.
func forged(file, what, st string) error {
	return fmt.Errorf("file %s holds a statement a system-mysql dump does not write (%s): %s: %w", file, what, firstLine(st), artifact.ErrCorrupt)
}

// checkPreData allows pre-data's session settings, CREATE TABLE of the
// snapshot's tables and CREATE SEQUENCE / DO SETVAL of its sequences.
func checkPreData(file string, stmts []string, m *Meta) error {
	tables := map[string]bool{}
	for _, t := range m.Tables {
		tables[t.Name] = true
	}
	seqs := map[string]bool{}
	for _, s := range m.Sequences {
		seqs[s] = true
	}
	for _, raw := range stmts {
		st := stripComments(raw)
		switch {
		case st == "" || dataHeader[st]: // its session is also a data load's
		case strings.HasPrefix(st, "CREATE TABLE "):
			if n := createTableName(st); !tables[n] {
				return forged(file, "a table the snapshot's metadata does not list", raw)
			}
		case strings.HasPrefix(st, "CREATE SEQUENCE "):
			if n := leadingIdent(strings.TrimPrefix(st, "CREATE SEQUENCE ")); !seqs[n] {
				return forged(file, "a sequence the snapshot's metadata does not list", raw)
			}
		case strings.HasPrefix(st, "DO SETVAL("):
			rest := strings.TrimPrefix(st, "DO SETVAL(")
			n := leadingIdent(rest)
			if !seqs[n] || !setvalArgs.MatchString(rest[len(quoteIdent(n)):]) {
				return forged(file, "a SETVAL of something else than a sequence of the snapshot", raw)
			}
		default:
			return forged(file, "not a table or sequence definition", raw)
		}
	}
	return nil
}

var setvalArgs = regexp.MustCompile(`^, -?[0-9]+, 0\)$`)

// checkPostData allows post-data's session settings and one CREATE of a
// routine, view, trigger or event for each the snapshot's metadata lists.
func checkPostData(file string, stmts []string, m *Meta) error {
	want := len(m.Routines) + len(m.Views) + len(m.Triggers) + len(m.Events)
	n := 0
	for _, raw := range stmts {
		st := stripComments(raw)
		switch {
		case st == "" || sessionSet.MatchString(st):
		case postDataCreate.MatchString(st):
			n++
		default:
			return forged(file, "not a routine, view, trigger or event definition", raw)
		}
	}
	if n != want {
		return fmt.Errorf("file %s holds %d routine, view, trigger and event definitions, the snapshot's metadata lists %d: %w", file, n, want, artifact.ErrCorrupt)
	}
	return nil
}

// leadingIdent returns the backquoted identifier s starts with, unquoted
// ("" if s does not start with one).
func leadingIdent(s string) string {
	n := identEnd(s)
	if n < 0 {
		return ""
	}
	return unquoteName(s[:n])
}

// identEnd returns the length of the backquoted identifier s starts with
// (a doubled backquote stands for one), or -1 when s does not start with
// a complete one.
func identEnd(s string) int {
	if !strings.HasPrefix(s, "`") {
		return -1
	}
	for i := 1; i < len(s); i++ {
		if s[i] != '`' {
			continue
		}
		if i+1 < len(s) && s[i+1] == '`' {
			i++
			continue
		}
		return i + 1
	}
	return -1
}

// dataHeader are the statements of sessionHeader, the only settings a
// data file may make: another sql_mode (NO_BACKSLASH_ESCAPES, ANSI_QUOTES)
// or character set would make the server read the values otherwise than
// this check does.
var dataHeader = func() map[string]bool {
	m := map[string]bool{}
	for _, st := range strings.Split(sessionHeader, ";\n") {
		if st != "" {
			m[st] = true
		}
	}
	return m
}()

// dataChecker checks one data file's statements: session settings, and
// "INSERT INTO `table` (`col`,…) VALUES (literal,…),…" with only the
// literals the dump writes (NULL, numbers, quoted strings, 0x hex).
type dataChecker struct {
	file   string
	prefix string // "INSERT INTO `table` ("
}

func newDataChecker(file, table string) *dataChecker {
	return &dataChecker{file: file, prefix: "INSERT INTO " + quoteIdent(table) + " ("}
}

func (d *dataChecker) check(st string) error {
	body := stripComments(st)
	if !strings.HasPrefix(body, d.prefix) {
		if dataHeader[body] {
			return nil
		}
		return forged(d.file, "not an INSERT into the file's own table", withoutValues(body))
	}
	if what := insertBody(body[len(d.prefix):]); what != "" {
		return forged(d.file, what, withoutValues(body))
	}
	return nil
}

// withoutValues cuts an INSERT before its values: they may be a
// database's rows (tokens, keys), which an error must not show.
func withoutValues(st string) string {
	if i := strings.Index(st, ") VALUES "); i >= 0 {
		return st[:i] + ") VALUES …"
	}
	return st
}

// insertBody checks what follows "INSERT INTO `t` (": backquoted column
// names, ") VALUES ", then tuples of literals. It returns what is wrong,
// or "".
func insertBody(b string) string {
	for {
		n := identEnd(b)
		if n < 0 {
			return "a column list of other than names"
		}
		b = b[n:]
		if len(b) > 0 && b[0] == ',' {
			b = b[1:]
			continue
		}
		break
	}
	const values = ") VALUES "
	if !strings.HasPrefix(b, values) {
		return "no VALUES list after the columns"
	}
	b = b[len(values):]
	for {
		if len(b) == 0 || b[0] != '(' {
			return "a VALUES list of other than tuples"
		}
		b = b[1:]
		for {
			var ok bool
			if b, ok = literal(b); !ok {
				return "a value that is not a literal"
			}
			if len(b) > 0 && b[0] == ',' {
				b = b[1:]
				continue
			}
			break
		}
		if len(b) == 0 || b[0] != ')' {
			return "a tuple that does not end after its values"
		}
		b = b[1:]
		if len(b) > 0 && b[0] == ',' {
			b = b[1:]
			continue
		}
		if strings.TrimRight(b, " \t\r\n") != "" {
			return "something after the VALUES list"
		}
		return ""
	}
}

// literal consumes one literal the dump writes and returns the rest.
func literal(b string) (string, bool) {
	switch {
	case len(b) == 0:
		return b, false
	case strings.HasPrefix(b, "NULL"):
		return b[4:], true
	case b[0] == '\'':
		for i := 1; i < len(b); {
			j := strings.IndexAny(b[i:], `'\`)
			if j < 0 {
				return b, false
			}
			i += j
			if b[i] == '\\' {
				i += 2
				continue
			}
			if i+1 < len(b) && b[i+1] == '\'' {
				i += 2
				continue
			}
			return b[i+1:], true
		}
		return b, false
	case strings.HasPrefix(b, "0x"):
		i := 2
		for i < len(b) && isHex(b[i]) {
			i++
		}
		return b[i:], i > 2
	default: // a number as the server printed it: -12, 3.50, 1.5e-07
		i := 0
		for i < len(b) && isNumberByte(b[i]) {
			i++
		}
		return b[i:], i > 0 && b[0] != 'e' && b[0] != 'E'
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' || c >= 'a' && c <= 'f'
}

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}
