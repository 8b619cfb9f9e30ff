package pgdump

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/3scale-ops/3scale-ops/internal/errs"
)

// An exclusion names one object the user chose to leave out of the
// backup, as "KIND NAME": "table schema.name" (schema and data; pg_dump's
// --exclude-table), "subscription name" or "security-label OBJECT" (as
// the error listing them prints it).

// unreproducible lists what a restore could not bring back exactly:
// subscriptions (restoring one would start replicating into the restored
// database, so pg_dump is run with --no-subscriptions) and security
// labels (they need the label provider on the target).
func unreproducible(ctx context.Context, c *pgx.Conn) ([]string, error) {
	objs, err := queryStrings(ctx, c, `SELECT 'subscription ' || s.subname FROM pg_subscription s
	    WHERE s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())
	  UNION ALL SELECT 'security-label ' || pg_describe_object(l.classoid, l.objoid, l.objsubid) FROM pg_seclabel l
	  ORDER BY 1`)
	if err != nil {
		return nil, dbErr("listing subscriptions and security labels", err)
	}
	return objs, nil
}

// excludedTable is a table left out: its identifier and the pg_dump
// pattern matching exactly it.
type excludedTable struct{ Ident, Pattern string }

// checkExclusions refuses objects the restore cannot reproduce unless the
// user excluded each by name, and refuses exclusions of unknown kinds.
// It returns the excluded tables.
func (e *Engine) checkExclusions(ctx context.Context, c *pgx.Conn) (tables []excludedTable, err error) {
	excluded := map[string]bool{}
	for _, x := range e.Exclude {
		kind, name, _ := strings.Cut(strings.TrimSpace(x), " ")
		switch kind {
		case "table":
			t, err := tableIdent(ctx, c, name)
			if err != nil {
				return nil, err
			}
			tables = append(tables, t)
			e.log().Warn("zync-postgres: left out of the backup as asked", "object", "table "+t.Ident)
		case "subscription", "security-label":
		default:
			return nil, errs.New(errs.Usage, `write --exclude-object as "table SCHEMA.NAME", "subscription NAME" or "security-label OBJECT"`,
				"zync-postgres: cannot exclude %q: unknown object kind %q", x, kind)
		}
		excluded[kind+" "+strings.TrimSpace(name)] = true
	}
	objs, err := unreproducible(ctx, c)
	if err != nil {
		return nil, err
	}
	var refused []string
	for _, o := range objs {
		if excluded[o] {
			e.log().Warn("zync-postgres: left out of the backup as asked", "object", o)
			continue
		}
		refused = append(refused, o)
	}
	if len(refused) > 0 {
		var flags []string
		for _, o := range refused {
			flags = append(flags, fmt.Sprintf("--exclude-object %q", o))
		}
		return nil, errs.New(errs.Usage, "leave them out explicitly with "+strings.Join(flags, " ")+" (they are recorded in the snapshot), or drop them from the database",
			"zync-postgres: a restore cannot reproduce these objects exactly: %s", strings.Join(refused, "; "))
	}
	return tables, nil
}

// tableIdent resolves "schema.name" to an existing table; the pattern
// double-quotes both parts, so that pg_dump matches no other name.
func tableIdent(ctx context.Context, c *pgx.Conn, name string) (excludedTable, error) {
	schema, rel, ok := strings.Cut(name, ".")
	if !ok {
		schema, rel = "public", name
	}
	var t excludedTable
	err := c.QueryRow(ctx, `SELECT format('%I.%I', n.nspname, c.relname),
	    '"' || replace(n.nspname, '"', '""') || '"."' || replace(c.relname, '"', '""') || '"'
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	  WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r','p','f','v','m')`, schema, rel).Scan(&t.Ident, &t.Pattern)
	if err == pgx.ErrNoRows {
		return t, errs.New(errs.Usage, "give an existing table as SCHEMA.NAME", "zync-postgres: cannot exclude table %s: no such table", name)
	}
	if err != nil {
		return t, dbErr("looking up table "+name, err)
	}
	return t, nil
}

// dropExcluded removes excluded tables, and the sequences they own, from
// what the dump copies, and returns the owned sequences for pg_dump to
// leave out too (it would keep them, without their owner).
func dropExcluded(ctx context.Context, c *pgx.Conn, cat *catalog, ex []excludedTable) ([]excludedTable, error) {
	if len(ex) == 0 {
		return nil, nil
	}
	skip := map[string]bool{}
	var idents []string
	for _, t := range ex {
		skip[t.Ident] = true
		idents = append(idents, t.Ident)
	}
	rows, _ := c.Query(ctx, `SELECT format('%I.%I', n.nspname, s.relname),
	    '"' || replace(n.nspname, '"', '""') || '"."' || replace(s.relname, '"', '""') || '"'
	  FROM pg_depend d JOIN pg_class s ON s.oid = d.objid JOIN pg_namespace n ON n.oid = s.relnamespace
	  WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND s.relkind = 'S'
	    AND d.deptype IN ('a','i') AND d.refobjid = ANY($1::regclass[])`, idents)
	owned, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (excludedTable, error) {
		var t excludedTable
		err := r.Scan(&t.Ident, &t.Pattern)
		return t, err
	})
	if err != nil {
		return nil, dbErr("listing sequences of excluded tables", err)
	}
	for _, o := range owned {
		skip[o.Ident] = true
	}
	var tables []*table
	for _, t := range cat.Tables {
		if !skip[t.Ident] {
			tables = append(tables, t)
		}
	}
	var seqs []*sequence
	for _, s := range cat.Sequences {
		if !skip[s.Ident] {
			seqs = append(seqs, s)
		}
	}
	cat.Tables, cat.Sequences = tables, seqs
	return owned, nil
}
