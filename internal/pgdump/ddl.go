package pgdump

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// header makes a file loadable by psql on its own, with the settings the
// data and definitions were written under (all names are qualified).
const header = `SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET client_min_messages = warning;
SET row_security = off;
`

// Post-data step kinds: keys and indexes build in parallel; the rest run
// one at a time in file order.
const (
	stepKey     = "key"
	stepIndex   = "index"
	stepForeign = "foreign"
	stepTrigger = "trigger"
)

func seqOptions(s *sequence) string {
	cycle := "NO CYCLE"
	if s.Cycle {
		cycle = "CYCLE"
	}
	return fmt.Sprintf("AS %s START WITH %d INCREMENT BY %d MINVALUE %d MAXVALUE %d CACHE %d %s",
		s.Type, s.Start, s.Inc, s.Min, s.Max, s.Cache, cycle)
}

// writePreData writes everything that must exist before data: schemas,
// extensions, types, functions, sequences, tables (with NOT NULL, defaults,
// identity and validated CHECKs inline) and views.
func writePreData(w io.Writer, cat *catalog) error {
	b := bufio.NewWriter(w)
	b.WriteString("-- 3scale-ops zync-postgres: pre-data (load first)\n")
	b.WriteString(header)
	for _, s := range cat.Schemas {
		fmt.Fprintf(b, "\nCREATE SCHEMA IF NOT EXISTS %s;\n", s)
	}
	for _, e := range cat.Extensions {
		fmt.Fprintf(b, "\nCREATE EXTENSION IF NOT EXISTS %s WITH SCHEMA %s;\n", e[0], e[1])
	}
	for _, t := range cat.Types {
		fmt.Fprintf(b, "\n%s\n", t)
	}
	for _, f := range cat.Functions {
		fmt.Fprintf(b, "\n%s\n", f)
	}
	identity := map[string]*sequence{} // table oid + column → identity sequence
	for _, s := range cat.Sequences {
		if s.Identity {
			identity[fmt.Sprint(s.OwnerTable, ".", s.OwnerColumn)] = s
			continue
		}
		fmt.Fprintf(b, "\nCREATE SEQUENCE %s %s;\n", s.Ident, seqOptions(s))
	}
	for _, t := range cat.Tables {
		unlogged := ""
		if t.Unlogged {
			unlogged = "UNLOGGED "
		}
		fmt.Fprintf(b, "\nCREATE %sTABLE %s (", unlogged, t.Ident)
		for i, c := range t.Columns {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(b, "\n    %s %s", c.Name, c.Type)
			if c.Collation != "" {
				fmt.Fprintf(b, " COLLATE %s", c.Collation)
			}
			switch {
			case c.Generated == "s":
				fmt.Fprintf(b, " GENERATED ALWAYS AS (%s) STORED", c.Default)
			case c.Identity != "":
				kind := "BY DEFAULT"
				if c.Identity == "a" {
					kind = "ALWAYS"
				}
				fmt.Fprintf(b, " GENERATED %s AS IDENTITY", kind)
				if s := identity[fmt.Sprint(t.OID, ".", c.Name)]; s != nil {
					fmt.Fprintf(b, " (SEQUENCE NAME %s %s)", s.Ident, strings.TrimPrefix(seqOptions(s), "AS "+s.Type+" "))
				}
			case c.Default != "":
				fmt.Fprintf(b, " DEFAULT %s", c.Default)
			}
			if c.NotNull {
				b.WriteString(" NOT NULL")
			}
		}
		for _, ck := range t.Checks {
			fmt.Fprintf(b, ",\n    %s", ck)
		}
		b.WriteString("\n);\n")
	}
	for _, s := range cat.Sequences {
		if !s.Identity && s.OwnedBy != "" {
			fmt.Fprintf(b, "\nALTER SEQUENCE %s OWNED BY %s;\n", s.Ident, s.OwnedBy)
		}
	}
	for _, v := range cat.Views {
		fmt.Fprintf(b, "\n%s\n", v)
	}
	return b.Flush()
}

// writePostData writes keys, indexes, foreign keys and triggers, each
// statement after a marker line naming its step kind.
func writePostData(w io.Writer, cat *catalog) error {
	b := bufio.NewWriter(w)
	b.WriteString("-- 3scale-ops zync-postgres: post-data (load after the data)\n")
	b.WriteString(header)
	for _, g := range []struct {
		kind  string
		stmts []string
	}{{stepKey, cat.Keys}, {stepIndex, cat.Indexes}, {stepForeign, cat.Foreign}, {stepTrigger, cat.Triggers}} {
		for _, s := range g.stmts {
			fmt.Fprintf(b, "\n%s%s\n%s\n", stepMarker, g.kind, s)
		}
	}
	return b.Flush()
}

// writeSequences writes the setval calls that restore every sequence.
func writeSequences(w io.Writer, cat *catalog) error {
	b := bufio.NewWriter(w)
	b.WriteString("-- 3scale-ops zync-postgres: sequence values (load last)\n")
	b.WriteString(header)
	for _, s := range cat.Sequences {
		fmt.Fprintf(b, "SELECT pg_catalog.setval(%s, %d, %t);\n", quoteLiteral(s.Ident), s.Last, s.IsCalled)
	}
	return b.Flush()
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// step is one post-data statement.
type step struct {
	Kind string
	SQL  string
}

// parsePostData splits post-data.sql back into its marked steps; the
// header before the first marker is returned as prelude.
func parsePostData(r io.Reader) (prelude string, steps []step, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	var cur *step
	var pre strings.Builder
	for sc.Scan() {
		line := sc.Text()
		if k, ok := strings.CutPrefix(line, stepMarker); ok {
			steps = append(steps, step{Kind: k})
			cur = &steps[len(steps)-1]
			continue
		}
		if cur == nil {
			pre.WriteString(line + "\n")
		} else if line != "" || cur.SQL != "" {
			cur.SQL += line + "\n"
		}
	}
	if err := sc.Err(); err != nil {
		return "", nil, err
	}
	for i := range steps {
		steps[i].SQL = strings.TrimSpace(steps[i].SQL)
		switch steps[i].Kind {
		case stepKey, stepIndex, stepForeign, stepTrigger:
		default:
			return "", nil, fmt.Errorf("unknown step kind %q", steps[i].Kind)
		}
	}
	return pre.String(), steps, nil
}
