package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/repo"
)

// twoSnapshots backs up a storage tree twice and returns the ids, oldest first.
func twoSnapshots(t *testing.T, base []string) (string, string) {
	t.Helper()
	var ids []string
	for range 2 {
		out, stderr, code := runCLI(t, append(base, "-o", "json", "backup", "--components", "system-storage")...)
		if code != 0 {
			t.Fatalf("backup: %d\n%s", code, stderr)
		}
		var s snapshotSummary
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("backup output: %v\n%s", err, out)
		}
		ids = append(ids, s.ID)
	}
	return ids[0], ids[1]
}

func TestDamagedNewestSnapshotIsVisibleAndPruneKeepsTheGoodOne(t *testing.T) {
	repoDir := t.TempDir() + "/repo"
	base := []string{"--local", "-r", repoDir, "--system-storage", "dir://" + storageTree(t)}
	good, bad := twoSnapshots(t, base)
	manifest := filepath.Join(repoDir, "snapshots", bad, "manifest.json")
	body, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(manifest, body[:len(body)/2], 0o600); err != nil {
		t.Fatal(err)
	}

	out, stderr, code := runCLI(t, append(base, "backups", "list")...)
	if code != 0 || !strings.Contains(out, good) || !strings.Contains(out, bad+" ") || !strings.Contains(out, "DAMAGED") ||
		!strings.Contains(stderr, "warning") || !strings.Contains(stderr, bad) {
		t.Fatalf("list with a truncated manifest: exit %d\n%s\n%s", code, out, stderr)
	}
	out, _, code = runCLI(t, append(base, "-o", "json", "backups", "list")...)
	var list []snapshotSummary
	if err := json.Unmarshal([]byte(out), &list); err != nil || code != 0 || len(list) != 2 {
		t.Fatalf("list -o json: %d %v\n%s", code, err, out)
	}
	if list[0].ID != good || list[0].Damaged != "" || list[1].ID != bad || !strings.Contains(list[1].Damaged, "manifest") {
		t.Fatalf("list -o json does not tell the damaged snapshot: %+v", list)
	}

	out, stderr, code = runCLI(t, append(base, "-o", "json", "backups", "show", "latest")...)
	var m repo.Manifest
	if err := json.Unmarshal([]byte(out), &m); err != nil || code != 0 || m.ID != good {
		t.Fatalf("latest is not the newest readable snapshot: %d %v %s %s", code, err, out, stderr)
	}

	for _, dry := range []bool{true, false} {
		args := append(base, "backups", "prune", "--keep-last", "1")
		if dry {
			args = append(args, "--dry-run")
		}
		out, stderr, code = runCLI(t, args...)
		if code != errs.Mismatch || !strings.Contains(stderr, bad) || !strings.Contains(stderr, "--forget-damaged") ||
			!strings.Contains(out, "DAMAGED") {
			t.Fatalf("prune (dry %v) with a damaged snapshot: exit %d\n%s\n%s", dry, code, out, stderr)
		}
		for _, id := range []string{good, bad} {
			if _, err := os.Stat(filepath.Join(repoDir, "snapshots", id)); err != nil {
				t.Fatalf("prune removed %s while a snapshot was damaged: %v", id, err)
			}
		}
	}

	out, stderr, code = runCLI(t, append(base, "-o", "json", "backups", "prune", "--keep-last", "1", "--forget-damaged")...)
	var pr repo.PruneResult
	if err := json.Unmarshal([]byte(out), &pr); err != nil || code != 0 || len(pr.Removed) != 1 || pr.Removed[0] != bad {
		t.Fatalf("prune --forget-damaged: %d %v\n%s\n%s", code, err, out, stderr)
	}
	if len(pr.Decisions) != 1 || pr.Decisions[0].ID != good || !pr.Decisions[0].Keep {
		t.Fatalf("prune --forget-damaged did not keep the readable snapshot: %+v", pr.Decisions)
	}
	if _, err := os.Stat(filepath.Join(repoDir, "snapshots", good, "manifest.json")); err != nil {
		t.Fatal("the readable snapshot is gone")
	}
}
