package pgdump

import (
	"bufio"
	"io"
	"strings"
)

// entry is one object of a pg_dump plain-format section: the text after
// its "-- Name: …; Type: …; Schema: …" header up to the next header.
type entry struct {
	Name, Type, Schema string
	SQL                string
}

// section is a pg_dump plain-format file split into its entries.
type section struct {
	Prelude     string // SET statements and comments before the first entry
	Entries     []entry
	RestrictKey string // the `\restrict` key pg_dump wrote, if any
}

// parseSection splits pg_dump output on its entry headers. pg_dump
// replaces newlines in object names by spaces in these comments, so a
// header cannot be forged by a name. The psql-only `\restrict` and
// `\unrestrict` lines are removed (the key is kept for the export).
func parseSection(r io.Reader) (*section, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 64*1024*1024)
	s := &section{}
	var lines []string
	for sc.Scan() {
		line := sc.Text()
		if k, ok := strings.CutPrefix(line, `\restrict `); ok {
			s.RestrictKey = strings.TrimSpace(k)
			continue
		}
		if strings.HasPrefix(line, `\unrestrict `) {
			continue
		}
		lines = append(lines, line)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var body strings.Builder
	cur := -1
	flush := func() {
		if cur < 0 {
			s.Prelude = body.String()
		} else {
			s.Entries[cur].SQL = body.String()
		}
		body.Reset()
	}
	for i := 0; i < len(lines); i++ {
		if lines[i] == "--" && i+2 < len(lines) && lines[i+2] == "--" {
			if name, typ, schema, ok := parseHeader(lines[i+1]); ok {
				flush()
				s.Entries = append(s.Entries, entry{Name: name, Type: typ, Schema: schema})
				cur = len(s.Entries) - 1
				i += 2
				continue
			}
		}
		body.WriteString(lines[i])
		body.WriteByte('\n')
	}
	flush()
	return s, nil
}

// parseHeader reads "-- Name: x; Type: T; Schema: s; Owner: o[; …]".
func parseHeader(line string) (name, typ, schema string, ok bool) {
	rest, ok := strings.CutPrefix(line, "-- Name: ")
	if !ok {
		return "", "", "", false
	}
	name, rest, ok = strings.Cut(rest, "; Type: ")
	if !ok {
		return "", "", "", false
	}
	typ, rest, ok = strings.Cut(rest, "; Schema: ")
	if !ok {
		return "", "", "", false
	}
	schema, _, _ = strings.Cut(rest, "; ")
	return name, typ, schema, true
}

// isACL reports entries that grant or revoke privileges; they are kept in
// the snapshot but applied only when grants are asked for.
func isACL(e entry) bool { return e.Type == "ACL" || e.Type == "DEFAULT ACL" }

// keepSession returns the session settings of a skipped entry's text
// (pg_dump puts SET default_… between entries), so they still apply.
// They are the statements the check read as session settings (not a
// line that only looks like one, inside a comment or a string).
func keepSession(sql string) string {
	var b strings.Builder
	err := splitStatements(sql, func(stmt, _ string) error {
		if sessionStatement(stmt) {
			b.WriteString(stmt + "\n")
		}
		return nil
	})
	if err != nil {
		return "" // parseSchema refuses such an entry
	}
	return b.String()
}

// text renders the section for execution or export: prelude and entries,
// without ACL entries unless grants is set.
func (s *section) text(grants bool) string {
	var b strings.Builder
	b.WriteString(s.Prelude)
	for _, e := range s.Entries {
		if isACL(e) && !grants {
			b.WriteString(keepSession(e.SQL))
			continue
		}
		b.WriteString("-- " + e.Type + " " + e.Name + "\n")
		b.WriteString(e.SQL)
	}
	return b.String()
}

// parallelType reports the post-data entries that build one index or
// key each and may run on several sessions at once; every other entry
// runs afterwards, one at a time, in pg_dump's dependency order.
func parallelType(t string) bool { return t == "INDEX" || t == "CONSTRAINT" }
