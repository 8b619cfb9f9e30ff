package apicast

import (
	"math/rand"
	"testing"
)

// TestLiteralMatcherAgreesWithRegexp checks that the regexp-free matcher
// gives APIcast's regex answer for every pattern it accepts.
func TestLiteralMatcherAgreesWithRegexp(t *testing.T) {
	patterns := []string{
		"/", "", "/v1", "/v1$", "/v1/word/{word}.json", "/v1/word/{word}.json$", "/orders$",
		"/{a}/{b}", "/{a}/{b}$", "/{id}", "/x/{id}.{fmt}", "/{a}.x/{b}.y$", "//a//{b}", "/a.b",
		"/{a}-{b}", "/a{b}", "/foo/{bar}/baz$", "/{x}{y}", "/a+b", "/(a)", "/é/{x}",
	}
	alphabet := []byte("/.-_a-bxy0~%:@{}é$+")
	r := rand.New(rand.NewSource(1))
	paths := []string{"/", "", "/v1", "/v1/", "/v1x", "/v1/word/go.json", "/v1/word/go.json/x", "/v1/word/.json",
		"/v1/word/a.b.json", "/orders", "/orders/", "/a/b", "/a/b/", "/a/", "/x/1.json", "/x/1.", "/q.x/r.y",
		"/1-2", "/1-2-3", "/ab", "/a", "/foo/1/baz", "/foo/1/baz/", "/foo//baz", "/a.b", "/aXb"}
	for i := 0; i < 3000; i++ {
		n := r.Intn(12)
		b := make([]byte, n)
		for j := range b {
			b[j] = alphabet[r.Intn(len(alphabet))]
		}
		paths = append(paths, "/"+string(b))
	}
	fast := 0
	for _, p := range patterns {
		c, err := compileRule(Rule{HTTPMethod: "GET", Pattern: p})
		if err != nil {
			t.Fatalf("%q: %v", p, err)
		}
		if c.re != nil {
			continue // not accepted: uses the regexp
		}
		fast++
		re, err := ruleRegexp(slashes.ReplaceAllString(p, "/"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range paths {
			if got, want := matchSegs(c.segs, path, c.anchored), re.MatchString(path); got != want {
				t.Errorf("pattern %q path %q: matcher %v, regexp %v", p, path, got, want)
			}
		}
	}
	if fast < 10 {
		t.Fatalf("only %d patterns took the regexp-free path", fast)
	}
}
