package purge

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/errs"
)

// Age is a retention age in calendar terms: "3mo" means three calendar
// months back (as Rails' 3.months.ago), "14d" fourteen days.
type Age struct {
	Months   int
	Days     int
	Duration time.Duration
}

var ageRE = regexp.MustCompile(`^(\d+)(y|mo|w|d|h|min|m|s)`)

// ParseAge parses ages like 14d, 2w, 36h, 3mo, 1y, 90min, or a sum of them
// (1w3d). A plain Go duration (e.g. 1h30m) is accepted too.
func ParseAge(s string) (Age, error) {
	var a Age
	rest := strings.TrimSpace(strings.ToLower(s))
	if rest == "" {
		return a, errs.UsageError("give an age like 14d, 2w, 36h or 3mo", "empty age")
	}
	for rest != "" {
		m := ageRE.FindStringSubmatch(rest)
		if m == nil {
			if d, err := time.ParseDuration(rest); err == nil && d > 0 {
				a.Duration += d
				break
			}
			return Age{}, errs.UsageError("give an age like 14d, 2w, 36h, 90min or 3mo", "invalid age %q", s)
		}
		n, err := strconv.Atoi(m[1])
		if err != nil || n > 100000 {
			return Age{}, errs.UsageError("give an age like 14d, 2w, 36h or 3mo", "age %q out of range", s)
		}
		switch m[2] {
		case "y":
			a.Months += 12 * n
		case "mo":
			a.Months += n
		case "w":
			a.Days += 7 * n
		case "d":
			a.Days += n
		case "h":
			a.Duration += time.Duration(n) * time.Hour
		case "min", "m":
			a.Duration += time.Duration(n) * time.Minute
		case "s":
			a.Duration += time.Duration(n) * time.Second
		}
		rest = rest[len(m[0]):]
	}
	if a.Months == 0 && a.Days == 0 && a.Duration == 0 {
		return Age{}, errs.UsageError("an age of 0 would delete every row; give e.g. 14d", "age %q is zero", s)
	}
	return a, nil
}

// MustAge parses a constant age.
func MustAge(s string) Age {
	a, err := ParseAge(s)
	if err != nil {
		panic(err)
	}
	return a
}

// Cutoff returns now minus the age, in UTC (3scale stores these timestamps
// in UTC), truncated to the second like SQL NOW().
func (a Age) Cutoff(now time.Time) time.Time {
	return now.UTC().AddDate(0, -a.Months, -a.Days).Add(-a.Duration).Truncate(time.Second)
}

func (a Age) String() string {
	var b strings.Builder
	if a.Months > 0 {
		fmt.Fprintf(&b, "%dmo", a.Months)
	}
	if a.Days > 0 {
		fmt.Fprintf(&b, "%dd", a.Days)
	}
	if a.Duration > 0 {
		b.WriteString(a.Duration.String())
	}
	return b.String()
}

// OracleStatement is the guide's alerts purge for Oracle (Operating 3scale,
// table 1.1), with the age in days; 3scale-ops does not speak Oracle.
func OracleStatement(a Age) string {
	days := a.Days + 30*a.Months + int(a.Duration/(24*time.Hour))
	return fmt.Sprintf("DELETE FROM alerts WHERE timestamp <= TRUNC(SYSDATE) - %d;", days)
}
