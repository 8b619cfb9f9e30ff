package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// flipByte XORs one byte in the middle of file p (calling it again undoes it).
func flipByte(t *testing.T, p string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		t.Fatalf("artifact %s: %v (size %d)", p, err, st.Size())
	}
	off := st.Size() / 2
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x5a
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// artifact finds the first stored file of a snapshot's component whose
// name contains part.
func artifact(t *testing.T, repoDir, id, component, part string) string {
	t.Helper()
	var found string
	_ = filepath.WalkDir(filepath.Join(repoDir, "snapshots", id, component), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && found == "" && strings.Contains(d.Name(), part) {
			found = p
		}
		return nil
	})
	if found == "" {
		t.Fatalf("no %s file matching %q in snapshot %s", component, part, id)
	}
	return found
}

// TestNegativeDrills proves that a restore refuses, before touching
// anything, what it cannot restore faithfully: a damaged artifact of each
// type, an unreachable target, a wrong encryption key and a target that
// holds data; and that verify catches a broken restore.
func TestNegativeDrills(t *testing.T) {
	src := newInstall(t)
	rep := src.seed(t)
	r := localRepo(t)
	repoDir := r.Args[1]
	id := backup(t, r, src)

	// A target that holds another installation: a restore that wrongly
	// went ahead would change it.
	dst := newInstall(t)
	dst.seedWith(t, 7, 2<<20)
	before := dst.state(t)
	untouched := func(t *testing.T, what string) {
		t.Helper()
		requireEqual(t, what+": the target changed", before, dst.state(t))
	}

	t.Run("corrupt artifacts", func(t *testing.T) {
		for _, c := range []struct{ component, part string }{
			{"system-mysql", ".sql"}, {"zync-postgres", ".copy"}, {"backend-redis", "dump.rdb"},
			{"system-redis", "dump.rdb"}, {"system-storage", "files.tar"}, {"verify", ""},
		} {
			p := artifact(t, repoDir, id, c.component, c.part)
			rel, _ := filepath.Rel(filepath.Join(repoDir, "snapshots", id), p)
			flipByte(t, p)
			res := run(t, r, append(dst.flags(), "restore", id, "--yes", "--drop-existing")...)
			flipByte(t, p)
			if res.Code != 3 {
				t.Errorf("%s damaged: restore exit %d, want 3\n%s", rel, res.Code, res)
				continue
			}
			if !strings.Contains(res.Stderr, rel) {
				t.Errorf("%s damaged: the error does not name the file: %s", rel, lastLines(res.Stderr, 3))
			}
			if !strings.Contains(res.Stdout, "preflight") || strings.Contains(res.Stdout, "system-mysql    done") {
				t.Errorf("%s damaged: refusal did not happen in preflight:\n%s", rel, res.Stdout)
			}
			t.Logf("%s damaged: exit %d: %s", rel, res.Code, lastLines(res.Stderr, 2))
			untouched(t, rel+" damaged")
			// The refused run leaves a failed journal; start the next one fresh.
			_ = os.Remove(journalFile(repoDir, id, "local"))
		}
	})

	t.Run("target not empty", func(t *testing.T) {
		res := run(t, r, append(dst.flags(), "restore", id, "--yes")...)
		_ = os.Remove(journalFile(repoDir, id, "local"))
		if res.Code == 0 || !strings.Contains(res.Stderr, "not empty") || !strings.Contains(res.Stderr, "table accounts") ||
			!strings.Contains(res.Stderr, "--drop-existing") {
			t.Errorf("restore into a database that holds tables: want a refusal naming them and --drop-existing\n%s", res)
		}
		t.Logf("exit %d: %s", res.Code, lastLines(res.Stderr, 2))
		untouched(t, "non-empty target")
	})

	t.Run("unreachable target", func(t *testing.T) {
		port, err := testenv.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		flags := dst.flags()
		for i, f := range flags {
			if f == "--system-redis-url" {
				flags[i+1] = "redis://127.0.0.1:" + strconv.Itoa(port) + "/1"
			}
		}
		res := run(t, r, append(flags, "restore", id, "--yes", "--drop-existing")...)
		_ = os.Remove(journalFile(repoDir, id, "local"))
		if res.Code == 0 || !strings.Contains(res.Stderr, "system-redis") || !strings.Contains(res.Stderr, strconv.Itoa(port)) {
			t.Errorf("restore with system-redis unreachable: want an error naming system-redis and its address\n%s", res)
		}
		t.Logf("exit %d: %s", res.Code, lastLines(res.Stderr, 2))
		untouched(t, "unreachable system-redis")
	})

	t.Run("wrong encryption key", func(t *testing.T) {
		dir := t.TempDir()
		good, bad := filepath.Join(dir, "good"), filepath.Join(dir, "bad")
		if err := os.WriteFile(good, []byte("correct horse battery staple\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bad, []byte("incorrect horse\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		er := &repo{Args: []string{"-r", filepath.Join(dir, "repo"), "--password-file", good}}
		eid := backup(t, er, src, "--components", "system-redis")
		wrong := &repo{Args: []string{"-r", filepath.Join(dir, "repo"), "--password-file", bad}}
		res := run(t, wrong, append(dst.flags(), "restore", eid, "--yes", "--drop-existing")...)
		msg := strings.ToLower(res.Stderr)
		if res.Code == 0 || !(strings.Contains(msg, "passphrase") || strings.Contains(msg, "key")) {
			t.Errorf("restore with the wrong passphrase: want a clear error about the key\n%s", res)
		}
		if strings.Contains(res.Stderr, "incorrect horse") || strings.Contains(res.Stdout, "incorrect horse") {
			t.Errorf("the passphrase appears in the output")
		}
		t.Logf("exit %d: %s", res.Code, lastLines(res.Stderr, 2))
		untouched(t, "wrong key")
	})

	t.Run("verify catches a broken restore", func(t *testing.T) {
		fresh := newInstall(t)
		mustRun(t, r, append(fresh.flags(), "restore", id, "--yes")...)
		mustRun(t, r, append(fresh.flags(), "verify", "--snapshot", id)...)
		// Remove one live application's keys from the restored backend-redis.
		var victim string
		var service int64
		for _, a := range rep.Samples {
			if a.State == "live" {
				victim, service = a.ApplicationID, a.ServiceID
				break
			}
		}
		if victim == "" {
			t.Fatal("the generated dataset has no live sample application")
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c := redis.NewClient(&redis.Options{Addr: fresh.Backend.Addr})
		defer c.Close()
		prefix := "application/service_id:" + strconv.FormatInt(service, 10) + "/id:" + victim + "/"
		keys, err := c.Keys(ctx, prefix+"*").Result()
		if err != nil || len(keys) == 0 {
			t.Fatalf("keys of application %s: %v (%d keys)", victim, err, len(keys))
		}
		if err := c.Del(ctx, keys...).Err(); err != nil {
			t.Fatal(err)
		}
		res := run(t, r, append(fresh.flags(), "verify", "--snapshot", id)...)
		if res.Code != 3 || !strings.Contains(res.Stdout+res.Stderr, victim) {
			t.Errorf("verify after removing application %s's keys: want exit 3 naming it\n%s", victim, res)
		}
		t.Logf("verify after removing application %s: exit %d:\n%s", victim, res.Code, res.Stdout)
	})
}
