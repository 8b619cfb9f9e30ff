package mysqldump

import (
	"fmt"
	"slices"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/errs"
)

// An exclusion names one object the user chose to leave out of a backup,
// as "KIND NAME": table (its schema, data and triggers), view, trigger,
// procedure, function, event or sequence; an object of a kind the engine
// does not carry is named as the backup's refusal lists it. Names are
// exact (case-sensitive, unquoted). Excluded objects are recorded in the
// snapshot's metadata.

var excludeKinds = []string{"table", "view", "trigger", "procedure", "function", "event", "sequence"}

const excludeUsage = `write --exclude-object as "system-mysql:KIND NAME" with KIND one of table, view, trigger, procedure, function, event, sequence`

// excludeObjects removes the excluded objects from sc and returns what
// was left out. It refuses an unknown kind, a name the database does not
// hold, and — unless excluded — objects the dump cannot carry.
func excludeObjects(sc *schema, exclude []string) ([]string, error) {
	want := map[string]bool{}
	for _, x := range exclude {
		kind, name, ok := strings.Cut(strings.TrimSpace(x), " ")
		kind, name = strings.ToLower(kind), strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, errs.New(errs.Usage, excludeUsage, "system-mysql: cannot exclude %q: want KIND NAME", x)
		}
		if !slices.Contains(excludeKinds, kind) && !slices.Contains(sc.Skipped, kind+" "+name) {
			return nil, errs.New(errs.Usage, excludeUsage, "system-mysql: cannot exclude %q: unknown object kind %q", x, kind)
		}
		want[kind+" "+name] = true
	}
	var out []string
	found := map[string]bool{}
	keep := func(key string) bool {
		if !want[key] {
			return true
		}
		found[key] = true
		out = append(out, key)
		return false
	}
	dropped := map[string]bool{}
	tables := sc.Tables[:0]
	for _, t := range sc.Tables {
		if keep("table " + t.Name) {
			tables = append(tables, t)
		} else {
			dropped[t.Name] = true
		}
	}
	sc.Tables = tables
	filter := func(list []namedDDL, kind func(namedDDL) string) []namedDDL {
		kept := list[:0]
		for _, d := range list {
			if d.Table != "" && dropped[d.Table] {
				if want["trigger "+d.Name] {
					found["trigger "+d.Name] = true
				}
				out = append(out, fmt.Sprintf("trigger %s (of excluded table %s)", d.Name, d.Table))
				continue
			}
			if keep(kind(d)) {
				kept = append(kept, d)
			}
		}
		return kept
	}
	sc.Views = filter(sc.Views, func(d namedDDL) string { return "view " + d.Name })
	sc.Triggers = filter(sc.Triggers, func(d namedDDL) string { return "trigger " + d.Name })
	// Routines and events are named "PROCEDURE p", "FUNCTION f", "EVENT e".
	lowerKind := func(d namedDDL) string {
		k, n, _ := strings.Cut(d.Name, " ")
		return strings.ToLower(k) + " " + n
	}
	sc.Routines = filter(sc.Routines, lowerKind)
	sc.Events = filter(sc.Events, lowerKind)
	seqs := sc.Sequences[:0]
	for _, s := range sc.Sequences {
		if keep("sequence " + s.Name) {
			seqs = append(seqs, s)
		}
	}
	sc.Sequences = seqs
	var refused []string
	for _, s := range sc.Skipped {
		if !keep(s) {
			continue
		}
		refused = append(refused, s)
	}
	for _, x := range exclude {
		kind, name, _ := strings.Cut(strings.TrimSpace(x), " ")
		key := strings.ToLower(kind) + " " + strings.TrimSpace(name)
		if !found[key] {
			return nil, errs.New(errs.Usage, "name an existing object exactly (case-sensitive, without quotes)",
				"system-mysql: cannot exclude %s: the database holds no such object", key)
		}
	}
	if len(refused) > 0 {
		var flags []string
		for _, o := range refused {
			flags = append(flags, fmt.Sprintf("--exclude-object %q", "system-mysql:"+o))
		}
		return nil, errs.New(errs.Usage, "leave them out explicitly with "+strings.Join(flags, " ")+" (they are recorded in the snapshot), or drop them from the database",
			"system-mysql: the dump cannot carry these objects: %s", strings.Join(refused, "; "))
	}
	return out, nil
}
