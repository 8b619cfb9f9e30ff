package pgdump

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
)

// The split reads quotes, escapes, dollar quotes and comments as the
// server does: a `;` inside any of them ends no statement.
func TestSplitStatements(t *testing.T) {
	cases := map[string][]string{
		"SET a = 1; SET b = 'x;y';":                       {"SET a = 1;", "SET b = 'x;y';"},
		"COMMENT ON TABLE t IS 'it''s; fine';":            {"COMMENT ON TABLE t IS 'it''s; fine';"},
		`COMMENT ON TABLE t IS E'a\'; DO x; --';`:         {`COMMENT ON TABLE t IS E'a\'; DO x; --';`},
		"CREATE FUNCTION f() AS $f$ a; $x$ b; $f$; DO 1;": {"CREATE FUNCTION f() AS $f$ a; $x$ b; $f$;", "DO 1;"},
		"CREATE FUNCTION f() AS $$ a; $$;":                {"CREATE FUNCTION f() AS $$ a; $$;"},
		"/* a /* nested; */ still; */ SET a = 1;":         {"SET a = 1;"},
		"-- DO x;\nSET a\n =\t1;":                         {"SET a = 1;"},
		`CREATE TABLE "a;b" (x int);`:                     {`CREATE TABLE "a;b" (x int);`},
		"CREATE TABLE a$b$ (x int); DO 1;":                {"CREATE TABLE a$b$ (x int);", "DO 1;"},
		"SELECT 1$a$; DO 1;$a$;":                          {"SELECT 1$a$; DO 1;$a$;"},
		"PREPARE p AS SELECT $1; DO 1;":                   {"PREPARE p AS SELECT $1;", "DO 1;"},
	}
	for in, want := range cases {
		var got []string
		if err := splitStatements(in, func(s, _ string) error { got = append(got, s); return nil }); err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%q: split into %q, want %q", in, got, want)
		}
	}
	for _, bad := range []string{"SET a = 'open;", "CREATE FUNCTION f() AS $f$ a;", "/* open", `\! touch x`, `CREATE TABLE "open (x int);`} {
		if err := splitStatements(bad, func(_, _ string) error { return nil }); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// The words an ALTER may not hold are found in any case, outside quotes
// only: a default value or a quoted name holding them is pg_dump's.
func TestCheckStatementAlter(t *testing.T) {
	cases := map[string]bool{
		"ALTER TABLE ONLY public.t ALTER COLUMN c SET DEFAULT 'please rename me';": true,
		`ALTER TABLE ONLY public."x rename y" ADD CONSTRAINT p PRIMARY KEY (id);`:  true,
		"ALTER SEQUENCE public.s OWNED BY public.t.id;":                            true,
		"alter table public.t rename to gone;":                                     false,
		"ALTER TABLE public.t set schema elsewhere;":                               false,
		"ALTER TABLE public.t OWNER TO someone;":                                   false,
		"ALTER ROLE postgres SET work_mem = '1MB';":                                false,
	}
	for stmt, ok := range cases {
		err := checkSQL(stmt, rolePreData)
		if (err == nil) != ok {
			t.Errorf("%q: allowed %v, want %v (%v)", stmt, err == nil, ok, err)
		}
	}
}

// A snapshot whose schema files carry a statement pg_dump does not write
// is refused before anything is created, by restore and by export; a
// data file with COPY's end marker is refused too (psql reading the
// export would run what follows it as SQL). The forged files keep their
// checksums, as an attacker who can write to an unencrypted repository
// would write them. Each forged statement would leave a trace.
func TestForgedSchemaStatementsNeverRun(t *testing.T) {
	_, mem, _ := dumpFixture(t)
	victim := notificationsFile(mem)
	appendTo := func(file, sql string) func(string, []byte) []byte {
		return func(n string, b []byte) []byte {
			if n == file {
				return append(append([]byte(nil), b...), sql...)
			}
			return b
		}
	}
	marker := filepath.Join(t.TempDir(), "pwned")
	cases := []struct {
		name, file string
		edit       func(string, []byte) []byte
	}{
		{"DO block in pre-data", FilePreData, appendTo(FilePreData, "\nDO $$BEGIN CREATE TABLE public.pwned_do(); END$$;\n")},
		{"DO after a dollar-quoted body", FilePreData, appendTo(FilePreData, "\nCREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS $a$ SELECT 1; $a$; DO $b$BEGIN CREATE TABLE public.pwned_dollar(); END$b$;\n")},
		{"COPY TO PROGRAM", FilePostData, appendTo(FilePostData, "\nCOPY (SELECT 1) TO PROGRAM 'touch "+marker+"';\n")},
		{"ALTER ROLE in post-data", FilePostData, appendTo(FilePostData, "\nALTER ROLE CURRENT_USER SET work_mem = '77kB';\n")},
		{"SET ROLE", FilePreData, appendTo(FilePreData, "\nSET ROLE pg_read_server_files;\n")},
		{"standard_conforming_strings off", FilePreData, appendTo(FilePreData, "\nSET standard_conforming_strings = off;\nCOMMENT ON TABLE public.tenants IS 'a\\'; DO $$BEGIN CREATE TABLE public.pwned_scs(); END$$; --';\n")},
		{"psql meta-command", FilePostData, appendTo(FilePostData, "\n\\! touch "+marker+"\n")},
		{"DROP in an ACL entry", FilePostData, appendTo(FilePostData, "\n--\n-- Name: TABLE tenants; Type: ACL; Schema: public; Owner: -\n--\n\nGRANT SELECT ON TABLE public.tenants TO PUBLIC; DROP TABLE public.tenants;\n")},
		{"setval with a second call", FileSequences, appendTo(FileSequences, "\nSELECT pg_catalog.setval('public.tenants_id_seq', 1, true), pg_catalog.pg_sleep(0);\n")},
		{"CREATE in the sequences file", FileSequences, appendTo(FileSequences, "\nCREATE TABLE public.pwned_seq ();\n")},
		{"end marker in a data file", victim, func(n string, b []byte) []byte {
			if n != victim {
				return b
			}
			// The same size: the first row becomes the marker and a
			// statement that psql would run after it.
			i := bytes.IndexByte(b, '\n')
			evil := "\\.\nCREATE TABLE public.pwned_copy();--"
			if i < len(evil) {
				t.Skipf("first row of %s too short (%d bytes)", victim, i)
			}
			out := append([]byte(evil+strings.Repeat(" ", i-len(evil))), b[i:]...)
			return out
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := cloneMemory(t, mem, c.edit, nil)
			dst := testenv.Postgres(t)
			_, err := New(dst.URL).Restore(context.Background(), bad, nil)
			if !errors.Is(err, artifact.ErrCorrupt) || errs.Code(err) != errs.Mismatch || !strings.Contains(err.Error(), c.file) ||
				!strings.Contains(errs.Hint(err), "who could write to the repository") {
				t.Fatalf("restore: want exit %d naming %s, got %d: %v (hint %q)", errs.Mismatch, c.file, errs.Code(err), err, errs.Hint(err))
			}
			assertEmpty(t, dst.URL)
			var out bytes.Buffer
			err = Export(context.Background(), bad, &out)
			if !errors.Is(err, artifact.ErrCorrupt) || !strings.Contains(err.Error(), c.file) {
				t.Fatalf("export: want a refusal naming %s, got %v", c.file, err)
			}
			for _, trace := range []string{"pwned", "ALTER ROLE", "SET ROLE", "standard_conforming_strings = off", "DROP TABLE", "pg_sleep"} {
				if strings.Contains(out.String(), trace) {
					t.Fatalf("export wrote the forged %q before refusing", trace)
				}
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("the forged command ran")
			}
		})
	}
}

// The end marker is found wherever the writes split it, and only as a
// line of its own.
func TestLineCounterEndMarker(t *testing.T) {
	cases := map[string]bool{
		"a\n\\.\nb\n": true, "\\.\n": true, "a\n\\.": true, "\\.": true, "a\n\\.\r\n": true,
		"a\n\\\\.\n": false, "a\\.\n": false, "a\n\\.b\n": false, "a\n\\N\n": false, "": false,
	}
	for in, want := range cases {
		for _, size := range []int{1, 2, 3, 4, 1 << 10} {
			lc := &lineCounter{}
			for b := []byte(in); len(b) > 0; {
				n := min(size, len(b))
				lc.Write(b[:n])
				b = b[n:]
			}
			if lc.EndMarker() != want {
				t.Errorf("%q in writes of %d: end marker %v, want %v", in, size, lc.EndMarker(), want)
			}
		}
	}
}
