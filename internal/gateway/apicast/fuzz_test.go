package apicast

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzMappingRule compiles any pattern an operator (or a hostile proxy
// config in a snapshot) can give: compiling never panics, matching never
// panics, and where the regexp-free matcher takes a pattern it answers as
// APIcast's regexp does.
func FuzzMappingRule(f *testing.F) {
	for _, s := range [][2]string{
		{"/", "/"}, {"/v1/word/{word}.json$", "/v1/word/go.json"}, {"/{a}/{b}", "/a/b/"},
		{"/orders?status={s}", "/orders"}, {"//a//{b}", "/a/x"}, {"/a+b", "/aab"}, {"/(a", "/a"},
		{"/é/{x}", "/%C3%A9/1"}, {"/{x}{y}$", "/xy"}, {"/a.b", "/aXb"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, path string) {
		if len(pattern) > 512 || len(path) > 512 {
			return
		}
		c, err := compileRule(Rule{HTTPMethod: "GET", Pattern: pattern, MetricSystemName: "hits", Delta: 1})
		if err != nil {
			return // refused: the gateway reports it and serves the rest
		}
		c.matches("GET", path, url.Values{"a": {"1"}})
		if c.re != nil || strings.Contains(pattern, "?") {
			return
		}
		re, err := ruleRegexp(slashes.ReplaceAllString(pattern, "/"))
		if err != nil {
			t.Fatalf("pattern %q compiled without a regexp but its regexp does not: %v", pattern, err)
		}
		if got, want := matchSegs(c.segs, path, c.anchored), re.MatchString(path); got != want {
			t.Fatalf("pattern %q path %q: matcher %v, regexp %v", pattern, path, got, want)
		}
	})
}

// FuzzParseConfig feeds any bytes to the proxy-config reader the gateway
// loads from a restored System database: it errors or returns a config,
// never panics.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"services":[{"id":1,"backend_version":"1","proxy":{"hosts":["api.example.com"],"proxy_rules":[{"http_method":"GET","pattern":"/","metric_system_name":"hits","delta":1}]}}]}`))
	f.Add([]byte(`{"proxy_configs":[{"proxy_config":{"content":{"id":2,"proxy":{"hosts":["a"]}}}}]}`))
	f.Add([]byte(`{"proxy_config":{"content":{"id":3}}}`))
	f.Add([]byte(`{"id":4,"proxy":{"proxy_rules":[{"pattern":"/{x"}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseConfig(b)
	})
}
