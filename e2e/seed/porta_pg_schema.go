package seed

import (
	"fmt"
	"strings"
)

// Porta on PostgreSQL. Porta keeps one schema per database engine
// (db/schema.rb for MySQL, db/postgres_schema.rb for PostgreSQL), the
// same tables and columns in each engine's types; its tenant_id triggers
// are PL/pgSQL functions (tp_<table>_tenant_id) called by BEFORE INSERT
// triggers, and sp_invoices_friendly_id is a function returning void.
//
// The tables here are the same subset as portaTables, translated by
// Porta's PostgreSQL conventions: bigserial ids, booleans for tinyint(1),
// timestamp without time zone for datetime, text for mediumtext,
// character varying(n), numeric(p,s), and a signed bigint for
// usage_limits.value (Porta's PostgreSQL column has no unsigned form, so
// an "unlimited" limit is 9223372036854775807 there).

// pgTableDDL is one translated table: CREATE TABLE, then its indexes.
type pgTableDDL struct {
	name    string
	create  string
	indexes []string
}

// portaPGTables translates portaTables.
func portaPGTables() ([]pgTableDDL, error) {
	out := make([]pgTableDDL, 0, len(portaTables))
	for _, ddl := range portaTables {
		t, err := translateTable(ddl)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func translateTable(ddl string) (pgTableDDL, error) {
	name := tableName(ddl)
	open, close := strings.IndexByte(ddl, '('), strings.LastIndexByte(ddl, ')')
	if open < 0 || close < open {
		return pgTableDDL{}, fmt.Errorf("table %s: no column list", name)
	}
	t := pgTableDDL{name: name}
	var cols []string
	for _, part := range splitTop(ddl[open+1 : close]) {
		part = strings.TrimSpace(part)
		f := strings.Fields(part)
		switch {
		case strings.HasPrefix(part, "PRIMARY KEY"):
			cols = append(cols, part)
		case strings.HasPrefix(part, "UNIQUE KEY "), strings.HasPrefix(part, "KEY "):
			unique := ""
			if f[0] == "UNIQUE" {
				unique, f = "UNIQUE ", f[1:]
			}
			list := part[strings.IndexByte(part, '('):]
			t.indexes = append(t.indexes, fmt.Sprintf("CREATE %sINDEX %s ON %s USING btree %s", unique, f[1], name, indexColumns(list)))
		default:
			c, err := translateColumn(name, part)
			if err != nil {
				return pgTableDDL{}, err
			}
			cols = append(cols, c)
		}
	}
	t.create = "CREATE TABLE " + name + " (\n  " + strings.Join(cols, ",\n  ") + "\n)"
	return t, nil
}

// splitTop splits s at commas outside parentheses.
func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// indexColumns drops MySQL prefix lengths: "(user_key(255))" → "(user_key)".
func indexColumns(list string) string {
	inner := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(list), "("), ")")
	var cols []string
	for _, c := range strings.Split(inner, ",") {
		c = strings.TrimSpace(c)
		if i := strings.IndexByte(c, '('); i > 0 {
			c = c[:i]
		}
		cols = append(cols, pgIdent(c))
	}
	return "(" + strings.Join(cols, ", ") + ")"
}

func pgIdent(c string) string {
	c = strings.Trim(c, "`")
	switch c {
	case "key", "timestamp":
		return `"` + c + `"`
	}
	return c
}

var pgTypes = map[string]string{
	"datetime": "timestamp without time zone", "mediumtext": "text", "text": "text", "int": "integer",
	"bigint": "bigint", "date": "date", "tinyint(1)": "boolean",
}

func translateColumn(table, def string) (string, error) {
	f := strings.Fields(def)
	if len(f) < 2 {
		return "", fmt.Errorf("table %s: column %q", table, def)
	}
	col, typ, rest := pgIdent(f[0]), f[1], f[2:]
	pt, ok := pgTypes[typ]
	switch {
	case ok:
	case strings.HasPrefix(typ, "varchar("):
		pt = "character varying" + strings.TrimPrefix(typ, "varchar")
	case strings.HasPrefix(typ, "decimal("):
		pt = "numeric" + strings.TrimPrefix(typ, "decimal")
	default:
		return "", fmt.Errorf("table %s column %s: no PostgreSQL type for %s", table, col, typ)
	}
	var out []string
	for i := 0; i < len(rest); i++ {
		switch w := rest[i]; w {
		case "unsigned": // Porta's PostgreSQL bigint is signed
		case "AUTO_INCREMENT":
			pt = "bigserial"
		case "DEFAULT":
			i++
			v := rest[i]
			if b, ok := map[string]string{"0": "false", "1": "true"}[v]; ok && pt == "boolean" {
				v = b
			}
			if v != "NULL" {
				out = append(out, "DEFAULT "+v)
			}
		default:
			out = append(out, w)
		}
	}
	return strings.TrimSpace(col + " " + pt + " " + strings.Join(out, " ")), nil
}

// pgTriggerDDL returns Porta's tenant_id trigger functions and triggers
// for PostgreSQL, with the master id baked in as Porta does.
func pgTriggerDDL(masterID int64) []string {
	var out []string
	for _, t := range sortedKeys(tenantParent) {
		q := strings.ReplaceAll(tenantParent[t], "%[1]d", "master_id")
		q = strings.ReplaceAll(q, " FROM DUAL", "")
		out = append(out, fmt.Sprintf(`CREATE FUNCTION tp_%[1]s_tenant_id() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  master_id numeric;
BEGIN
  master_id := %[2]d;
  IF NEW.tenant_id IS NULL THEN
    NEW.tenant_id := (%[3]s);
  END IF;
  RETURN NEW;
EXCEPTION
  WHEN NO_DATA_FOUND THEN
    RAISE EXCEPTION 'Could not find tenant_id in %[1]s_tenant_id';
END;
$$`, t, masterID, q),
			fmt.Sprintf("CREATE TRIGGER %[1]s_tenant_id BEFORE INSERT ON %[1]s FOR EACH ROW EXECUTE PROCEDURE tp_%[1]s_tenant_id()", t))
	}
	return out
}

// pgProcedureDDL is sp_invoices_friendly_id for PostgreSQL.
const pgProcedureDDL = `CREATE FUNCTION sp_invoices_friendly_id(invoice_id numeric) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_provider bigint;
  v_prefix varchar(255);
  v_count integer;
BEGIN
  SELECT provider_account_id, TO_CHAR(COALESCE(period, created_at::date), 'YYYY-MM') INTO v_provider, v_prefix FROM invoices WHERE id = invoice_id;
  INSERT INTO invoice_counters (provider_account_id, invoice_prefix, invoice_count, created_at, updated_at)
    VALUES (v_provider, v_prefix, 1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')
    ON CONFLICT (provider_account_id, invoice_prefix) DO UPDATE SET invoice_count = invoice_counters.invoice_count + 1, updated_at = now() AT TIME ZONE 'UTC';
  SELECT invoice_count INTO v_count FROM invoice_counters WHERE provider_account_id = v_provider AND invoice_prefix = v_prefix;
  UPDATE invoices SET friendly_id = v_prefix || '-' || LPAD(v_count::text, 8, '0') WHERE id = invoice_id;
END;
$$`
