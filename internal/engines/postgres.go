package engines

import (
	"context"
	"errors"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/mysqldump"
	"github.com/3scale-ops/3scale-ops/internal/pgdump"
)

// postgresEngine builds the PostgreSQL engine for db (zync's database, or
// the system database when Porta runs on PostgreSQL).
func postgresEngine(db config.DB, name string, o Options) (*pgdump.Engine, error) {
	u, err := db.PostgresURL()
	if err != nil {
		return nil, err
	}
	e := pgdump.New(u)
	if e.Exclude, err = excludeFor(name, o.Exclude); err != nil {
		return nil, err
	}
	e.WithGrants = o.WithGrants
	if e.Config, err = db.PostgresConfig(nil); err != nil {
		return nil, err
	}
	if t := db.TLS; t.On() {
		e.TLS = &pgdump.TLS{Mode: t.Mode, CA: t.CA, Cert: t.Cert, Key: t.Key, Verifies: t.Verifies()}
	}
	e.DropExisting = o.DropExisting
	return e, nil
}

// SnapshotEngine says which engine wrote a system-mysql component:
// "mysql" (mysqldump's metadata) or "postgresql" (pgdump's), "" when it
// holds neither.
func SnapshotEngine(src artifact.Source) string {
	var raw any
	if err := src.Get(mysqldump.MetaKey, &raw); err == nil {
		return "mysql"
	}
	var v int
	if err := src.Get("server_version_num", &v); err == nil {
		return "postgresql"
	}
	return ""
}

// systemPG is the PostgreSQL engine backing up the system database: it
// refuses, before anything is touched, a snapshot whose system-mysql was
// written by the MySQL engine.
type systemPG struct{ *pgdump.Engine }

// PlanAction is the restore plan's description of the step.
func (s *systemPG) PlanAction() string {
	return "PostgreSQL system database: load the schema (pg_dump pre-data), COPY data in parallel, then constraints, indexes, triggers and sequences; compare row counts"
}

func (s *systemPG) Preflight(ctx context.Context, src artifact.Source) error {
	if err := crossEngine(src, "postgresql"); err != nil {
		return err
	}
	return s.Engine.Preflight(ctx, src)
}

// systemMySQL is the MySQL engine of the system database, refusing a
// snapshot whose system-mysql was written by the PostgreSQL engine.
type systemMySQL struct{ *mysqldump.Engine }

func (s *systemMySQL) Preflight(ctx context.Context, src artifact.Source) error {
	if err := crossEngine(src, "mysql"); err != nil {
		return err
	}
	return s.Engine.Preflight(ctx, src)
}

// crossEngine refuses restoring a system-mysql component into a database
// of the other engine.
func crossEngine(src artifact.Source, target string) error {
	got := SnapshotEngine(src)
	if got == "" || got == target {
		return nil
	}
	return errs.Wrap(errs.Usage, errors.New("system-mysql: the snapshot holds a "+engineWord(got)+" system database and the target is "+engineWord(target)),
		"restore into a "+engineWord(got)+" system database (3scale-ops does not convert between MySQL and PostgreSQL)")
}

func engineWord(k string) string {
	if k == "postgresql" {
		return "PostgreSQL"
	}
	return "MySQL/MariaDB"
}

// excludeFor returns the --exclude-object values meant for component
// name. A value is "COMPONENT:KIND NAME" (system-mysql or zync-postgres);
// one without a component is zync-postgres's, as before components could
// be named.
func excludeFor(name string, all []string) ([]string, error) {
	var out []string
	for _, x := range all {
		comp, rest := config.ZyncDB, strings.TrimSpace(x)
		if c, r, ok := strings.Cut(rest, ":"); ok && !strings.Contains(c, " ") {
			comp, rest = c, strings.TrimSpace(r)
		}
		if comp != config.ZyncDB && comp != config.SystemDB {
			return nil, errs.UsageError(`write --exclude-object as "system-mysql:KIND NAME" or "zync-postgres:KIND NAME"`,
				"--exclude-object %q: component %q has no objects to exclude", x, comp)
		}
		if comp == name {
			out = append(out, rest)
		}
	}
	return out, nil
}
