package zync

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/testenv"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// The route check reads a system database on PostgreSQL too (Porta's
// PostgreSQL schema: boolean provider and master).
func TestExpectedHostsOnPostgres(t *testing.T) {
	ctx := context.Background()
	d := testenv.Postgres(t)
	db, err := sql.Open("pgx", d.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	schema := strings.NewReplacer("tinyint(1) DEFAULT 0", "boolean DEFAULT false",
		",0,1,'approved')", ",false,true,'approved')", ",1,NULL,'approved')", ",true,NULL,'approved')",
		",1,0,'suspended')", ",true,false,'suspended')", ",0,0,'approved')", ",false,false,'approved')").Replace(porta)
	if _, err := db.Exec(schema); err != nil {
		t.Fatal(err)
	}
	var typ string
	if err := db.QueryRow("SELECT data_type FROM information_schema.columns WHERE table_name = 'accounts' AND column_name = 'master'").Scan(&typ); err != nil || typ != "boolean" {
		t.Fatalf("accounts.master is %q (%v), want boolean", typ, err)
	}
	exp, err := ExpectedHosts(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	var hosts []string
	for _, e := range exp {
		hosts = append(hosts, e.Host+">"+e.Target)
	}
	want := "acme-admin.example.com>system-provider acme.example.com>system-developer api-3scale-apicast-production.example.com>apicast-production " +
		"api-3scale-apicast-staging.example.com>apicast-staging master.example.com>system-master"
	if strings.Join(hosts, " ") != want {
		t.Fatalf("expected hosts on PostgreSQL:\n%s\nwant\n%s", strings.Join(hosts, " "), want)
	}
}
