package backend

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// manyParams adds n parameters p0=1 … to v.
func manyParams(v url.Values, n int) url.Values {
	for i := 0; i < n; i++ {
		v.Set("p"+strconv.Itoa(i), "1")
	}
	return v
}

// reportForm is a POST /transactions.xml body for the fixture service.
func reportForm(kv ...string) url.Values {
	v := q("provider_key", pk, "service_id", sid)
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

var ok200 = want{status: 200, authorized: "true"}

// parentChild: hits(1005) > child(1006); app plan limits hits/day 5.
func parentChild(m *model) {
	m.metric(sid, "1006", "child", hitsID)
	m.limit(sid, plan, hitsID, "day", 5)
}

// findingCases pin behaviours where this backend once disagreed with
// apisonator.
var findingCases = []smCase{
	// Rack's query parser (apisonator's listener) refuses more than 4096
	// parameters, counted by their separators, before parsing, and
	// apisonator answers its QueryLimitError as a bad request naming the
	// count; Go's own parser stops at 10,000 with another error, which
	// must not show through as a misleading 400 or 403.
	{origin: "lib/3scale/backend/rack/exception_catcher.rb: Rack::QueryParser::QueryLimitError (params_limit 4096, bytesize_limit 4 MiB) answered as BadRequest", name: "query limits",
		setup: basicSetup,
		steps: []step{
			{path: authorizeXML, raw: "provider_key=" + pk + "&app_id=" + aid + strings.Repeat("&x=1", 4094), want: ok200},
			{path: authorizeXML, raw: "provider_key=" + pk + "&app_id=" + aid + strings.Repeat("&x=1", 4095),
				want: want{status: 400, errCode: "bad_request", errMsg: "total number of query parameters (4097) exceeds limit (4096)"}},
			{path: authorizeXML, raw: "provider_key=" + pk + "&app_id=" + aid + strings.Repeat("&x=1", 10000),
				want: want{status: 400, errCode: "bad_request", errMsg: "total number of query parameters (10002) exceeds limit (4096)"}},
			{path: authrepXML, raw: "provider_key=" + pk + "&app_id=" + aid + strings.Repeat("&", 12000),
				want: want{status: 400, errCode: "bad_request", errMsg: "total number of query parameters (12002) exceeds limit (4096)"}},
			{path: reportXML, form: manyParams(reportForm("transactions[0][app_id]", aid, "transactions[0][usage][hits]", "1"), 10000),
				want: want{status: 400, errCode: "bad_request", errMsg: "total number of query parameters (10004) exceeds limit (4096)"}},
		}},
	// Credentials and backend_version: the current suite says app_id and
	// user_key are exchangeable whatever the backend_version (older
	// versions of this test bound them to it; that is no longer so).
	{origin: "backend_version_test.rb: test app_id and user_key are exchangeable regardless of the backend_version", name: "v1",
		setup: with(basicSetup, func(m *model) { m.service(sid, pk, "1"); m.userKey(sid, "user_key_"+aid, aid) }),
		steps: []step{
			{path: authorizeXML, q: q("provider_key", pk, "app_id", aid), want: ok200},
			{path: authorizeXML, q: q("provider_key", pk, "user_key", "user_key_"+aid), want: ok200},
		}},
	{origin: "backend_version_test.rb: test app_id and user_key are exchangeable regardless of the backend_version", name: "v2",
		setup: with(basicSetup, func(m *model) { m.service(sid, pk, "2"); m.userKey(sid, "user_key_"+aid, aid) }),
		steps: []step{
			{path: authorizeXML, q: q("provider_key", pk, "app_id", aid), want: ok200},
			{path: authorizeXML, q: q("provider_key", pk, "user_key", "user_key_"+aid), want: ok200},
		}},
	{origin: "backend_version_test.rb: when backend_version is not declared should behave like backend_version two regarding the presence of app_key",
		setup: with(basicSetup, func(m *model) {
			m.userKey(sid, "user_key_"+aid, aid)
			m.appKey(sid, aid, "key_one")
			m.appKey(sid, aid, "key_two")
		}),
		steps: []step{
			{path: authorizeXML, q: q("provider_key", pk, "app_id", aid, "app_key", "key_one"), want: ok200},
			{path: authorizeXML, q: q("provider_key", pk, "user_key", "user_key_"+aid), want: want{status: 409, authorized: "false", reason: "application key is missing"}},
		}},
	{origin: "backend_version_test.rb: service originally on backend_version 2 with apps with app_key does not complain about missing app_key when changed to backend_version 1",
		setup: with(basicSetup, func(m *model) {
			m.service(sid, pk, "1")
			m.userKey(sid, "user_key_"+aid, aid)
			m.appKey(sid, aid, "key_one")
		}),
		steps: []step{{path: authorizeXML, q: q("provider_key", pk, "user_key", "user_key_"+aid), want: ok200}}},

	// no_body: any value but "0"/"false" hides the body, in the query
	// (deprecated) or in 3scale-options.
	{origin: "lib/3scale/backend/listener.rb: no_body != 'false' && no_body != '0'", name: "query no_body=0",
		setup: basicSetup,
		steps: []step{{path: authorizeXML, q: q("provider_key", pk, "app_id", aid, "no_body", "0"), want: want{status: 200, authorized: "true"}}}},
	{origin: "lib/3scale/backend/listener.rb: no_body != 'false' && no_body != '0'", name: "query no_body=false",
		setup: basicSetup,
		steps: []step{{path: authorizeXML, q: q("provider_key", pk, "app_id", aid, "no_body", "false"), want: want{status: 200, authorized: "true"}}}},
	{origin: "lib/3scale/backend/listener.rb: no_body != 'false' && no_body != '0'", name: "header no_body=false",
		setup: basicSetup,
		steps: []step{{path: authorizeXML, q: q("provider_key", pk, "app_id", aid), opts: "no_body=false", want: want{status: 200, authorized: "true"}}}},
	{origin: "lib/3scale/backend/listener.rb: no_body != 'false' && no_body != '0'", name: "header no_body=true",
		setup: basicSetup,
		steps: []step{{path: authorizeXML, q: q("provider_key", pk, "app_id", aid), opts: "no_body=true", want: want{status: 200, emptyBody: true}}}},
	{origin: "lib/3scale/backend/listener.rb: no_body != 'false' && no_body != '0'", name: "header wins over query",
		setup: basicSetup,
		steps: []step{{path: authorizeXML, q: q("provider_key", pk, "app_id", aid, "no_body", "true"), opts: "no_body=0", want: want{status: 200, authorized: "true"}}}},

	// redirect_url beats redirect_uri.
	{origin: "oauth/redirect_url_test.rb: redirect_url takes precedence for compatibility over redirect_uri",
		setup: func(m *model) {
			m.service(sid, pk, "oauth")
			m.app(sid, aid, "active", plan, planName, "http://3scale.net")
		},
		steps: []step{
			{path: oauthAuthorizeXML, q: q("provider_key", pk, "app_id", aid, "redirect_url", "http://3scale.net", "redirect_uri", "http://3scale.net2"),
				want: want{status: 200, authorized: "true", contains: []string{"<redirect_url>http://3scale.net</redirect_url>"}}},
			{path: oauthAuthorizeXML, q: q("provider_key", pk, "app_id", aid, "redirect_url", "http://3scale.net2", "redirect_uri", "http://3scale.net"),
				want: want{status: 409, reason: `redirect_url "http://3scale.net2" is invalid`}},
		}},
	{origin: "lib/3scale/backend/validators/redirect_uri.rb: redirect_uri.nil? || redirect_uri.empty? succeeds",
		setup: func(m *model) {
			m.service(sid, pk, "oauth")
			m.app(sid, aid, "active", plan, planName, "http://3scale.net")
		},
		steps: []step{{path: oauthAuthorizeXML, q: q("provider_key", pk, "app_id", aid, "redirect_uri", ""), want: ok200}}},

	// flat_usage on reports: no propagation to the parent.
	{origin: "lib/3scale/backend/transactor/report_job.rb: compose_transaction passes extensions[:flat_usage] == '1' to process_usage",
		setup: with(basicSetup, parentChild),
		steps: []step{
			{path: reportXML, form: reportForm("transactions[0][app_id]", aid, "transactions[0][usage][child]", "3"), opts: "flat_usage=1",
				want:  want{status: 202},
				check: checks(statIs("1006", Day, "3"), statIs(hitsID, Day, ""))},
			{path: reportXML, form: reportForm("transactions[0][app_id]", aid, "transactions[0][usage][child]", "2"),
				want:  want{status: 202},
				check: checks(statIs("1006", Day, "5"), statIs(hitsID, Day, "2"))},
		}},
	{origin: "lib/3scale/backend/transactor.rb: do_authrep enqueues its report with the request's extensions (flat_usage)",
		setup: with(basicSetup, parentChild),
		steps: []step{{path: authrepXML, q: q("provider_key", pk, "app_id", aid, "usage[child]", "6"), opts: "flat_usage=1",
			want: ok200, check: checks(statIs("1006", Day, "6"), statIs(hitsID, Day, ""))}}},

	// Invalid UTF-8: released apisonator answers 400 (main: 422).
	{origin: "authorize/basic_test.rb: regression test for utf8 issues and super malformed request", name: "provider_key",
		setup: basicSetup,
		steps: []step{{path: authorizeXML, raw: "provider_key=%f0%90%28%bc", want: want{status: 400, errCode: "not_valid_data", errMsg: "all data must be valid UTF8"}}}},
	{origin: "authorize/basic_test.rb: regression test for utf8 issues and super malformed request", name: "app_id",
		setup: basicSetup,
		steps: []step{{path: authorizeXML, raw: "provider_key=" + pk + "&app_id=%f0%90%28%bc", want: want{status: 400, errCode: "not_valid_data", errMsg: "all data must be valid UTF8"}}}},
	{origin: "authorize/basic_test.rb: regression test for utf8 issues and super malformed request", name: "app_key",
		setup: basicSetup,
		steps: []step{{path: authorizeXML, raw: "provider_key=" + pk + "&app_id=" + aid + "&app_key=%f0%90%28%bc", want: want{status: 400, errCode: "not_valid_data", errMsg: "all data must be valid UTF8"}}}},
	{origin: "authorize/basic_test.rb: regression test for utf8 issues and super malformed request", name: "usage metric",
		setup: basicSetup,
		steps: []step{{path: authorizeXML, raw: "provider_key=" + pk + "&app_id=" + aid + "&usage%5B%f0%90%28%bc%5D=1", want: want{status: 400}}}},
	{origin: "authorize/basic_test.rb: regression test for utf8 issues and super malformed request", name: "referrer",
		setup: basicSetup,
		steps: []step{{path: authrepXML, raw: "provider_key=" + pk + "&app_id=" + aid + "&referrer=%ff", want: want{status: 400, errCode: "not_valid_data"},
			check: func(t *testing.T, m *model) {
				if n := m.rdb.Exists(m.ctx, "stats/{service:"+sid+"}/cinstances").Val(); n != 0 {
					t.Error("a rejected request wrote stats")
				}
			}}}},
}
