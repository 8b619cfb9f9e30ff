package engines

import (
	"slices"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
)

// --exclude-object values go to the component they name; unprefixed ones
// stay zync-postgres's; an unknown component is refused.
func TestExcludeForRoutesByComponent(t *testing.T) {
	all := []string{"table public.audit_log", "system-mysql:table scratch", "zync-postgres:subscription sub1", "system-mysql:procedure tmp"}
	sys, err := excludeFor("system-mysql", all)
	if err != nil || !slices.Equal(sys, []string{"table scratch", "procedure tmp"}) {
		t.Fatalf("system-mysql exclusions %v (%v)", sys, err)
	}
	zync, err := excludeFor("zync-postgres", all)
	if err != nil || !slices.Equal(zync, []string{"table public.audit_log", "subscription sub1"}) {
		t.Fatalf("zync-postgres exclusions %v (%v)", zync, err)
	}
	if _, err := excludeFor("system-mysql", []string{"backend-redis:key foo"}); err == nil || errs.Code(err) != errs.Usage || !strings.Contains(err.Error(), `"backend-redis"`) {
		t.Fatalf("unknown component: %v", err)
	}
}

// A system-mysql component is restored only into a database of the engine
// that wrote it.
func TestSystemDBSnapshotEngine(t *testing.T) {
	my, pg := artifact.NewMemory(), artifact.NewMemory()
	if err := my.Set("mysql", map[string]int{"format": 1}); err != nil {
		t.Fatal(err)
	}
	if err := pg.Set("server_version_num", 150004); err != nil {
		t.Fatal(err)
	}
	if SnapshotEngine(my) != "mysql" || SnapshotEngine(pg) != "postgresql" || SnapshotEngine(artifact.NewMemory()) != "" {
		t.Fatal("snapshot engine misread")
	}
	if err := crossEngine(pg, "mysql"); err == nil || !strings.Contains(err.Error(), "holds a PostgreSQL system database and the target is MySQL/MariaDB") {
		t.Fatalf("PostgreSQL snapshot into MySQL: %v", err)
	}
	if err := crossEngine(my, "postgresql"); err == nil || errs.Code(err) != errs.Usage {
		t.Fatalf("MySQL snapshot into PostgreSQL: %v", err)
	}
	if crossEngine(pg, "postgresql") != nil || crossEngine(my, "mysql") != nil {
		t.Fatal("same engine refused")
	}
}
