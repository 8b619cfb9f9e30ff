package fingerprint

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	_ "github.com/go-sql-driver/mysql" // the MySQL driver
	"github.com/jackc/pgx/v5"
)

// definer matches DEFINER=`user`@`host` clauses: a restore may run as a
// different user, and a routine's body is what must survive.
var definer = regexp.MustCompile("DEFINER=`[^`]*`@`[^`]*`\\s*")

// autoIncrement is normalised out of table definitions: MariaDB reports
// the next value, which a restore reproduces, but we compare it
// separately (table:<name>:auto_increment) so a difference is named.
var autoIncrement = regexp.MustCompile(` AUTO_INCREMENT=\d+`)

// TableDefinition is SHOW CREATE TABLE of table without its
// AUTO_INCREMENT counter: the definition two databases must share.
func TableDefinition(ctx context.Context, db *sql.DB, table string) (string, error) {
	var name, create string
	if err := db.QueryRowContext(ctx, "SHOW CREATE TABLE `"+table+"`").Scan(&name, &create); err != nil {
		return "", fmt.Errorf("show create table %s: %w", table, err)
	}
	return autoIncrement.ReplaceAllString(create, ""), nil
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}

// MySQL fingerprints a MySQL/MariaDB database (go-sql-driver DSN): for each
// table its row count and CHECKSUM TABLE, its definition and AUTO_INCREMENT;
// each trigger and routine body without its definer.
func MySQL(ctx context.Context, dsn string) (State, error) {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	st := State{}
	tables, err := strs(ctx, db, "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name")
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	for _, t := range tables {
		var n int64
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM `"+t+"`").Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s: %w", t, err)
		}
		var name string
		var cs sql.NullInt64
		if err := db.QueryRowContext(ctx, "CHECKSUM TABLE `"+t+"`").Scan(&name, &cs); err != nil {
			return nil, fmt.Errorf("checksum %s: %w", t, err)
		}
		st["table:"+t] = fmt.Sprintf("rows=%d checksum=%d", n, cs.Int64)
		create, err := TableDefinition(ctx, db, t)
		if err != nil {
			return nil, err
		}
		st["table-def:"+t] = sum(create)
		var ai sql.NullInt64
		if err := db.QueryRowContext(ctx, "SELECT AUTO_INCREMENT FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?", t).Scan(&ai); err != nil {
			return nil, fmt.Errorf("auto_increment of %s: %w", t, err)
		}
		if ai.Valid {
			st["table-ai:"+t] = fmt.Sprint(ai.Int64)
		}
	}
	triggers, err := strs(ctx, db, "SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = DATABASE() ORDER BY trigger_name")
	if err != nil {
		return nil, fmt.Errorf("list triggers: %w", err)
	}
	for _, tr := range triggers {
		body, err := showCreate(ctx, db, "SHOW CREATE TRIGGER `"+tr+"`", 2)
		if err != nil {
			return nil, fmt.Errorf("show create trigger %s: %w", tr, err)
		}
		st["trigger:"+tr] = sum(definer.ReplaceAllString(body, ""))
	}
	rows, err := db.QueryContext(ctx, "SELECT routine_type, routine_name FROM information_schema.routines WHERE routine_schema = DATABASE() ORDER BY 1, 2")
	if err != nil {
		return nil, fmt.Errorf("list routines: %w", err)
	}
	var routines [][2]string
	for rows.Next() {
		var typ, name string
		if err := rows.Scan(&typ, &name); err != nil {
			rows.Close()
			return nil, err
		}
		routines = append(routines, [2]string{typ, name})
	}
	rows.Close()
	for _, r := range routines {
		body, err := showCreate(ctx, db, "SHOW CREATE "+r[0]+" `"+r[1]+"`", 2)
		if err != nil {
			return nil, fmt.Errorf("show create %s %s: %w", r[0], r[1], err)
		}
		st[strings.ToLower(r[0])+":"+r[1]] = sum(definer.ReplaceAllString(body, ""))
	}
	return st, nil
}

// showCreate returns column col of a SHOW CREATE statement.
func showCreate(ctx context.Context, db *sql.DB, q string, col int) (string, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", err
	}
	if !rows.Next() {
		return "", fmt.Errorf("no result")
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return "", err
	}
	return vals[col].String, rows.Err()
}

func strs(ctx context.Context, db *sql.DB, q string) ([]string, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Postgres fingerprints a PostgreSQL database: for each table in the
// public schema its row count and an md5 over its rows in text order, its
// columns; each index definition and each sequence's value.
func Postgres(ctx context.Context, url string) (State, error) {
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer c.Close(ctx)
	st := State{}
	tables, err := pgStrs(ctx, c, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	for _, t := range tables {
		var n int64
		var md5 string
		q := fmt.Sprintf(`SELECT count(*), md5(COALESCE(string_agg(t::text, E'\n' ORDER BY t::text), '')) FROM public.%s t`, pgx.Identifier{t}.Sanitize())
		if err := c.QueryRow(ctx, q).Scan(&n, &md5); err != nil {
			return nil, fmt.Errorf("digest %s: %w", t, err)
		}
		st["table:"+t] = fmt.Sprintf("rows=%d md5=%s", n, md5)
		cols, err := pgStrs(ctx, c, `SELECT column_name || ' ' || data_type || ' ' || is_nullable || ' ' || COALESCE(column_default, '')
			FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`, t)
		if err != nil {
			return nil, fmt.Errorf("columns of %s: %w", t, err)
		}
		st["columns:"+t] = sum(strings.Join(cols, "\n"))
	}
	idx, err := pgStrs(ctx, c, "SELECT indexname || '=' || indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1")
	if err != nil {
		return nil, fmt.Errorf("list indexes: %w", err)
	}
	for _, s := range idx {
		name, def, _ := strings.Cut(s, "=")
		st["index:"+name] = sum(def)
	}
	cons, err := pgStrs(ctx, c, `SELECT conrelid::regclass::text || '.' || conname || '=' || pg_get_constraintdef(oid) FROM pg_constraint
		WHERE connamespace = 'public'::regnamespace ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("list constraints: %w", err)
	}
	for _, s := range cons {
		name, def, _ := strings.Cut(s, "=")
		st["constraint:"+name] = sum(def)
	}
	seqs, err := pgStrs(ctx, c, "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1")
	if err != nil {
		return nil, fmt.Errorf("list sequences: %w", err)
	}
	for _, s := range seqs {
		var last int64
		var called bool
		if err := c.QueryRow(ctx, fmt.Sprintf("SELECT last_value, is_called FROM public.%s", pgx.Identifier{s}.Sanitize())).Scan(&last, &called); err != nil {
			return nil, fmt.Errorf("sequence %s: %w", s, err)
		}
		// The next value nextval() hands out is what must survive.
		next := last
		if called {
			next++
		}
		st["sequence:"+s] = fmt.Sprintf("next=%d", next)
	}
	return st, nil
}

func pgStrs(ctx context.Context, c *pgx.Conn, q string, args ...any) ([]string, error) {
	rows, err := c.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
