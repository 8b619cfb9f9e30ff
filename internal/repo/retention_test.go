package repo

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// retentionSnapshots: irregular history over 14 months: several per day
// recently, one a day before that, gaps, and two in the same second.
func retentionSnapshots() []SnapshotRef {
	base := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	var out []SnapshotRef
	add := func(t time.Time, suffix string) {
		id := t.Format(idTimeLayout) + "-" + suffix
		out = append(out, SnapshotRef{ID: id, Time: t, Complete: true})
	}
	for h := 0; h < 30; h += 3 { // every 3 hours for 30 hours
		add(base.Add(-time.Duration(h)*time.Hour), "aaaaaa")
	}
	for d := 2; d < 60; d++ { // daily, with a gap of a week
		if d >= 20 && d < 27 {
			continue
		}
		add(base.AddDate(0, 0, -d), "bbbbbb")
	}
	for d := 60; d < 430; d += 9 { // sparse older history
		add(base.AddDate(0, 0, -d).Add(7*time.Hour), "cccccc")
	}
	add(base.AddDate(0, 0, -5), "dddddd") // same second as a daily one
	return out
}

func TestApplyPolicyGolden(t *testing.T) {
	cases := []struct {
		name string
		p    Policy
	}{
		{"empty", Policy{}},
		{"last-3", Policy{Last: 3}},
		{"hourly-5", Policy{Hourly: 5}},
		{"daily-7", Policy{Daily: 7}},
		{"weekly-4", Policy{Weekly: 4}},
		{"monthly-6", Policy{Monthly: 6}},
		{"last-2-daily-7-weekly-4-monthly-12", Policy{Last: 2, Daily: 7, Weekly: 4, Monthly: 12}},
		{"more-than-exist", Policy{Daily: 1000}},
	}
	snaps := retentionSnapshots()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b strings.Builder
			kept := 0
			for _, d := range ApplyPolicy(snaps, c.p) {
				mark := "remove"
				if d.Keep {
					mark, kept = "keep  ", kept+1
				}
				fmt.Fprintf(&b, "%s %s  %s\n", mark, d.ID, strings.Join(d.Reasons, ", "))
			}
			got := b.String()
			golden := filepath.Join("testdata", "retention-"+c.name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestApplyPolicyGolden -update once, and review the file)", err)
			}
			if got != string(want) {
				t.Errorf("policy %+v: decisions differ from %s:\n%s", c.p, golden, got)
			}
		})
	}
}

// Properties that hold whatever the data, checked independently of the golden files.
func TestApplyPolicyRules(t *testing.T) {
	snaps := retentionSnapshots()
	count := func(p Policy) int {
		n := 0
		for _, d := range ApplyPolicy(snaps, p) {
			if d.Keep {
				n++
			}
		}
		return n
	}
	if n := count(Policy{}); n != len(snaps) {
		t.Errorf("empty policy keeps %d of %d", n, len(snaps))
	}
	if n := count(Policy{Last: 3}); n != 3 {
		t.Errorf("keep-last 3 keeps %d", n)
	}
	if n := count(Policy{Daily: 7}); n != 7 {
		t.Errorf("keep-daily 7 keeps %d", n)
	}
	if n := count(Policy{Monthly: 6}); n != 6 {
		t.Errorf("keep-monthly 6 keeps %d", n)
	}
	// The newest snapshot is always kept by any non-empty policy.
	ds := ApplyPolicy(snaps, Policy{Weekly: 1})
	if !ds[0].Keep || ds[0].Time.Before(ds[1].Time) {
		t.Errorf("newest not kept first: %+v", ds[:2])
	}
	// Each kept daily snapshot is the newest of its day.
	for _, d := range ApplyPolicy(snaps, Policy{Daily: 30}) {
		if !d.Keep {
			continue
		}
		for _, s := range snaps {
			if s.Time.Format("2006-01-02") == d.Time.Format("2006-01-02") && s.Time.After(d.Time) {
				t.Errorf("%s kept but %s is newer on the same day", d.ID, s.ID)
			}
		}
	}
	b, _ := json.Marshal(ApplyPolicy(snaps[:1], Policy{Last: 1}))
	if !strings.Contains(string(b), `"keep":true`) {
		t.Errorf("json = %s", b)
	}
}
