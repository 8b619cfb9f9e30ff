package restore

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/errs"
)

// JournalLister lists the journals of a snapshot (the repository
// implements it).
type JournalLister interface {
	Store
	RestoreJournals(ctx context.Context, snapshot string) ([]string, error)
}

// targetDiff lists, component by component, where the first run wrote and
// where this run would ("system-mysql: mysql2://…@db1/system, now
// mysql2://…@db2/system"); empty when they agree. Components only one of
// the two has are left out: --components may differ on a resume.
func targetDiff(first, now map[string]string) []string {
	var out []string
	for c, was := range first {
		if is, ok := now[c]; ok && is != was {
			out = append(out, fmt.Sprintf("%s: first run %s, now %s", c, was, is))
		}
	}
	sort.Strings(out)
	return out
}

// resumeRefusal is the error of a --resume whose targets are not the
// interrupted run's: resuming would write the rest of the snapshot to
// other servers than its first steps.
func resumeRefusal(id string, diff []string) error {
	return errs.UsageError("resume with the connection flags of the interrupted run (the journal records them), or start over into the new servers: `3scale-ops restore --abandon "+id+"`, then restore without --resume; nothing was changed",
		"the interrupted restore of %s wrote to other servers than this run would: %s", id, strings.Join(diff, "; "))
}

// otherLocalRun finds, for a --local --resume whose targets match no
// journal (the journal key is a hash of the targets), an unfinished
// journal of the same snapshot written for other --local targets, and
// says how they differ (nil: none).
func otherLocalRun(ctx context.Context, s JournalLister, id string, now map[string]string) error {
	names, err := s.RestoreJournals(ctx, id)
	if err != nil {
		return err
	}
	for _, n := range names {
		if !strings.HasPrefix(n, id+"-local-") {
			continue
		}
		// Through LoadJournal, so only a journal of this very restore
		// counts; one that cannot be read is no evidence either way.
		j, found, err := LoadJournal(ctx, s, id, strings.TrimPrefix(n, id+"-"))
		if err != nil || !found || j.Finished || len(j.Targets) == 0 {
			continue
		}
		if d := targetDiff(j.Targets, now); len(d) > 0 {
			return resumeRefusal(id, d)
		}
	}
	return nil
}
