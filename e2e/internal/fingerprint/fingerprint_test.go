package fingerprint

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// changed requires that exactly the named entries differ between a and b.
func changed(t *testing.T, what string, a, b State, want ...string) {
	t.Helper()
	d := Diff(a, b, 0)
	if len(d) != len(want) {
		t.Fatalf("%s: want %d differences (%v), got %d:\n%s", what, len(want), want, len(d), strings.Join(d, "\n"))
	}
	for i, w := range want {
		if !strings.Contains(d[i], w) {
			t.Errorf("%s: difference %d is %q, want it to name %s", what, i, d[i], w)
		}
	}
}

// The fingerprint must see a one-row change, a trigger body change, a
// sequence move, a Redis value and TTL change, and a file mode change —
// and nothing when nothing changed.
func TestFingerprintSeesSmallChanges(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	my := testenv.MySQL(t)
	db, err := sql.Open("mysql", my.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE a (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(10)); INSERT INTO a (v) VALUES ('x'), ('y');" +
		"CREATE TRIGGER a_bi BEFORE INSERT ON a FOR EACH ROW SET NEW.v = LOWER(NEW.v)"); err != nil {
		t.Fatal(err)
	}
	m1, err := MySQL(ctx, my.DSN)
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := MySQL(ctx, my.DSN)
	changed(t, "mysql unchanged", m1, m2)
	if _, err := db.Exec("UPDATE a SET v = 'z' WHERE id = 2; DROP TRIGGER a_bi; CREATE TRIGGER a_bi BEFORE INSERT ON a FOR EACH ROW SET NEW.v = UPPER(NEW.v)"); err != nil {
		t.Fatal(err)
	}
	m3, _ := MySQL(ctx, my.DSN)
	changed(t, "mysql row and trigger", m1, m3, "table:a", "trigger:a_bi")

	pg := testenv.Postgres(t)
	c, err := pgx.Connect(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE TABLE e (id bigserial PRIMARY KEY, v text); INSERT INTO e (v) VALUES ('a'), ('b')"); err != nil {
		t.Fatal(err)
	}
	p1, err := Postgres(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "SELECT nextval('e_id_seq')"); err != nil {
		t.Fatal(err)
	}
	p2, _ := Postgres(ctx, pg.URL)
	changed(t, "postgres sequence", p1, p2, "sequence:e_id_seq")

	r := testenv.StartRedis(t, testenv.RedisOptions{ExtraConf: []string{"enable-debug-command local"}})
	rc := redis.NewClient(&redis.Options{Addr: r.Addr, DB: 2})
	defer rc.Close()
	rc.HSet(ctx, "h", "f", "1")
	rc.Set(ctx, "s", "v", 0)
	rc.Set(ctx, "minute", "1", 3*time.Minute) // expires by design: left out
	r1, err := Redis(ctx, r.Addr, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r1["db2:minute"]; ok || len(r1) != 2 {
		t.Fatalf("redis fingerprint: %v (want h and s, not the short-TTL key)", r1)
	}
	rc.HSet(ctx, "h", "f", "2")
	rc.Expire(ctx, "s", time.Hour)
	r2, _ := Redis(ctx, r.Addr, "")
	changed(t, "redis value and ttl", r1, r2, "db2:h", "db2:s")

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("f", filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	t1, _ := Tree(dir)
	if err := os.Chmod(filepath.Join(dir, "f"), 0o600); err != nil {
		t.Fatal(err)
	}
	t2, _ := Tree(dir)
	changed(t, "tree mode", t1, t2, "differs f")
	if t1["l"] != "symlink -> f" {
		t.Errorf("symlink entry: %q", t1["l"])
	}
}
