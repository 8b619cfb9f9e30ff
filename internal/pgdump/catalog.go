package pgdump

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// userNS selects namespaces that hold user objects.
const userNS = `n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'`

// notExt excludes objects that belong to an extension (CREATE EXTENSION
// brings them back). classid is the catalog of the object.
func notExt(classid, oid string) string {
	return `NOT EXISTS (SELECT 1 FROM pg_depend x WHERE x.classid = '` + classid + `'::regclass AND x.objid = ` + oid + ` AND x.deptype = 'e')`
}

// userTables is a subquery of the oids of the tables whose rows we copy:
// plain tables, partitions and inheritance children (each holds its own
// rows); partitioned parents, views, materialized views (refreshed in
// post-data) and foreign tables hold none.
var userTables = `SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND ` + userNS + ` AND ` + notExt("pg_class", "c.oid")

type column struct {
	Name      string
	Generated string
}

type table struct {
	OID     uint32
	Schema  string
	Name    string
	Ident   string
	Pages   int64
	EstRows float64
	Columns []column
}

type sequence struct {
	Ident    string
	Last     int64
	IsCalled bool
}

type catalog struct {
	Extensions   []string
	Tables       []*table
	Sequences    []*sequence
	LargeObjects int64
	LOComments   []string // COMMENT ON LARGE OBJECT statements
	Refresh      []string // populated materialized views, dependencies first
}

func queryStrings(ctx context.Context, c *pgx.Conn, q string, args ...any) ([]string, error) {
	rows, _ := c.Query(ctx, q, args...)
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// readCatalog reads, inside the dump transaction, what the data copy
// needs: the tables and their columns, sequence values, extensions and
// large objects. The schema itself is pg_dump's. With lock, it takes
// ACCESS SHARE locks on every table first, as pg_dump does, so no DDL can
// change them while the dump runs.
func readCatalog(ctx context.Context, c *pgx.Conn, lock bool) (*catalog, error) {
	cat := &catalog{}
	rows, _ := c.Query(ctx, `SELECT c.oid, n.nspname, c.relname, format('%I.%I', n.nspname, c.relname),
	    pg_relation_size(c.oid) / current_setting('block_size')::int, c.reltuples::float8
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	  WHERE c.oid IN (`+userTables+`) ORDER BY 2, 3`)
	byOID := map[uint32]*table{}
	var t table
	_, err := pgx.ForEachRow(rows, []any{&t.OID, &t.Schema, &t.Name, &t.Ident, &t.Pages, &t.EstRows}, func() error {
		tt := t
		cat.Tables = append(cat.Tables, &tt)
		byOID[tt.OID] = &tt
		return nil
	})
	if err != nil {
		return nil, dbErr("reading tables from pg_class", err)
	}
	if lock {
		for _, t := range cat.Tables {
			if _, err := c.Exec(ctx, "LOCK TABLE ONLY "+t.Ident+" IN ACCESS SHARE MODE"); err != nil {
				return nil, dbErr("locking table "+t.Ident, err)
			}
		}
	}
	if cat.Extensions, err = queryStrings(ctx, c, `SELECT format('%I', e.extname) FROM pg_extension e
	    WHERE e.extname <> 'plpgsql' ORDER BY e.oid`); err != nil {
		return nil, dbErr("reading extensions", err)
	}
	if err := readSequences(ctx, c, cat); err != nil {
		return nil, err
	}
	if err := readColumns(ctx, c, byOID); err != nil {
		return nil, err
	}
	if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_largeobject_metadata`).Scan(&cat.LargeObjects); err != nil {
		return nil, dbErr("counting large objects", err)
	}
	if cat.LOComments, err = queryStrings(ctx, c, `SELECT format('COMMENT ON LARGE OBJECT %s IS %L;', d.objoid, d.description)
	    FROM pg_description d WHERE d.classoid = 'pg_largeobject'::regclass ORDER BY d.objoid`); err != nil {
		return nil, dbErr("reading large object comments", err)
	}
	if cat.Refresh, err = readMatViews(ctx, c); err != nil {
		return nil, err
	}
	return cat, nil
}

// readMatViews lists the populated materialized views in an order that
// refreshes every one after those it reads (through views too). pg_dump
// --schema-only creates them all WITH NO DATA.
func readMatViews(ctx context.Context, c *pgx.Conn) ([]string, error) {
	type rel struct {
		ident     string
		populated bool
		deps      []uint32
	}
	rels := map[uint32]*rel{}
	var mvs []uint32
	rows, _ := c.Query(ctx, `SELECT c.oid, c.relkind = 'm', format('%I.%I', n.nspname, c.relname), c.relispopulated
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	  WHERE c.relkind IN ('m','v') AND `+userNS+` AND `+notExt("pg_class", "c.oid")+` ORDER BY c.oid`)
	var oid uint32
	var isMV, pop bool
	var ident string
	if _, err := pgx.ForEachRow(rows, []any{&oid, &isMV, &ident, &pop}, func() error {
		rels[oid] = &rel{ident: ident, populated: isMV && pop}
		if isMV {
			mvs = append(mvs, oid)
		}
		return nil
	}); err != nil {
		return nil, dbErr("reading materialized views", err)
	}
	if len(mvs) == 0 {
		return nil, nil
	}
	rows, _ = c.Query(ctx, `SELECT DISTINCT r.ev_class, d.refobjid FROM pg_rewrite r
	  JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid AND d.refclassid = 'pg_class'::regclass
	  WHERE d.refobjid <> r.ev_class`)
	var from, to uint32
	if _, err := pgx.ForEachRow(rows, []any{&from, &to}, func() error {
		if r := rels[from]; r != nil && rels[to] != nil {
			r.deps = append(r.deps, to)
		}
		return nil
	}); err != nil {
		return nil, dbErr("reading view dependencies", err)
	}
	var out []string
	done := map[uint32]bool{}
	var visit func(uint32)
	visit = func(o uint32) {
		if done[o] {
			return
		}
		done[o] = true
		for _, d := range rels[o].deps {
			visit(d)
		}
		if rels[o].populated {
			out = append(out, "REFRESH MATERIALIZED VIEW "+rels[o].ident+";")
		}
	}
	for _, o := range mvs {
		visit(o)
	}
	return out, nil
}

func readSequences(ctx context.Context, c *pgx.Conn, cat *catalog) error {
	idents, err := queryStrings(ctx, c, `SELECT format('%I.%I', n.nspname, c.relname)
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	  WHERE c.relkind = 'S' AND `+userNS+` AND `+notExt("pg_class", "c.oid")+` ORDER BY c.oid`)
	if err != nil {
		return dbErr("reading sequences", err)
	}
	for _, id := range idents {
		s := &sequence{Ident: id}
		if err := c.QueryRow(ctx, "SELECT last_value, is_called FROM "+id).Scan(&s.Last, &s.IsCalled); err != nil {
			return dbErr("reading sequence "+id, err)
		}
		cat.Sequences = append(cat.Sequences, s)
	}
	return nil
}

func readColumns(ctx context.Context, c *pgx.Conn, byOID map[uint32]*table) error {
	rows, _ := c.Query(ctx, `SELECT a.attrelid, format('%I', a.attname), a.attgenerated::text
	  FROM pg_attribute a
	  WHERE a.attrelid IN (`+userTables+`) AND a.attnum > 0 AND NOT a.attisdropped
	  ORDER BY a.attrelid, a.attnum`)
	var oid uint32
	var col column
	_, err := pgx.ForEachRow(rows, []any{&oid, &col.Name, &col.Generated}, func() error {
		if t := byOID[oid]; t != nil {
			t.Columns = append(t.Columns, col)
		}
		return nil
	})
	if err != nil {
		return dbErr("reading columns", err)
	}
	return nil
}
