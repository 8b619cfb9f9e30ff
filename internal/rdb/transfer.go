package rdb

import (
	"context"
	"strconv"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/redis/go-redis/v9"
)

// Replication transfer modes of a SYNC backup (Config.Transfer).
//
//   - TransferDiskless announces `capa eof`, as redis-cli --rdb does: a
//     server with repl-diskless-sync yes (the Redis 7 default) forks and
//     streams the RDB straight into the socket, without writing a file,
//     but first waits repl-diskless-sync-delay seconds (default 5) for
//     other replicas to join.
//   - TransferDisk does not announce it: the server forks at once, writes
//     its RDB file (dir/dbfilename, through a temporary file, exactly as
//     BGSAVE does) and sends that file. It costs the server's disk write
//     and free space for one more RDB, and saves the delay.
//   - TransferAuto (the default) picks disk when the server already saves
//     RDB snapshots on its own (a non-empty `save`, as the 3scale Redis
//     images configure) and diskless waits; diskless otherwise (no delay
//     configured, RDB snapshots off, or CONFIG refused), so a server whose
//     owner turned RDB files off never gets one written by a backup.
const (
	TransferAuto     = "auto"
	TransferDisk     = "disk"
	TransferDiskless = "diskless"
)

// checkTransfer normalises Config.Transfer.
func checkTransfer(t string) (string, error) {
	switch t {
	case "":
		return TransferAuto, nil
	case TransferAuto, TransferDisk, TransferDiskless:
		return t, nil
	}
	return "", errs.UsageError("use --redis-transfer auto, disk or diskless", "unknown redis transfer mode %q", t)
}

// chooseTransfer decides whether to announce `capa eof` (diskless) and
// says why, in words recorded in the snapshot's notes.
func (e *Engine) chooseTransfer(ctx context.Context, c *redis.Client) (eof bool, why string) {
	switch e.cfg.Transfer {
	case TransferDisk:
		return false, "disk-based transfer (--redis-transfer disk)"
	case TransferDiskless:
		return true, "diskless transfer asked for (--redis-transfer diskless)"
	}
	get := func(k string) (string, bool) {
		m, err := c.ConfigGet(ctx, k).Result()
		if err != nil {
			return "", false
		}
		v, ok := m[k]
		return v, ok
	}
	diskless, ok1 := get("repl-diskless-sync")
	delay, ok2 := get("repl-diskless-sync-delay")
	save, ok3 := get("save")
	if !ok1 || !ok2 || !ok3 {
		return true, "auto: CONFIG GET refused, diskless transfer (the server's repl-diskless-sync-delay applies)"
	}
	if diskless != "yes" {
		return false, "auto: repl-diskless-sync no, the server sends its RDB file"
	}
	if d, _ := strconv.Atoi(delay); d == 0 {
		return true, "auto: repl-diskless-sync-delay 0, diskless transfer starts at once"
	}
	if save != "" {
		return false, "auto: the server saves RDB snapshots (save " + save + "), disk-based transfer starts at once instead of waiting repl-diskless-sync-delay " + delay + "s"
	}
	return true, "auto: RDB snapshots are off (save \"\"), diskless transfer waits repl-diskless-sync-delay " + delay + "s rather than writing an RDB file on the server"
}
