package rdb

import (
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
)

// The transfer mode decides whether the server sends a file it wrote
// (length-prefixed) or streams it (EOF-marked); every mode must yield the
// same keys, and the snapshot must say which mode was used and why.
func TestSyncTransferModes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		o        testenv.RedisOptions
		transfer string
		want     string // FileMeta.Transfer
		note     string // in FileMeta.Notes
	}{
		{"auto, save points", testenv.RedisOptions{AppendOnly: true, Save: true}, "", "length-prefixed", "the server saves RDB snapshots"},
		{"auto, no save points", testenv.RedisOptions{AppendOnly: true}, TransferAuto, "eof-marker (diskless)", "RDB snapshots are off"},
		{"auto, no delay", testenv.RedisOptions{Save: true, ExtraConf: []string{"repl-diskless-sync-delay 0"}}, "", "eof-marker (diskless)", "repl-diskless-sync-delay 0"},
		{"auto, CONFIG renamed", testenv.RedisOptions{Save: true, ExtraConf: []string{"repl-diskless-sync-delay 1", `rename-command CONFIG ""`}}, "", "eof-marker (diskless)", "CONFIG GET refused"},
		{"disk", testenv.RedisOptions{}, TransferDisk, "length-prefixed", "--redis-transfer disk"},
		{"diskless", testenv.RedisOptions{Save: true, ExtraConf: []string{"repl-diskless-sync-delay 1"}}, TransferDiskless, "eof-marker (diskless)", "--redis-transfer diskless"},
		{"diskless, server disk-only", testenv.RedisOptions{ExtraConf: []string{"repl-diskless-sync no"}}, TransferDiskless, "length-prefixed", "--redis-transfer diskless"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := testenv.StartRedis(t, tc.o)
			fill(t, src)
			_, meta := backup(t, Config{Component: BackendRedis, Server: opts(src), Transfer: tc.transfer})
			fm := meta.Files[0]
			if fm.Path != "sync" || !fm.PointInTime || fm.Transfer != tc.want {
				t.Fatalf("path %q, point in time %v, transfer %q; want sync, true, %q", fm.Path, fm.PointInTime, fm.Transfer, tc.want)
			}
			if !strings.Contains(strings.Join(fm.Notes, "; "), tc.note) {
				t.Fatalf("notes %q do not say %q", fm.Notes, tc.note)
			}
			if fm.DBs[0].Keys != fm.InfoKeyspace["db0"] || fm.DBs[0].Keys == 0 {
				t.Fatalf("db0: %d keys in the RDB, %d in INFO", fm.DBs[0].Keys, fm.InfoKeyspace["db0"])
			}
		})
	}
}

func TestUnknownTransferIsUsageError(t *testing.T) {
	_, err := New(Config{Component: BackendRedis, Server: opts(&testenv.Redis{Addr: "127.0.0.1:1"}), Transfer: "tape"})
	if errs.Code(err) != errs.Usage || !strings.Contains(err.Error(), "tape") {
		t.Fatalf("got %v, want a usage error naming the mode", err)
	}
}
