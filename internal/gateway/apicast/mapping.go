package apicast

import (
	"net/url"
	"regexp"
	"strings"
	"sync"
)

// rule is a compiled mapping rule. Patterns made of literal text and
// {placeholders} (nearly all of them) are matched by segs without regexp;
// anything else by re, APIcast's regex.
type rule struct {
	method   string
	pattern  string
	re       *regexp.Regexp
	segs     []seg             // the pattern, when it needs no regexp (re is then nil)
	anchored bool              // segs must consume the whole path (trailing '$')
	query    map[string]string // name → literal value, or "" with isVar
	isVar    map[string]bool
	metric   string
	delta    int
	last     bool
}

// seg is a literal run of a pattern or (lit == "") one placeholder.
type seg struct{ lit string }

var (
	slashes     = regexp.MustCompile(`/+`)
	placeholder = regexp.MustCompile(`\{[^}/]+\}`)
)

// varClass is the placeholder class [\w\-.~%!$&'()*+,;=@:].
var varClass = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "_-.~%!$&'()*+,;=@:" {
		t[c] = true
	}
	return
}()

// compileRule builds APIcast's regex: repeated slashes collapsed, the query
// part split off, {name} → a segment that cannot contain '/', '.' escaped,
// anchored at the start only (a trailing '$' anchors the end).
func compileRule(r Rule) (*rule, error) {
	pat := slashes.ReplaceAllString(r.Pattern, "/")
	qs := ""
	if i := strings.IndexByte(pat, '?'); i >= 0 {
		pat, qs = pat[:i], pat[i+1:]
	}
	re, err := ruleRegexp(pat)
	if err != nil {
		return nil, err
	}
	c := &rule{method: strings.ToUpper(r.HTTPMethod), pattern: r.Pattern, re: re, metric: r.MetricSystemName,
		delta: int(r.Delta), last: bool(r.Last), query: map[string]string{}, isVar: map[string]bool{}}
	if segs, anchored, ok := literalSegs(pat); ok {
		c.segs, c.anchored, c.re = segs, anchored, nil
	}
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

// ruleRegexp is APIcast's regex of a pattern (slashes collapsed, query
// part removed).
func ruleRegexp(pat string) (*regexp.Regexp, error) {
	expr := placeholder.ReplaceAllStringFunc(strings.ReplaceAll(pat, ".", `\.`), func(string) string {
		return `([\w\-.~%!$&'()*+,;=@:]+)`
	})
	return regexp.Compile("^" + expr)
}

// literalSegs splits pat into literals and placeholders when the regex
// would be nothing but those (plus a final '$'), and matching it needs at
// most one placeholder that can backtrack (one followed by text that the
// placeholder class also matches); otherwise ok is false and the regexp
// is used.
func literalSegs(pat string) (segs []seg, anchored, ok bool) {
	if strings.HasSuffix(pat, "$") {
		pat, anchored = pat[:len(pat)-1], true
	}
	backtracking := 0
	prevVar := false
	addLit := func(s string) bool {
		if s == "" {
			return true
		}
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 || strings.IndexByte(`\^$*+?()[]{}|`, s[i]) >= 0 {
				return false
			}
		}
		if prevVar && varClass[s[0]] {
			backtracking++
		}
		segs = append(segs, seg{lit: s})
		prevVar = false
		return true
	}
	at := 0
	for _, loc := range placeholder.FindAllStringIndex(pat, -1) {
		if !addLit(pat[at:loc[0]]) || (prevVar && loc[0] == at) {
			return nil, false, false
		}
		segs = append(segs, seg{})
		prevVar = true
		at = loc[1]
	}
	if !addLit(pat[at:]) || backtracking > 1 {
		return nil, false, false
	}
	return segs, anchored, true
}

// matchSegs is the regex ^segs($) on path: literals by prefix, each
// placeholder one or more class characters, longest first.
func matchSegs(segs []seg, path string, anchored bool) bool {
	for len(segs) > 0 {
		s := segs[0]
		segs = segs[1:]
		if s.lit != "" {
			if !strings.HasPrefix(path, s.lit) {
				return false
			}
			path = path[len(s.lit):]
			continue
		}
		n := 0
		for n < len(path) && varClass[path[n]] {
			n++
		}
		if n == 0 {
			return false
		}
		if len(segs) == 0 {
			return !anchored || n == len(path)
		}
		for k := n; k >= 1; k-- {
			if matchSegs(segs, path[k:], anchored) {
				return true
			}
		}
		return false
	}
	return !anchored || path == ""
}

// matches reports whether the rule applies to method, escaped path and args.
func (r *rule) matches(method, path string, args url.Values) bool {
	if r.method != "ANY" && r.method != method {
		return false
	}
	if r.re != nil {
		if !r.re.MatchString(path) {
			return false
		}
	} else if !matchSegs(r.segs, path, r.anchored) {
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
// order, and the matched patterns. It is never modified once built: match
// hands out shared values.
type usage struct {
	metrics []string
	deltas  []int // deltas[i] is the delta of metrics[i]
	matched []string
	enc     string // encode(), precomputed
}

// ruleSet is the mapping rules of a service with the usages of the
// combinations of matching rules seen so far, so that a request costs no
// allocation once its combination has been seen.
type ruleSet struct {
	rules []*rule
	mu    sync.RWMutex
	memo  map[uint64]*usage // by bit set of matching rules (≤ 64 rules)
}

const maxMemo = 4096

// match sums the deltas of all matching rules, stopping after a matching
// rule marked last.
func (rs *ruleSet) match(method, path string, args url.Values) *usage {
	if len(rs.rules) > 64 {
		return buildUsage(rs.rules, func(i int) bool { return rs.rules[i].matches(method, path, args) })
	}
	var set uint64
	for i, r := range rs.rules {
		if r.matches(method, path, args) {
			set |= 1 << i
			if r.last {
				break
			}
		}
	}
	rs.mu.RLock()
	u, ok := rs.memo[set]
	rs.mu.RUnlock()
	if ok {
		return u
	}
	u = buildUsage(rs.rules, func(i int) bool { return set&(1<<i) != 0 })
	rs.mu.Lock()
	if rs.memo == nil {
		rs.memo = map[uint64]*usage{}
	}
	if len(rs.memo) < maxMemo {
		rs.memo[set] = u
	}
	rs.mu.Unlock()
	return u
}

func buildUsage(rules []*rule, matched func(int) bool) *usage {
	u := &usage{}
	for i, r := range rules {
		if !matched(i) {
			continue
		}
		j := 0
		for j < len(u.metrics) && u.metrics[j] != r.metric {
			j++
		}
		if j == len(u.metrics) {
			u.metrics = append(u.metrics, r.metric)
			u.deltas = append(u.deltas, 0)
		}
		u.deltas[j] += r.delta
		u.matched = append(u.matched, r.pattern)
		if r.last {
			break
		}
	}
	var b strings.Builder
	for i, m := range u.metrics {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape("usage["+m+"]") + "=" + itoa(u.deltas[i]))
	}
	u.enc = b.String()
	return u
}

// encode renders usage as APIcast sends it: usage%5Bhits%5D=1&…
func (u *usage) encode() string { return u.enc }

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
