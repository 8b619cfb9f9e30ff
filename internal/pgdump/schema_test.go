package pgdump

import (
	"time"

	"context"
	"github.com/3scale-ops/3scale-ops/e2e/seed"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
)

// schemaDump is the schema as `pg_dump --schema-only --no-owner --no-acl`
// prints it (without the per-run \restrict key lines).
func schemaDump(t *testing.T, dbURL string) string {
	t.Helper()
	conn, pw, err := pgDumpTarget(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(testenv.Get(t).PGBin, "pg_dump"), "--schema-only", "--no-owner", "--no-acl", "--dbname="+conn)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+pw)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pg_dump --schema-only: %v", err)
	}
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(l, `\restrict `) && !strings.HasPrefix(l, `\unrestrict `) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// sameSchema fails with a unified diff when the schemas differ.
func sameSchema(t *testing.T, want, got string) {
	t.Helper()
	if want == got {
		return
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "source.sql"), filepath.Join(dir, "restored.sql")
	_ = os.WriteFile(a, []byte(want), 0o600)
	_ = os.WriteFile(b, []byte(got), 0o600)
	out, _ := exec.Command("diff", "-u", a, b).CombinedOutput()
	t.Fatalf("restored schema differs from the source (pg_dump --schema-only):\n%s", out)
}

// missingDatabase returns the URL of a database that does not exist yet
// on the test server, dropped when the test ends.
func missingDatabaseURL(t *testing.T) string {
	t.Helper()
	env := testenv.Get(t)
	name := testenv.Unique("t_new_")
	t.Cleanup(func() {
		ctx := context.Background()
		if c, err := pgx.Connect(ctx, env.PostgresURL); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	u, _ := url.Parse(env.PostgresURL)
	u.Path = "/" + name
	return u.String()
}

// exportFile writes the snapshot's `backups export` stream to a file and
// returns its path.
func exportFile(t *testing.T, mem *artifact.Memory) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "export.sql")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Export(context.Background(), mem, f); err != nil {
		t.Fatalf("export: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func psqlLoad(t *testing.T, dbURL, file string) {
	t.Helper()
	conn, pw, err := pgDumpTarget(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(testenv.Get(t).PGBin, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", file, conn)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+pw)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("psql -f export: %v\n%s", err, out)
	}
}

func queryOne(t *testing.T, dbURL, q string) string {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var s string
	if err := c.QueryRow(ctx, q).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s
}

// TestSchemaRestoresExactly restores zync's que objects and the
// every-object-kind fixture — into an existing empty database and into
// one the restore must create — and through the export loaded by psql;
// each time the schema printed by pg_dump and the data must equal the
// source's.
func TestSchemaRestoresExactly(t *testing.T) {
	cases := []struct {
		name, schema, data string
		checks             map[string]string              // query → expected value, run on source and target
		seed               func(t *testing.T, url string) // instead of schema and data
	}{
		{"zync que objects", queSchema, queData, map[string]string{
			`SELECT obj_description('public.que_jobs'::regclass, 'pg_class')`:                                 "7",
			`SELECT array_to_string(reloptions, ',') FROM pg_class WHERE oid = 'public.que_values'::regclass`: "fillfactor=90",
			`SELECT relpersistence::text FROM pg_class WHERE oid = 'public.que_lockers'::regclass`:            "u",
			`SELECT public.que_determine_job_state(j) FROM public.que_jobs j WHERE id = 2`:                    "finished",
		}, nil},
		{"every object kind", everySchema, everyData, map[string]string{
			`SELECT convert_from(lo_get(424242), 'UTF8')`:                                                                "a large object",
			`SELECT obj_description(424242, 'pg_largeobject')`:                                                           "a large object",
			`SELECT string_agg(mood || '=' || n, ',' ORDER BY mood) FROM app.mv_moods`:                                   "sad=1,ok=1,happy=1",
			`SELECT ispopulated::text FROM pg_matviews WHERE matviewname = 'mv_never'`:                                   "false",
			`SELECT relrowsecurity::text || relforcerowsecurity::text FROM pg_class WHERE oid = 'app.tickets'::regclass`: "truetrue",
			`SELECT names FROM app.v_names`:                                                                              "ann,bob,cid",
			`SELECT count(*)::text FROM app.events`:                                                                      "3",
			`SELECT last_value::text FROM app.customers_id_seq`:                                                          "13",
		}, nil},
	}
	cases = append(cases, struct {
		name, schema, data string
		checks             map[string]string
		seed               func(t *testing.T, url string)
	}{name: "porta on postgresql", seed: seedPorta, checks: map[string]string{
		`SELECT count(*)::text FROM pg_trigger WHERE tgname LIKE '%_tenant_id' AND NOT tgisinternal`:                "21",
		`SELECT max(value)::text FROM usage_limits`:                                                                 "9223372036854775807",
		`SELECT pg_get_function_identity_arguments('sp_invoices_friendly_id'::regproc)`:                             "invoice_id numeric",
		`SELECT (last_value > (SELECT max(id) FROM cinstances))::text FROM cinstances_id_seq`:                       "true",
		`SELECT data_type FROM information_schema.columns WHERE table_name = 'accounts' AND column_name = 'master'`: "boolean",
	}})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := testenv.Postgres(t)
			if tc.seed != nil {
				tc.seed(t, src.URL)
			} else {
				execSQL(t, src.URL, tc.schema)
				execSQL(t, src.URL, tc.data)
			}
			wantSchema := schemaDump(t, src.URL)
			wantData := fingerprint(t, src.URL)
			for q, v := range tc.checks {
				if got := queryOne(t, src.URL, q); got != v {
					t.Fatalf("fixture: %s = %q, want %q", q, got, v)
				}
			}
			mem := artifact.NewMemory()
			e := New(src.URL)
			e.Parallel = 3
			if err := e.Backup(context.Background(), mem, nil); err != nil {
				t.Fatalf("backup: %v", err)
			}
			check := func(t *testing.T, dst string) {
				sameSchema(t, wantSchema, schemaDump(t, dst))
				compareFingerprints(t, wantData, fingerprint(t, dst))
				for q, v := range tc.checks {
					if got := queryOne(t, dst, q); got != v {
						t.Errorf("restored: %s = %q, want %q", q, got, v)
					}
				}
			}
			t.Run("restore into an empty database", func(t *testing.T) {
				dst := testenv.Postgres(t)
				r := New(dst.URL)
				if err := r.Preflight(context.Background(), mem); err != nil {
					t.Fatalf("preflight: %v", err)
				}
				if _, err := r.Restore(context.Background(), mem, nil); err != nil {
					t.Fatalf("restore: %v", err)
				}
				check(t, dst.URL)
			})
			t.Run("restore creates the database", func(t *testing.T) {
				dst := missingDatabaseURL(t)
				r := New(dst)
				if err := r.Preflight(context.Background(), mem); err != nil {
					t.Fatalf("preflight of a missing database: %v", err)
				}
				if _, err := r.Restore(context.Background(), mem, nil); err != nil {
					t.Fatalf("restore: %v", err)
				}
				check(t, dst)
			})
			t.Run("export loads with psql", func(t *testing.T) {
				dst := testenv.Postgres(t)
				psqlLoad(t, dst.URL, exportFile(t, mem))
				check(t, dst.URL)
			})
		})
	}
}

// TestPgDumpMissingOrTooOldRefusedBeforeData: without a usable pg_dump
// the backup stops with a usage error naming the versions, before any
// data file is written.
func TestPgDumpMissingOrTooOldRefusedBeforeData(t *testing.T) {
	src := testenv.Postgres(t)
	execSQL(t, src.URL, queSchema)
	execSQL(t, src.URL, queData)
	mem := artifact.NewMemory()
	e := New(src.URL)
	e.PgDump = filepath.Join(t.TempDir(), "pg_dump")
	err := e.Backup(context.Background(), mem, nil)
	if err == nil || errs.Code(err) != errs.Usage || !strings.Contains(err.Error(), "no pg_dump of version 15 or later") ||
		!strings.Contains(errs.Hint(err), "postgresql-client-15") {
		t.Fatalf("want a usage error about the missing pg_dump, got %v (hint %q)", err, errs.Hint(err))
	}
	if len(mem.Files()) != 0 {
		t.Fatalf("files written before the pg_dump check: %v", mem.Files())
	}

	// The real pg_dump of the test environment is too old for a
	// PostgreSQL 99 server.
	real := filepath.Join(testenv.Get(t).PGBin, "pg_dump")
	e.PgDump = real
	_, err = e.findPgDump(context.Background(), 99)
	if err == nil || !strings.Contains(err.Error(), "PostgreSQL 99") || !strings.Contains(err.Error(), real+" is version 15") {
		t.Fatalf("want a version refusal naming %s, got %v", real, err)
	}
	if h := errs.Hint(err); !strings.Contains(h, "Dockerfile") || !strings.Contains(h, "postgresql-client-99") {
		t.Errorf("hint %q should say which image ships pg_dump and how to install one", h)
	}
	// In the minimal image of `make image` the hint says how to get an
	// image with pg_dump.
	t.Setenv(EnvImage, "minimal")
	e.PgDump = filepath.Join(t.TempDir(), "pg_dump") // absent, as in that image
	_, err = e.findPgDump(context.Background(), 16)
	if h := errs.Hint(err); errs.Code(err) != errs.Usage || !strings.Contains(h, "minimal image of `make image`, which has no pg_dump") ||
		!strings.Contains(h, "docker build") || !strings.Contains(h, "Container images and pg_dump") {
		t.Errorf("in the minimal image: %v (exit %d), hint %q", err, errs.Code(err), h)
	}
	if v, err := parsePgDumpVersion("pg_dump (PostgreSQL) 16.4 (Debian 16.4-1.pgdg120+1)\n"); err != nil || v != 16 {
		t.Fatalf("parse: %d %v", v, err)
	}
}

// TestUnreproducibleObjectsRefusedUnlessExcluded: a subscription would
// be dropped by the schema dump, so the backup refuses it by name with
// the --exclude-object to use; excluded (and an excluded table with its
// sequence), the backup records what it left out and the restore lacks
// exactly those.
func TestUnreproducibleObjectsRefusedUnlessExcluded(t *testing.T) {
	src := testenv.Postgres(t)
	execSQL(t, src.URL, queSchema)
	execSQL(t, src.URL, queData)
	execSQL(t, src.URL, `CREATE TABLE public.scratch (id bigserial PRIMARY KEY, note text);
INSERT INTO public.scratch (note) VALUES ('temp');
CREATE PUBLICATION que_pub FOR TABLE public.que_jobs;`)
	execSQL(t, src.URL, `CREATE SUBSCRIPTION que_sub CONNECTION 'host=127.0.0.1 dbname=nowhere' PUBLICATION que_pub
	  WITH (connect = false, enabled = false, create_slot = false, slot_name = NONE)`)
	t.Cleanup(func() { execSQL(t, src.URL, `DROP SUBSCRIPTION IF EXISTS que_sub`) })

	mem := artifact.NewMemory()
	err := New(src.URL).Backup(context.Background(), mem, nil)
	if err == nil || errs.Code(err) != errs.Usage || !strings.Contains(err.Error(), "subscription que_sub") ||
		!strings.Contains(errs.Hint(err), `--exclude-object "subscription que_sub"`) {
		t.Fatalf("want a refusal naming the subscription and the option, got %v (hint %q)", err, errs.Hint(err))
	}
	if len(mem.Files()) != 0 {
		t.Fatalf("files written before the refusal: %v", mem.Files())
	}

	e := New(src.URL)
	e.Exclude = []string{"subscription que_sub", "table public.scratch"}
	if err := e.Backup(context.Background(), mem, nil); err != nil {
		t.Fatalf("backup with exclusions: %v", err)
	}
	m, err := readMeta(mem)
	if err != nil {
		t.Fatal(err)
	}
	var excluded []string
	if err := mem.Get("excluded", &excluded); err != nil || strings.Join(excluded, ",") != "subscription que_sub,table public.scratch" {
		t.Fatalf("exclusions not recorded: %v %v", excluded, err)
	}
	for _, tb := range m.Tables {
		if tb.Ident == "public.scratch" {
			t.Fatal("the excluded table's rows were dumped")
		}
	}
	dst := testenv.Postgres(t)
	if _, err := New(dst.URL).Restore(context.Background(), mem, nil); err != nil {
		t.Fatalf("restore: %v", err)
	}
	// The source without what was left out is what the restore holds.
	execSQL(t, src.URL, `DROP SUBSCRIPTION que_sub; DROP TABLE public.scratch`)
	sameSchema(t, schemaDump(t, src.URL), schemaDump(t, dst.URL))

	if err := (&Engine{URL: src.URL, Exclude: []string{"index public.x"}}).Backup(context.Background(), artifact.NewMemory(), nil); err == nil ||
		errs.Code(err) != errs.Usage || !strings.Contains(err.Error(), `unknown object kind "index"`) {
		t.Fatalf("want an unknown-kind refusal, got %v", err)
	}
}

// TestGrantsRecordedAndAppliedOnlyWhenAsked: grants are kept in the
// snapshot; a default restore applies none (the roles may not exist), a
// WithGrants restore gives the schema pg_dump prints with its ACLs.
func TestGrantsRecordedAndAppliedOnlyWhenAsked(t *testing.T) {
	role := testenv.Unique("reader_")
	env := testenv.Get(t)
	execSQL(t, env.PostgresURL, "CREATE ROLE "+role)
	t.Cleanup(func() {
		execSQL(t, env.PostgresURL, "DROP OWNED BY "+role+"; DROP ROLE IF EXISTS "+role)
	})
	src := testenv.Postgres(t)
	execSQL(t, src.URL, queSchema)
	execSQL(t, src.URL, "GRANT SELECT ON public.que_jobs TO "+role+"; GRANT EXECUTE ON FUNCTION public.que_validate_tags(jsonb) TO "+role)
	mem := artifact.NewMemory()
	if err := New(src.URL).Backup(context.Background(), mem, nil); err != nil {
		t.Fatalf("backup: %v", err)
	}
	if !strings.Contains(string(mem.Bytes(FilePreData))+string(mem.Bytes(FilePostData)), "GRANT SELECT ON TABLE public.que_jobs TO "+role) {
		t.Fatal("the grant is not recorded in the snapshot")
	}
	withACL := func(dbURL string) string {
		conn, pw, err := pgDumpTarget(dbURL)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(filepath.Join(env.PGBin, "pg_dump"), "--schema-only", "--no-owner", "--restrict-key=k", "--dbname="+conn)
		cmd.Env = append(os.Environ(), "PGPASSWORD="+pw)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("pg_dump: %v", err)
		}
		return string(out)
	}
	plain := testenv.Postgres(t)
	if _, err := New(plain.URL).Restore(context.Background(), mem, nil); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if got := queryOne(t, plain.URL, `SELECT has_table_privilege('`+role+`', 'public.que_jobs', 'SELECT')::text`); got != "false" {
		t.Errorf("a default restore applied the grant")
	}
	granted := testenv.Postgres(t)
	e := New(granted.URL)
	e.WithGrants = true
	if _, err := e.Restore(context.Background(), mem, nil); err != nil {
		t.Fatalf("restore with grants: %v", err)
	}
	sameSchema(t, withACL(src.URL), withACL(granted.URL))
}

// seedPorta generates Porta's system database on PostgreSQL.
func seedPorta(t *testing.T, url string) {
	t.Helper()
	if _, err := seed.Generate(context.Background(), seed.Targets{SystemPostgresURL: url},
		seed.Options{Seed: 3, Scale: 2 << 20, Now: time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
}
