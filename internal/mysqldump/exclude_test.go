package mysqldump

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
)

const excludeSchema = `
CREATE TABLE kept (id int PRIMARY KEY, v varchar(10));
CREATE TABLE scratch (id int PRIMARY KEY, v varchar(10));
INSERT INTO kept VALUES (1, 'a'), (2, 'b');
INSERT INTO scratch VALUES (1, 'x');
CREATE VIEW kept_v AS SELECT id FROM kept;
CREATE TRIGGER scratch_bi BEFORE INSERT ON scratch FOR EACH ROW SET NEW.v = UPPER(NEW.v);
CREATE TRIGGER kept_bi BEFORE INSERT ON kept FOR EACH ROW SET NEW.v = LOWER(NEW.v);
DELIMITER ;;
CREATE PROCEDURE tmp_cleanup() BEGIN DELETE FROM kept WHERE id < 0; END;;
CREATE FUNCTION kept_count() RETURNS int READS SQL DATA RETURN (SELECT COUNT(*) FROM kept);;
DELIMITER ;
`

// TestExcludeObject: objects named with --exclude-object are left out of
// the backup — a table with its data and its triggers, a procedure — and
// recorded in the snapshot; everything else restores exactly. An unknown
// kind and a name the database does not hold are refused before any data
// is read.
func TestExcludeObject(t *testing.T) {
	ctx := context.Background()
	src := testenv.MySQL(t)
	execScript(t, openDB(t, src.DSN), excludeSchema)
	mem := artifact.NewMemory()
	if err := newEngine(t, src.DSN, Options{Workers: 2, Exclude: []string{"table scratch", "procedure tmp_cleanup"}}).Backup(ctx, mem, nil); err != nil {
		t.Fatalf("backup: %v", err)
	}
	m := metaOf(t, mem)
	want := []string{"table scratch", "trigger scratch_bi (of excluded table scratch)", "procedure tmp_cleanup"}
	for _, w := range want {
		if !slices.Contains(m.Excluded, w) {
			t.Errorf("snapshot metadata does not record %q as excluded: %v", w, m.Excluded)
		}
	}
	dst := testenv.MySQL(t)
	if _, err := newEngine(t, dst.DSN, Options{Workers: 2}).Restore(ctx, mem, nil); err != nil {
		t.Fatalf("restore: %v", err)
	}
	got, srcObjs := objects(t, openDB(t, dst.DSN), dst.Name), objects(t, openDB(t, src.DSN), src.Name)
	for _, gone := range []string{"table scratch", "scratch_bi", "PROCEDURE tmp_cleanup"} {
		if _, ok := got[gone]; ok {
			t.Errorf("%s was excluded but is in the restored database", gone)
		}
		delete(srcObjs, gone)
	}
	if len(got) != len(srcObjs) || len(got) != 4 {
		t.Errorf("restored objects %d, want the source's %d other objects", len(got), len(srcObjs))
	}
	for k, v := range srcObjs {
		if got[k] != v {
			t.Errorf("%s differs after restore:\n want %s\n got  %s", k, v, got[k])
		}
	}
	if n := queryInt(t, openDB(t, dst.DSN), "SELECT COUNT(*) FROM kept"); n != 2 {
		t.Errorf("kept has %d rows, want 2", n)
	}

	for _, c := range []struct{ exclude, want string }{
		{"table nosuch", "cannot exclude table nosuch: the database holds no such object"},
		{"index kept.PRIMARY", `unknown object kind "index"`},
		{"scratch", "want KIND NAME"},
	} {
		err := newEngine(t, src.DSN, Options{Workers: 2, Exclude: []string{c.exclude}}).Backup(ctx, artifact.NewMemory(), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) || errs.Code(err) != errs.Usage || errs.Hint(err) == "" {
			t.Errorf("exclude %q: %v (hint %q); want a usage error containing %q", c.exclude, err, errs.Hint(err), c.want)
		}
	}
}
