package pgdump

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/3scale-ops/3scale-ops/internal/errs"
)

// userNS selects namespaces that hold user objects.
const userNS = `n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'`

// notExt excludes objects that belong to an extension (CREATE EXTENSION
// brings them back). classid is the catalog of the object.
func notExt(classid, oid string) string {
	return `NOT EXISTS (SELECT 1 FROM pg_depend x WHERE x.classid = '` + classid + `'::regclass AND x.objid = ` + oid + ` AND x.deptype = 'e')`
}

// userTables is a subquery of the oids of the tables we dump.
var userTables = `SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r','p') AND ` + userNS + ` AND ` + notExt("pg_class", "c.oid")

type column struct {
	Name, Type, Collation, Default string
	NotNull                        bool
	Identity, Generated            string
}

type table struct {
	OID      uint32
	Schema   string
	Name     string
	Ident    string
	Unlogged bool
	Pages    int64
	EstRows  float64
	Columns  []column
	Checks   []string // "CONSTRAINT name CHECK (...)", validated ones, inline
}

type sequence struct {
	Ident, Type                 string
	Start, Inc, Min, Max, Cache int64
	Cycle                       bool
	OwnedBy                     string // quoted table ident + "." + column
	OwnerTable                  uint32
	OwnerColumn                 string
	Identity                    bool
	Last                        int64
	IsCalled                    bool
}

type catalog struct {
	Schemas    []string
	Extensions [][2]string // name, schema
	Types      []string    // CREATE TYPE / CREATE DOMAIN statements
	Functions  []string
	Sequences  []*sequence
	Tables     []*table
	Views      []string
	Keys       []string // PK / UNIQUE / EXCLUDE (parallel)
	Indexes    []string // (parallel)
	Foreign    []string // FKs and NOT VALID checks (serial)
	Triggers   []string // (serial)
}

func queryStrings(ctx context.Context, c *pgx.Conn, q string, args ...any) ([]string, error) {
	rows, _ := c.Query(ctx, q, args...)
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// readCatalog reads the whole schema inside the dump transaction; it
// takes ACCESS SHARE locks on every table first, as pg_dump does, so no
// DDL can change them while the dump runs.
func readCatalog(ctx context.Context, c *pgx.Conn, lock bool) (*catalog, error) {
	cat := &catalog{}
	var err error
	rows, _ := c.Query(ctx, `SELECT c.oid, n.nspname, c.relname, format('%I.%I', n.nspname, c.relname), c.relpersistence = 'u',
	    pg_relation_size(c.oid) / current_setting('block_size')::int, c.reltuples::float8, c.relkind::text,
	    EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid OR i.inhparent = c.oid)
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	  WHERE c.relkind IN ('r','p','m','f') AND `+userNS+` AND `+notExt("pg_class", "c.oid")+` ORDER BY 2, 3`)
	var unsupported []string
	byOID := map[uint32]*table{}
	var t table
	var kind string
	var inh bool
	_, err = pgx.ForEachRow(rows, []any{&t.OID, &t.Schema, &t.Name, &t.Ident, &t.Unlogged, &t.Pages, &t.EstRows, &kind, &inh}, func() error {
		if kind != "r" || inh {
			unsupported = append(unsupported, t.Ident)
			return nil
		}
		tt := t
		cat.Tables = append(cat.Tables, &tt)
		byOID[tt.OID] = &tt
		return nil
	})
	if err != nil {
		return nil, dbErr("reading tables from pg_class", err)
	}
	if len(unsupported) > 0 {
		return nil, errs.New(errs.Failure, "these objects need pg_dump; the native engine handles plain tables only",
			"zync-postgres: partitioned, inherited, foreign tables and materialized views are not supported: %s", strings.Join(unsupported, ", "))
	}
	if lock {
		for _, t := range cat.Tables {
			if _, err := c.Exec(ctx, "LOCK TABLE "+t.Ident+" IN ACCESS SHARE MODE"); err != nil {
				return nil, dbErr("locking table "+t.Ident, err)
			}
		}
	}

	if cat.Schemas, err = queryStrings(ctx, c, `SELECT format('%I', n.nspname) FROM pg_namespace n
	    WHERE `+userNS+` AND n.nspname <> 'public' AND `+notExt("pg_namespace", "n.oid")+` ORDER BY 1`); err != nil {
		return nil, dbErr("reading schemas", err)
	}
	rows, _ = c.Query(ctx, `SELECT format('%I', e.extname), format('%I', n.nspname) FROM pg_extension e
	    JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname <> 'plpgsql' ORDER BY e.oid`)
	var ext [2]string
	if _, err = pgx.ForEachRow(rows, []any{&ext[0], &ext[1]}, func() error { cat.Extensions = append(cat.Extensions, ext); return nil }); err != nil {
		return nil, dbErr("reading extensions", err)
	}
	if cat.Types, err = queryStrings(ctx, c, `SELECT CASE t.typtype
	      WHEN 'e' THEN format('CREATE TYPE %I.%I AS ENUM (%s);', n.nspname, t.typname,
	        (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid))
	      ELSE format('CREATE DOMAIN %I.%I AS %s%s%s%s;', n.nspname, t.typname, format_type(t.typbasetype, t.typtypmod),
	        CASE WHEN t.typdefault IS NOT NULL THEN ' DEFAULT ' || t.typdefault ELSE '' END,
	        CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END,
	        COALESCE((SELECT string_agg(format(' CONSTRAINT %I %s', k.conname, pg_get_constraintdef(k.oid)), '' ORDER BY k.conname)
	                  FROM pg_constraint k WHERE k.contypid = t.oid AND k.contype = 'c'), ''))
	      END
	    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
	    WHERE t.typtype IN ('e','d') AND `+userNS+` AND `+notExt("pg_type", "t.oid")+`
	    ORDER BY t.typtype DESC, t.oid`); err != nil {
		return nil, dbErr("reading types", err)
	}
	if cat.Functions, err = queryStrings(ctx, c, `SELECT pg_get_functiondef(p.oid) || ';' FROM pg_proc p
	    JOIN pg_namespace n ON n.oid = p.pronamespace
	    WHERE p.prokind IN ('f','p','w') AND `+userNS+` AND `+notExt("pg_proc", "p.oid")+` ORDER BY p.oid`); err != nil {
		return nil, dbErr("reading functions", err)
	}
	if err := readSequences(ctx, c, cat); err != nil {
		return nil, err
	}
	if err := readColumns(ctx, c, byOID); err != nil {
		return nil, err
	}
	if err := readConstraints(ctx, c, cat, byOID); err != nil {
		return nil, err
	}
	if cat.Indexes, err = queryStrings(ctx, c, `SELECT pg_get_indexdef(i.indexrelid) || ';' FROM pg_index i
	    JOIN pg_class ic ON ic.oid = i.indexrelid
	    WHERE i.indrelid IN (`+userTables+`) AND NOT EXISTS (SELECT 1 FROM pg_constraint k
	      WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid AND k.contype IN ('p','u','x'))
	    ORDER BY ic.relname`); err != nil {
		return nil, dbErr("reading indexes", err)
	}
	if cat.Views, err = queryStrings(ctx, c, `SELECT format(E'CREATE VIEW %I.%I AS\n%s', n.nspname, c.relname, pg_get_viewdef(c.oid))
	    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	    WHERE c.relkind = 'v' AND `+userNS+` AND `+notExt("pg_class", "c.oid")+` ORDER BY c.oid`); err != nil {
		return nil, dbErr("reading views", err)
	}
	if cat.Triggers, err = queryStrings(ctx, c, `SELECT pg_get_triggerdef(t.oid) || ';' ||
	      CASE t.tgenabled WHEN 'D' THEN format(E'\nALTER TABLE %s DISABLE TRIGGER %I;', t.tgrelid::regclass, t.tgname) ELSE '' END
	    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
	    WHERE NOT t.tgisinternal AND `+userNS+` AND `+notExt("pg_class", "c.oid")+` ORDER BY c.relname, t.tgname`); err != nil {
		return nil, dbErr("reading triggers", err)
	}
	return cat, nil
}

func readSequences(ctx context.Context, c *pgx.Conn, cat *catalog) error {
	rows, _ := c.Query(ctx, `SELECT format('%I.%I', n.nspname, c.relname), format_type(s.seqtypid, NULL),
	    s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle,
	    COALESCE(d.refobjid, 0), CASE WHEN a.attname IS NULL THEN '' ELSE format('%I', a.attname) END, COALESCE(d.deptype = 'i', false),
	    CASE WHEN a.attname IS NULL THEN '' ELSE format('%s.%I', d.refobjid::regclass, a.attname) END
	  FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
	  LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass
	       AND d.refobjsubid > 0 AND d.deptype IN ('a','i')
	  LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
	  WHERE `+userNS+` AND `+notExt("pg_class", "c.oid")+` ORDER BY c.oid`)
	var s sequence
	_, err := pgx.ForEachRow(rows, []any{&s.Ident, &s.Type, &s.Start, &s.Inc, &s.Min, &s.Max, &s.Cache, &s.Cycle,
		&s.OwnerTable, &s.OwnerColumn, &s.Identity, &s.OwnedBy}, func() error {
		ss := s
		cat.Sequences = append(cat.Sequences, &ss)
		return nil
	})
	if err != nil {
		return dbErr("reading sequences", err)
	}
	for _, s := range cat.Sequences {
		if err := c.QueryRow(ctx, "SELECT last_value, is_called FROM "+s.Ident).Scan(&s.Last, &s.IsCalled); err != nil {
			return dbErr("reading sequence "+s.Ident, err)
		}
	}
	return nil
}

func readColumns(ctx context.Context, c *pgx.Conn, byOID map[uint32]*table) error {
	rows, _ := c.Query(ctx, `SELECT a.attrelid, format('%I', a.attname), format_type(a.atttypid, a.atttypmod), a.attnotnull,
	    COALESCE(pg_get_expr(d.adbin, d.adrelid), ''), a.attidentity::text, a.attgenerated::text,
	    CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation THEN
	      (SELECT format('%I.%I', cn.nspname, co.collname) FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace
	       WHERE co.oid = a.attcollation) ELSE '' END
	  FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
	  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
	  WHERE a.attrelid IN (`+userTables+`) AND a.attnum > 0 AND NOT a.attisdropped
	  ORDER BY a.attrelid, a.attnum`)
	var oid uint32
	var col column
	_, err := pgx.ForEachRow(rows, []any{&oid, &col.Name, &col.Type, &col.NotNull, &col.Default, &col.Identity, &col.Generated, &col.Collation}, func() error {
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

func readConstraints(ctx context.Context, c *pgx.Conn, cat *catalog, byOID map[uint32]*table) error {
	rows, _ := c.Query(ctx, `SELECT k.conrelid, k.contype::text, k.convalidated,
	    format('CONSTRAINT %I %s', k.conname, pg_get_constraintdef(k.oid))
	  FROM pg_constraint k WHERE k.conrelid IN (`+userTables+`) AND k.contype IN ('c','p','u','x','f')
	  ORDER BY k.conrelid, k.conname`)
	var oid uint32
	var typ, def string
	var valid bool
	_, err := pgx.ForEachRow(rows, []any{&oid, &typ, &valid, &def}, func() error {
		t := byOID[oid]
		if t == nil {
			return nil
		}
		switch {
		case typ == "c" && valid:
			t.Checks = append(t.Checks, def)
		case typ == "c" || typ == "f":
			cat.Foreign = append(cat.Foreign, fmt.Sprintf("ALTER TABLE ONLY %s ADD %s;", t.Ident, def))
		default:
			cat.Keys = append(cat.Keys, fmt.Sprintf("ALTER TABLE ONLY %s ADD %s;", t.Ident, def))
		}
		return nil
	})
	if err != nil {
		return dbErr("reading constraints", err)
	}
	return nil
}
