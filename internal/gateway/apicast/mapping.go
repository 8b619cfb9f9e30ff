package apicast

import (
	"net/url"
	"regexp"
	"strings"
)

// rule is a compiled mapping rule.
type rule struct {
	method  string
	pattern string
	re      *regexp.Regexp
	query   map[string]string // name → literal value, or "" with isVar
	isVar   map[string]bool
	metric  string
	delta   int
	last    bool
}

var (
	slashes     = regexp.MustCompile(`/+`)
	placeholder = regexp.MustCompile(`\{[^}/]+\}`)
)

// compileRule builds APIcast's regex: repeated slashes collapsed, the query
// part split off, {name} → a segment that cannot contain '/', '.' escaped,
// anchored at the start only (a trailing '$' anchors the end).
func compileRule(r Rule) (*rule, error) {
	pat := slashes.ReplaceAllString(r.Pattern, "/")
	qs := ""
	if i := strings.IndexByte(pat, '?'); i >= 0 {
		pat, qs = pat[:i], pat[i+1:]
	}
	expr := placeholder.ReplaceAllStringFunc(strings.ReplaceAll(pat, ".", `\.`), func(string) string {
		return `([\w\-.~%!$&'()*+,;=@:]+)`
	})
	re, err := regexp.Compile("^" + expr)
	if err != nil {
		return nil, err
	}
	c := &rule{method: strings.ToUpper(r.HTTPMethod), pattern: r.Pattern, re: re, metric: r.MetricSystemName,
		delta: int(r.Delta), last: bool(r.Last), query: map[string]string{}, isVar: map[string]bool{}}
	params := r.QuerystringParameters
	if params == nil && qs != "" {
		params = map[string]string{}
		for _, kv := range strings.Split(qs, "&") {
			k, v, _ := strings.Cut(kv, "=")
			if k != "" {
				params[k] = v
			}
		}
	}
	for k, v := range params {
		if placeholder.MatchString(v) && strings.HasPrefix(v, "{") && strings.HasSuffix(v, "}") {
			c.isVar[k] = true
		} else {
			c.query[k] = v
		}
	}
	return c, nil
}

// matches reports whether the rule applies to method, escaped path and args.
func (r *rule) matches(method, path string, args url.Values) bool {
	if r.method != "ANY" && r.method != method {
		return false
	}
	if !r.re.MatchString(path) {
		return false
	}
	for k := range r.isVar {
		if _, ok := args[k]; !ok {
			return false
		}
	}
	for k, want := range r.query {
		vs := args[k]
		if len(vs) == 0 || vs[len(vs)-1] != want {
			return false
		}
	}
	return true
}

// usage is the outcome of matching: deltas per metric, in first-match
// order, and the matched patterns.
type usage struct {
	metrics []string
	deltas  map[string]int
	matched []string
}

// match sums the deltas of all matching rules, stopping after a matching
// rule marked last.
func match(rules []*rule, method, path string, args url.Values) usage {
	u := usage{deltas: map[string]int{}}
	for _, r := range rules {
		if !r.matches(method, path, args) {
			continue
		}
		if _, ok := u.deltas[r.metric]; !ok {
			u.metrics = append(u.metrics, r.metric)
		}
		u.deltas[r.metric] += r.delta
		u.matched = append(u.matched, r.pattern)
		if r.last {
			break
		}
	}
	return u
}

// encode renders usage as APIcast sends it: usage%5Bhits%5D=1&…
func (u usage) encode() string {
	var b strings.Builder
	for i, m := range u.metrics {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape("usage["+m+"]") + "=" + itoa(u.deltas[m]))
	}
	return b.String()
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
