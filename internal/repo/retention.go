package repo

import (
	"fmt"
	"sort"
	"time"
)

// Policy is a retention policy with restic's semantics: each rule keeps
// the newest snapshot of each of its last N periods (hours, days, weeks,
// months) that have snapshots; keep-last keeps the N newest. A snapshot
// is kept if any rule keeps it. Periods are computed in UTC.
type Policy struct {
	Last    int `json:"keep_last,omitempty"`
	Hourly  int `json:"keep_hourly,omitempty"`
	Daily   int `json:"keep_daily,omitempty"`
	Weekly  int `json:"keep_weekly,omitempty"`
	Monthly int `json:"keep_monthly,omitempty"`
}

// Empty reports whether the policy has no rule (and so keeps everything).
func (p Policy) Empty() bool { return p == Policy{} }

// Decision is the verdict on one snapshot.
type Decision struct {
	ID      string    `json:"id"`
	Time    time.Time `json:"time"`
	Keep    bool      `json:"keep"`
	Reasons []string  `json:"reasons"`
}

// ApplyPolicy decides, newest first, which snapshots p keeps. It is a pure
// function of its input.
func ApplyPolicy(snaps []SnapshotRef, p Policy) []Decision {
	sorted := append([]SnapshotRef(nil), snaps...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if !sorted[i].Time.Equal(sorted[j].Time) {
			return sorted[i].Time.After(sorted[j].Time)
		}
		return sorted[i].ID > sorted[j].ID
	})
	type rule struct {
		name string
		left int
		key  func(time.Time) string
		last string
	}
	rules := []*rule{
		{name: "last", left: p.Last, key: func(t time.Time) string { return "" }},
		{name: "hourly", left: p.Hourly, key: func(t time.Time) string { return t.Format("2006-01-02T15") }},
		{name: "daily", left: p.Daily, key: func(t time.Time) string { return t.Format("2006-01-02") }},
		{name: "weekly", left: p.Weekly, key: func(t time.Time) string {
			y, w := t.ISOWeek()
			return fmt.Sprintf("%04d-W%02d", y, w)
		}},
		{name: "monthly", left: p.Monthly, key: func(t time.Time) string { return t.Format("2006-01") }},
	}
	out := make([]Decision, 0, len(sorted))
	for i, s := range sorted {
		d := Decision{ID: s.ID, Time: s.Time}
		if p.Empty() {
			d.Keep, d.Reasons = true, []string{"no retention policy"}
			out = append(out, d)
			continue
		}
		t := s.Time.UTC()
		for _, r := range rules {
			if r.left <= 0 {
				continue
			}
			if r.name == "last" {
				d.Reasons = append(d.Reasons, fmt.Sprintf("last %d (#%d newest)", p.Last, i+1))
				r.left--
				continue
			}
			k := r.key(t)
			if k != r.last {
				d.Reasons = append(d.Reasons, fmt.Sprintf("%s snapshot (%s)", r.name, k))
				r.last = k
				r.left--
			}
		}
		d.Keep = len(d.Reasons) > 0
		if !d.Keep {
			d.Reasons = []string{"not kept by any rule"}
		}
		out = append(out, d)
	}
	return out
}
