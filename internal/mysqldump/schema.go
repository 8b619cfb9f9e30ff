package mysqldump

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// column is one stored (non-generated) column and how its values are
// written as SQL literals.
type column struct {
	Name string
	Kind byte // kindNumber, kindString, kindBinary
}

const (
	kindString byte = iota
	kindNumber
	kindBinary
)

func columnKind(dataType string) byte {
	switch strings.ToLower(dataType) {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint",
		"decimal", "numeric", "float", "double", "real", "year":
		return kindNumber
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "bit",
		"geometry", "point", "linestring", "polygon", "multipoint", "multilinestring",
		"multipolygon", "geometrycollection", "geomcollection":
		return kindBinary
	}
	return kindString
}

// tableInfo is what the dump needs to know about one base table.
type tableInfo struct {
	Name    string
	Create  string
	Columns []column
	PK      []string
	IntPK   bool // single integer primary key column: chunkable by range
	// Versioned (system-versioned table): rows are read FOR SYSTEM_TIME
	// ALL, history included, with their row start and end columns, and
	// loaded with system_versioning_insert_history.
	Versioned bool
	EstRows   int64
	DataLen   int64
}

// schema is the database's objects, read inside the dump's snapshot.
type schema struct {
	Charset, Collation string
	Tables             []*tableInfo
	Collations         []string
	Views              []namedDDL
	Routines           []namedDDL
	Triggers           []namedDDL
	Events             []namedDDL
	Sequences          []sequenceDDL
	Skipped            []string // objects the dump does not carry
}

// namedDDL is a CREATE statement with the session settings it was
// created under (as mysqldump wraps it: character_set_client,
// collation_connection, sql_mode, and time_zone for events).
type namedDDL struct {
	Name, SQL, SQLMode, Collation, Charset, TimeZone string
	Definer                                          string // the DEFINER clause removed from SQL
	Table                                            string // a trigger's table
}

// sequenceDDL is a MariaDB sequence and the value its next NEXTVAL
// returns after a restart (next_not_cached_value).
type sequenceDDL struct {
	Name, SQL string
	Next      int64
}

func readSchema(ctx context.Context, c *sql.Conn, db string) (*schema, error) {
	s := &schema{}
	if err := c.QueryRowContext(ctx, `SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME
		FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?`, db).Scan(&s.Charset, &s.Collation); err != nil {
		return nil, fmt.Errorf("read database %s: %w", db, err)
	}
	colls := map[string]bool{s.Collation: true}
	byName := map[string]*tableInfo{}
	var views []string
	rows, err := c.QueryContext(ctx, `SELECT TABLE_NAME, TABLE_TYPE, COALESCE(TABLE_ROWS,0), COALESCE(DATA_LENGTH,0), COALESCE(TABLE_COLLATION,'')
		FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME`, db)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	for rows.Next() {
		var t tableInfo
		var typ, coll string
		if err := rows.Scan(&t.Name, &typ, &t.EstRows, &t.DataLen, &coll); err != nil {
			rows.Close()
			return nil, err
		}
		switch typ {
		case "BASE TABLE", "SYSTEM VERSIONED":
			t.Versioned = typ == "SYSTEM VERSIONED"
			s.Tables = append(s.Tables, &t)
			byName[t.Name] = &t
			if coll != "" {
				colls[coll] = true
			}
		case "VIEW", "SYSTEM VIEW":
			views = append(views, t.Name)
		case "SEQUENCE":
			s.Sequences = append(s.Sequences, sequenceDDL{Name: t.Name})
		default:
			s.Skipped = append(s.Skipped, strings.ToLower(typ)+" "+t.Name)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}

	rows, err = c.QueryContext(ctx, `SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, EXTRA, COALESCE(COLLATION_NAME,'')
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION`, db)
	if err != nil {
		return nil, fmt.Errorf("list columns: %w", err)
	}
	types := map[string]string{}
	for rows.Next() {
		var tn, cn, dt, extra, coll string
		if err := rows.Scan(&tn, &cn, &dt, &extra, &coll); err != nil {
			rows.Close()
			return nil, err
		}
		t := byName[tn]
		if t == nil {
			continue
		}
		if coll != "" {
			colls[coll] = true
		}
		types[tn+"\x00"+cn] = dt
		if strings.Contains(strings.ToUpper(extra), "GENERATED") {
			continue
		}
		t.Columns = append(t.Columns, column{Name: cn, Kind: columnKind(dt)})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list columns: %w", err)
	}

	rows, err = c.QueryContext(ctx, `SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE
		WHERE TABLE_SCHEMA = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY TABLE_NAME, ORDINAL_POSITION`, db)
	if err != nil {
		return nil, fmt.Errorf("list primary keys: %w", err)
	}
	for rows.Next() {
		var tn, cn string
		if err := rows.Scan(&tn, &cn); err != nil {
			rows.Close()
			return nil, err
		}
		if t := byName[tn]; t != nil {
			t.PK = append(t.PK, cn)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list primary keys: %w", err)
	}
	for _, t := range s.Tables {
		if len(t.PK) == 1 {
			switch types[t.Name+"\x00"+t.PK[0]] {
			case "tinyint", "smallint", "mediumint", "int", "bigint":
				t.IntPK = true
			}
		}
		var name string
		if err := c.QueryRowContext(ctx, "SHOW CREATE TABLE "+quoteIdent(t.Name)).Scan(&name, &t.Create); err != nil {
			return nil, fmt.Errorf("SHOW CREATE TABLE %s: %w", t.Name, err)
		}
		if t.Versioned {
			t.IntPK = false // history rows lie outside the current key range
			start, end := periodColumns(t.Create)
			t.Columns = append(t.Columns, column{Name: start, Kind: kindString}, column{Name: end, Kind: kindString})
		}
	}
	for k := range colls {
		s.Collations = append(s.Collations, k)
	}
	sort.Strings(s.Collations)

	for _, v := range views {
		m, err := showCreate(ctx, c, "SHOW CREATE VIEW "+quoteIdent(v))
		if err != nil {
			return nil, fmt.Errorf("SHOW CREATE VIEW %s: %w", v, err)
		}
		s.Views = append(s.Views, namedDDL{Name: v, SQL: unqualify(stripDefiner(m["Create View"]), db), Definer: definerOf(m["Create View"]),
			SQLMode: "", Collation: m["collation_connection"], Charset: m["character_set_client"]})
	}
	s.Views = orderViews(s.Views)

	for i := range s.Sequences {
		sq := &s.Sequences[i]
		m, err := showCreate(ctx, c, "SHOW CREATE SEQUENCE "+quoteIdent(sq.Name))
		if err != nil {
			return nil, fmt.Errorf("SHOW CREATE SEQUENCE %s: %w", sq.Name, err)
		}
		sq.SQL = m["Create Table"]
		if err := c.QueryRowContext(ctx, "SELECT next_not_cached_value FROM "+quoteIdent(sq.Name)).Scan(&sq.Next); err != nil {
			return nil, fmt.Errorf("read sequence %s: %w", sq.Name, err)
		}
	}
	if err := readEvents(ctx, c, db, s); err != nil {
		return nil, err
	}

	if err := readRoutines(ctx, c, db, s); err != nil {
		return nil, err
	}
	if err := readTriggers(ctx, c, db, s); err != nil {
		return nil, err
	}
	return s, nil
}

func readRoutines(ctx context.Context, c *sql.Conn, db string, s *schema) error {
	rows, err := c.QueryContext(ctx, `SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES
		WHERE ROUTINE_SCHEMA = ? AND ROUTINE_TYPE IN ('PROCEDURE','FUNCTION') ORDER BY ROUTINE_TYPE DESC, ROUTINE_NAME`, db)
	if err != nil {
		return fmt.Errorf("list routines: %w", err)
	}
	var list [][2]string
	for rows.Next() {
		var typ, name string
		if err := rows.Scan(&typ, &name); err != nil {
			rows.Close()
			return err
		}
		list = append(list, [2]string{typ, name})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list routines: %w", err)
	}
	for _, r := range list {
		typ, name := r[0], r[1]
		m, err := showCreate(ctx, c, "SHOW CREATE "+typ+" "+quoteIdent(name))
		if err != nil {
			return fmt.Errorf("SHOW CREATE %s %s: %w", typ, name, err)
		}
		body := m["Create "+titleCase(typ)]
		if body == "" {
			return fmt.Errorf("%s %s: the dump user may not read its definition (grant SELECT on mysql.proc, or SHOW_ROUTINE on MySQL 8)", strings.ToLower(typ), name)
		}
		s.Routines = append(s.Routines, namedDDL{Name: typ + " " + name, SQL: stripDefiner(body), Definer: definerOf(body),
			SQLMode: m["sql_mode"], Collation: m["collation_connection"], Charset: m["character_set_client"]})
	}
	return nil
}

func readTriggers(ctx context.Context, c *sql.Conn, db string, s *schema) error {
	names, err := queryNames(ctx, c, `SELECT CONCAT(TRIGGER_NAME, CHAR(0 USING utf8mb4), EVENT_OBJECT_TABLE) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?
		ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER`, db)
	if err != nil {
		return fmt.Errorf("list triggers: %w", err)
	}
	for _, nt := range names {
		n, table, _ := strings.Cut(nt, "\x00")
		m, err := showCreate(ctx, c, "SHOW CREATE TRIGGER "+quoteIdent(n))
		if err != nil {
			return fmt.Errorf("SHOW CREATE TRIGGER %s: %w", n, err)
		}
		s.Triggers = append(s.Triggers, namedDDL{Name: n, Table: table, SQL: stripDefiner(m["SQL Original Statement"]), Definer: definerOf(m["SQL Original Statement"]),
			SQLMode: m["sql_mode"], Collation: m["collation_connection"], Charset: m["character_set_client"]})
	}
	return nil
}

// showCreate runs a SHOW CREATE statement and returns its single row by
// column name.
func showCreate(ctx context.Context, c *sql.Conn, q string) (map[string]string, error) {
	rows, err := c.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("no row")
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	m := make(map[string]string, len(cols))
	for i, c := range cols {
		m[c] = vals[i].String
	}
	return m, rows.Err()
}

func titleCase(s string) string {
	s = strings.ToLower(s)
	return strings.ToUpper(s[:1]) + s[1:]
}

var definerRe = regexp.MustCompile("(?i)\\s*DEFINER\\s*=\\s*(?:CURRENT_USER(?:\\s*\\(\\s*\\))?|(?:`(?:[^`]|``)*`|'(?:[^']|'')*'|\"[^\"]*\"|[^@\\s]+)@(?:`(?:[^`]|``)*`|'(?:[^']|'')*'|\"[^\"]*\"|[^\\s]+))")

// stripDefiner removes the DEFINER clause of a CREATE VIEW, TRIGGER,
// PROCEDURE, FUNCTION or EVENT statement, so that the object is created by
// (and runs as) whoever restores it, whether or not the original account
// exists on the target. Only the clause in the statement's header is
// touched, never the body.
func stripDefiner(ddl string) string {
	head := ddl
	if i := headerEnd(ddl); i >= 0 {
		head = ddl[:i]
	}
	loc := definerRe.FindStringIndex(head)
	if loc == nil {
		return ddl
	}
	return ddl[:loc[0]] + ddl[loc[1]:]
}

var headerRe = regexp.MustCompile(`(?i)\b(VIEW|TRIGGER|PROCEDURE|FUNCTION|EVENT)\b`)

func headerEnd(ddl string) int {
	if loc := headerRe.FindStringIndex(ddl); loc != nil {
		return loc[1]
	}
	return -1
}

// unqualify removes the source database's qualifier from a view
// definition so that the view can be created in a database of another
// name.
func unqualify(ddl, db string) string {
	return strings.ReplaceAll(ddl, quoteIdent(db)+".", "")
}

// orderViews puts every view after the views its definition mentions.
func orderViews(vs []namedDDL) []namedDDL {
	out := make([]namedDDL, 0, len(vs))
	done := map[string]bool{}
	var visit func(v namedDDL, depth int)
	visit = func(v namedDDL, depth int) {
		if done[v.Name] || depth > len(vs) {
			return
		}
		for _, w := range vs {
			if w.Name != v.Name && strings.Contains(v.SQL, " "+quoteIdent(w.Name)) {
				visit(w, depth+1)
			}
		}
		if !done[v.Name] {
			done[v.Name] = true
			out = append(out, v)
		}
	}
	for _, v := range vs {
		visit(v, 0)
	}
	return out
}

// deferIndexes splits a SHOW CREATE TABLE statement into a CREATE TABLE
// without its secondary (KEY and UNIQUE KEY) indexes and one ALTER TABLE
// adding them, which is faster to build after the data is in. Tables with
// foreign keys or without a primary key are left as they are (alter is
// empty).
func deferIndexes(create string) (table, alter string) {
	lines := strings.Split(create, "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "CREATE TABLE ") {
		return create, ""
	}
	name := strings.TrimSuffix(strings.TrimPrefix(lines[0], "CREATE TABLE "), " (")
	end := len(lines) - 1
	for end > 0 && !strings.HasPrefix(lines[end], ")") {
		end--
	}
	body := lines[1:end]
	hasPK := false
	autoInc := ""
	for _, l := range body {
		t := strings.TrimSpace(l)
		switch {
		case strings.Contains(t, "FOREIGN KEY") && strings.HasPrefix(t, "CONSTRAINT "):
			return create, ""
		case strings.HasPrefix(t, "PRIMARY KEY "):
			hasPK = true
			if autoInc != "" && !strings.HasPrefix(t, "PRIMARY KEY ("+autoInc) {
				return create, "" // AUTO_INCREMENT column must stay first in some key
			}
		case strings.HasPrefix(t, "`") && strings.Contains(t, " AUTO_INCREMENT"):
			autoInc = t[:strings.Index(t[1:], "`")+2]
		}
	}
	if !hasPK {
		return create, ""
	}
	var keep, adds []string
	for _, l := range body {
		t := strings.TrimSuffix(strings.TrimSpace(l), ",")
		if strings.HasPrefix(t, "KEY ") || strings.HasPrefix(t, "UNIQUE KEY ") {
			adds = append(adds, "ADD "+t)
			continue
		}
		keep = append(keep, "  "+t)
	}
	if len(adds) == 0 {
		return create, ""
	}
	table = lines[0] + "\n" + strings.Join(keep, ",\n") + "\n" + strings.Join(lines[end:], "\n")
	return table, "ALTER TABLE " + name + " " + strings.Join(adds, ", ")
}

// queryNames runs a query whose rows are one string each (object names) and
// returns them in order.
func queryNames(ctx context.Context, c *sql.Conn, query string, args ...any) ([]string, error) {
	rows, err := c.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}
