package backend

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The cases of this file and cases_*_test.go are apisonator's own
// integration tests (3scale/apisonator test/integration/**) turned into
// table rows: each names the Ruby file and test it comes from, builds the
// fixture that test's setup builds (through model, in apisonator's key
// layout) and asserts what that test asserts.

// step is one request of a case and what it must get.
type step struct {
	path  string     // endpoint; GET unless form is set (POST)
	q     url.Values // query
	raw   string     // raw query instead of q (bytes url.Values cannot carry)
	form  url.Values // POST body (report)
	opts  string     // 3scale-options header
	want  want
	check func(t *testing.T, m *model) // storage assertions after the step
}

type smCase struct {
	origin string // "<file under test/integration>: <test name>"
	name   string // disambiguates several rows from one Ruby test
	now    time.Time
	setup  func(m *model)
	steps  []step
}

// apisonatorNow is the default clock (the tests' Timecop 2010-05-15).
var apisonatorNow = time.Date(2010, 5, 15, 0, 0, 0, 0, time.UTC)

// Fixture ids of setup_provider_fixtures plus one application and the
// "hits" metric (test/test_helpers/fixtures.rb and the tests' setup).
const (
	pk       = "provider_key1001"
	sid      = "1002"
	aid      = "1003"
	plan     = "1004"
	planName = "plan1004"
	hitsID   = "1005"
)

func q(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// basicSetup is setup_provider_fixtures + an active application + hits,
// the setup of most test/integration files.
func basicSetup(m *model) {
	m.service(sid, pk, "")
	m.app(sid, aid, "active", plan, planName, "")
	m.metric(sid, hitsID, "hits", "")
}

func with(fs ...func(m *model)) func(m *model) {
	return func(m *model) {
		for _, f := range fs {
			f(m)
		}
	}
}

const (
	authorizeXML      = "/transactions/authorize.xml"
	authrepXML        = "/transactions/authrep.xml"
	oauthAuthorizeXML = "/transactions/oauth_authorize.xml"
	oauthAuthrepXML   = "/transactions/oauth_authrep.xml"
	reportXML         = "/transactions.xml"
)

func allCases() []smCase {
	var all []smCase
	for _, cs := range [][]smCase{findingCases, authorizeCases, credentialCases, referrerCases, limitHeaderCases, authrepCases, reportCases, oauthCases} {
		all = append(all, cs...)
	}
	return all
}

func TestApisonatorCases(t *testing.T) {
	all := allCases()
	if len(all) < 60 {
		t.Fatalf("only %d cases", len(all))
	}
	clock := apisonatorNow
	env := newSMEnvClock(t, &clock)
	seen := map[string]bool{}
	for _, c := range all {
		name := c.origin
		if c.name != "" {
			name += " (" + c.name + ")"
		}
		if seen[name] {
			t.Fatalf("duplicate case %q", name)
		}
		seen[name] = true
		if !strings.Contains(c.origin, ".rb: ") {
			t.Fatalf("case %q does not name its Ruby file and test", name)
		}
		t.Run(name, func(t *testing.T) {
			clock = apisonatorNow
			if !c.now.IsZero() {
				clock = c.now
			}
			env.m.t, env.m.now = t, clock
			if err := env.m.rdb.FlushAll(env.m.ctx).Err(); err != nil {
				t.Fatal(err)
			}
			if c.setup != nil {
				c.setup(env.m)
			}
			for i, s := range c.steps {
				var r reply
				switch {
				case s.form != nil:
					r = env.post(t, s.path, s.form, s.opts)
				case s.raw != "":
					r = env.getRaw(t, s.path, s.raw, s.opts)
				default:
					r = env.get(t, s.path, s.q, s.opts)
				}
				s.want.check(t, fmt.Sprintf("step %d %s", i+1, s.path), r)
				if s.check != nil {
					s.check(t, env.m)
				}
			}
		})
	}
	t.Logf("%d apisonator cases", len(all))
}

// statIs asserts an application counter of the case's clock.
func statIs(metricID string, p Period, want string) func(t *testing.T, m *model) {
	return func(t *testing.T, m *model) {
		t.Helper()
		if got := m.stat(sid, aid, metricID, p); got != want {
			t.Errorf("stats of metric %s/%s = %q, want %q", metricID, p, got, want)
		}
	}
}

func checks(fs ...func(t *testing.T, m *model)) func(t *testing.T, m *model) {
	return func(t *testing.T, m *model) {
		for _, f := range fs {
			f(t, m)
		}
	}
}
