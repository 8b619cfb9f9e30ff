package main

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/restore"
)

// abandonRestore removes the journal of an unfinished restore of a
// snapshot (and the stale lock its dead run left), so that a new restore
// can start from the beginning. With -n only that namespace's journal;
// otherwise every journal of the snapshot. A lock held by a live run is
// never removed (exit 4).
func abandonRestore(ctx context.Context, g *globals, snapshot string, yes bool) error {
	r, err := g.openRepository(ctx, false)
	if err != nil {
		return err
	}
	id, err := r.ResolveID(ctx, snapshot)
	if err != nil {
		return err
	}
	names, err := r.RestoreJournals(ctx, id)
	if err != nil {
		return err
	}
	if g.Namespace != "" {
		want := restore.JournalName(id, g.Namespace)
		var keep []string
		for _, n := range names {
			if n == want {
				keep = append(keep, n)
			}
		}
		names = keep
	}
	if len(names) == 0 {
		return errs.UsageError("see the journals under restores/ in the repository; nothing was changed",
			"no restore journal of snapshot %s%s", id, map[bool]string{true: " for namespace " + g.Namespace, false: ""}[g.Namespace != ""])
	}
	// Taking the lock removes a stale one (logged) and refuses while a
	// live restore holds it.
	lock, err := r.Lock(ctx, "restore", true)
	if err != nil {
		return err
	}
	defer lock.Release(context.WithoutCancel(ctx))
	if !yes {
		if !g.interactive() {
			return errs.UsageError("run again with --yes to remove "+strings.Join(names, ", "), "refusing to abandon a restore without confirmation in a non-interactive run")
		}
		fmt.Fprintf(g.Stderr, "Remove the restore journal(s) %s from %s? A later restore starts from the beginning. Type yes: ", strings.Join(names, ", "), r.Location())
		line, _ := bufio.NewReader(g.Stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			return errs.UsageError("run again and answer yes, or use --yes", "not confirmed; nothing was removed")
		}
	}
	for _, n := range names {
		if err := r.DeleteRestoreJournal(ctx, n); err != nil {
			return fmt.Errorf("remove restore journal %s: %w", n, err)
		}
		g.Log.Warn("restore journal removed (--abandon)", "journal", "restores/"+n+".json")
	}
	if g.JSON() {
		return g.printJSON(map[string]any{"abandoned": names, "snapshot": id})
	}
	g.printf("abandoned: %s (a new restore of %s starts from the beginning; the targets keep whatever the interrupted run wrote: restore with --drop-existing)\n", strings.Join(names, ", "), id)
	return nil
}
