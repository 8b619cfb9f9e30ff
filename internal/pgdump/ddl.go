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
	// stepAttach is pg_dump's INDEX ATTACH (a partition's index joins its
	// parent's): a foreign key may need it, so with one in the dump every
	// foreign key waits for the end of the load.
	stepAttach = "attach"
)

// writeSequences writes the setval calls that restore every sequence,
// the refresh of every populated materialized view (after post-data, so
// their indexes exist, as pg_restore does), then the comments of large
// objects (loaded with the data).
func writeSequences(w io.Writer, cat *catalog) error {
	b := bufio.NewWriter(w)
	b.WriteString("-- 3scale-ops zync-postgres: sequence values (load last)\n")
	b.WriteString(header)
	for _, s := range cat.Sequences {
		fmt.Fprintf(b, "SELECT pg_catalog.setval(%s, %d, %t);\n", quoteLiteral(s.Ident), s.Last, s.IsCalled)
	}
	for _, r := range cat.Refresh {
		b.WriteString(r + "\n")
	}
	for _, c := range cat.LOComments {
		b.WriteString(c + "\n")
	}
	return b.Flush()
}

// Large objects travel as one COPY text file of (oid, bytea) rows,
// loaded through a temporary table and lo_from_bytea.
const (
	loCopyOut   = `COPY (SELECT m.oid, pg_catalog.lo_get(m.oid) FROM pg_catalog.pg_largeobject_metadata m ORDER BY m.oid) TO STDOUT`
	loPrepare   = `CREATE TEMPORARY TABLE pg_temp.threescale_ops_lo (loid oid, data bytea)`
	loCopyIn    = `COPY pg_temp.threescale_ops_lo (loid, data) FROM STDIN`
	loCreate    = `SELECT count(pg_catalog.lo_from_bytea(loid, data)) FROM pg_temp.threescale_ops_lo`
	loDropTable = `DROP TABLE pg_temp.threescale_ops_lo`
)

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
