package backend

import (
	"strconv"
	"strings"
	"time"
)

// Period is one of apisonator's limit granularities.
type Period int

// The periods, shortest first. Their order is the "granularity" used to
// break ties between limit headers (longer wins).
const (
	Minute Period = iota
	Hour
	Day
	Week
	Month
	Year
	Eternity
)

// Periods lists every period a usage limit can have, in apisonator's order
// of loading (shortest first).
var Periods = []Period{Minute, Hour, Day, Week, Month, Year, Eternity}

var periodNames = [...]string{"minute", "hour", "day", "week", "month", "year", "eternity"}

func (p Period) String() string { return periodNames[p] }

// ParsePeriod returns the period named s.
func ParsePeriod(s string) (Period, bool) {
	for i, n := range periodNames {
		if n == s {
			return Period(i), true
		}
	}
	return 0, false
}

// Start returns the start of the period containing t (UTC). Weeks start
// on Monday. Eternity has no start (zero time).
func (p Period) Start(t time.Time) time.Time {
	t = t.UTC()
	y, m, d := t.Date()
	switch p {
	case Minute:
		return t.Truncate(time.Minute)
	case Hour:
		return time.Date(y, m, d, t.Hour(), 0, 0, 0, time.UTC)
	case Day:
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	case Week:
		wd := (int(t.Weekday()) + 6) % 7 // Monday = 0
		return time.Date(y, m, d-wd, 0, 0, 0, 0, time.UTC)
	case Month:
		return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	case Year:
		return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Time{}
}

// Finish returns the end (exclusive) of the period containing t.
func (p Period) Finish(t time.Time) time.Time {
	s := p.Start(t)
	switch p {
	case Minute:
		return s.Add(time.Minute)
	case Hour:
		return s.Add(time.Hour)
	case Day:
		return s.AddDate(0, 0, 1)
	case Week:
		return s.AddDate(0, 0, 7)
	case Month:
		return s.AddDate(0, 1, 0)
	case Year:
		return s.AddDate(1, 0, 0)
	}
	return time.Time{}
}

// compactTime renders t as apisonator's "compact" timestamp: YYYYMMDDhhmmss
// with up to six trailing zero digits removed (never into the date).
func compactTime(t time.Time) string {
	t = t.UTC()
	var b [14]byte
	y, mo, d := t.Date()
	put := func(off, width, v int) {
		for i := off + width - 1; i >= off; i-- {
			b[i] = byte('0' + v%10)
			v /= 10
		}
	}
	put(0, 4, y)
	put(4, 2, int(mo))
	put(6, 2, d)
	put(8, 2, t.Hour())
	put(10, 2, t.Minute())
	put(12, 2, t.Second())
	n := 14
	for n > 8 && b[n-1] == '0' {
		n--
	}
	return string(b[:n])
}

// periodSuffix is the last component of a stats key: "minute:20250423174",
// or "eternity".
func periodSuffix(p Period, t time.Time) string {
	if p == Eternity {
		return "eternity"
	}
	return p.String() + ":" + compactTime(p.Start(t))
}

// encodeKey applies apisonator's key encoding: spaces become '+'.
func encodeKey(s string) string {
	if strings.IndexByte(s, ' ') < 0 {
		return s
	}
	return strings.ReplaceAll(s, " ", "+")
}

// Stats key helpers. The braces of {service:N} are literal (a Redis Cluster
// hash tag), exactly as apisonator writes them.

// AppStatsKey is the application-level usage counter of metric in period.
func AppStatsKey(serviceID, appID, metricID string, p Period, t time.Time) string {
	return encodeKey("stats/{service:" + serviceID + "}/cinstance:" + appID + "/metric:" + metricID + "/" + periodSuffix(p, t))
}

// ServiceStatsKey is the service-level usage counter of metric in period.
func ServiceStatsKey(serviceID, metricID string, p Period, t time.Time) string {
	return encodeKey("stats/{service:" + serviceID + "}/metric:" + metricID + "/" + periodSuffix(p, t))
}

func appResponseCodeKey(serviceID, appID, code string, p Period, t time.Time) string {
	return encodeKey("stats/{service:" + serviceID + "}/cinstance:" + appID + "/response_code:" + code + "/" + periodSuffix(p, t))
}

func serviceResponseCodeKey(serviceID, code string, p Period, t time.Time) string {
	return encodeKey("stats/{service:" + serviceID + "}/response_code:" + code + "/" + periodSuffix(p, t))
}

// appStatsPeriods and serviceStatsPeriods are the granularities apisonator's
// aggregator writes at each level.
var (
	appStatsPeriods     = []Period{Eternity, Year, Month, Week, Day, Hour, Minute}
	serviceStatsPeriods = []Period{Eternity, Month, Week, Day, Hour}
)

// minuteTTL is the expiry apisonator sets on minute counters.
const minuteTTL = 180 * time.Second

// timeFormat is apisonator's TIME_FORMAT for period_start/period_end.
const timeFormat = "2006-01-02 15:04:05 -0700"

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
