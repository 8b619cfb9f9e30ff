package backend

import (
	"math"
	"strings"
	"time"
)

// buildReports fills the usage reports, the hierarchy section and the
// limit-header values of res.
func (b *Backend) buildReports(res *Result, m *metrics, limits []limit, stored map[limitKey]int64, p *Params, mode Mode, now time.Time) {
	actual := mode.reports() && p.Usage != nil // authrep: usage is reported
	for _, l := range limits {
		name, ok := m.Name[l.MetricID]
		if !ok {
			continue // a limit on a metric without a name is ignored
		}
		r := Report{MetricID: l.MetricID, Metric: name, Period: l.Period, Max: l.Max, Current: stored[limitKey{l.MetricID, l.Period}]}
		if l.Period != Eternity {
			r.Start, r.End = l.Period.Start(now), l.Period.Finish(now)
		}
		r.Exceeded = r.Current > r.Max
		// current_value: stored, plus this call's usage of the metric and
		// of its descendants when an authorized authrep reports it.
		r.Shown = r.Current
		if res.Authorized && actual {
			r.Shown = usageWithDescendants(m, p.Usage, name, r.Current)
		}
		remaining := r.Max - r.Shown
		if remaining < 0 {
			remaining = 0
		}
		var u int64
		if p.Usage != nil {
			u = usageWithDescendants(m, p.Usage, name, 0)
		}
		switch {
		case remaining <= 0:
			r.sameCalls = 0
		case u > 0:
			r.sameCalls = remaining / u
		default:
			r.sameCalls = -1
		}
		res.Reports = append(res.Reports, r)
	}
	if p.Ext.Hierarchy {
		for _, r := range res.Reports {
			res.hierarchy = append(res.hierarchy, [2]string{r.Metric, strings.Join(m.children(r.MetricID), " ")})
		}
	}
	// Limit headers: among the reports of the requested metrics and their
	// ancestors (all reports without usage), the most constrained one.
	relevant := map[string]bool{}
	for n := range p.Usage {
		n = strings.TrimSpace(n)
		relevant[n] = true
		for _, a := range m.ancestors(m.ByName[n]) {
			relevant[m.Name[a]] = true
		}
	}
	var best *Report
	for i := range res.Reports {
		r := &res.Reports[i]
		if len(p.Usage) > 0 && !relevant[r.Metric] {
			continue
		}
		if best == nil || moreConstrained(r, best) {
			best = r
		}
	}
	res.LimitRemaining, res.LimitReset, res.LimitMax = -1, -1, -1
	if best != nil && best.sameCalls != -1 {
		res.LimitRemaining, res.LimitMax = best.sameCalls, best.Max
		if best.Period != Eternity {
			res.LimitReset = int64(math.Ceil(best.End.Sub(now).Seconds()))
		}
	}
}

// moreConstrained orders reports as apisonator's LimitHeaders: fewer
// remaining calls first (-1 = unlimited, last); ties: the longer period.
func moreConstrained(a, b *Report) bool {
	if a.sameCalls == b.sameCalls {
		return a.Period > b.Period
	}
	return b.sameCalls == -1 || (a.sameCalls != -1 && a.sameCalls < b.sameCalls)
}

// usageWithDescendants applies the raw usage of name and of all its
// descendants to base (Usage.get_from semantics).
func usageWithDescendants(m *metrics, raw map[string]string, name string, base int64) int64 {
	apply := func(v string, acc int64) int64 {
		if v == "" {
			return acc
		}
		u, ok := parseUsageValue(v)
		if !ok {
			return acc
		}
		return u.apply(acc)
	}
	acc := apply(rawUsage(raw, name), base)
	for _, d := range m.descendants(name) {
		acc = apply(rawUsage(raw, d), acc)
	}
	return acc
}

func rawUsage(raw map[string]string, name string) string {
	if v, ok := raw[name]; ok {
		return v
	}
	for k, v := range raw {
		if strings.TrimSpace(k) == name {
			return v
		}
	}
	return ""
}

// XML renders the status document byte for byte as apisonator does.
func (r *Result) XML() []byte {
	var b strings.Builder
	b.Grow(256 + 200*len(r.Reports))
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><status>`)
	if r.Authorized {
		b.WriteString("<authorized>true</authorized>")
	} else {
		b.WriteString("<authorized>false</authorized><reason>")
		b.WriteString(r.Reason)
		b.WriteString("</reason>")
	}
	if r.oauth {
		key := ""
		if len(r.app.Keys) > 0 {
			key = r.app.Keys[0]
		}
		b.WriteString("<application><id>" + r.app.ID + "</id><key>" + key + "</key><" + r.redirField + ">" + r.app.RedirectURL + "</" + r.redirField + "></application>")
	}
	b.WriteString("<plan>" + textEscape(r.Plan) + "</plan>")
	if len(r.Reports) > 0 {
		b.WriteString("<usage_reports>")
		for _, u := range r.Reports {
			b.WriteString(`<usage_report metric="` + u.Metric + `" period="` + u.Period.String() + `"`)
			if u.Exceeded {
				b.WriteString(` exceeded="true">`)
			} else {
				b.WriteString(">")
			}
			if u.Period != Eternity {
				b.WriteString("<period_start>" + u.Start.Format(timeFormat) + "</period_start><period_end>" + u.End.Format(timeFormat) + "</period_end>")
			}
			b.WriteString("<max_value>" + itoa(u.Max) + "</max_value><current_value>" + itoa(u.Shown) + "</current_value></usage_report>")
		}
		b.WriteString("</usage_reports>")
	}
	if r.ext.ListAppKeys {
		b.WriteString(`<app_keys app="` + r.app.ID + `" svc="` + r.ServiceID + `">`)
		for i, k := range r.app.Keys {
			if i == 256 {
				break
			}
			b.WriteString(`<key id="` + k + `"/>`)
		}
		b.WriteString("</app_keys>")
	}
	if r.ext.Hierarchy {
		b.WriteString("<hierarchy>")
		for _, h := range r.hierarchy {
			b.WriteString(`<metric name="` + h[0] + `" children="` + h[1] + `"/>`)
		}
		b.WriteString("</hierarchy>")
	}
	b.WriteString("</status>")
	return []byte(b.String())
}
