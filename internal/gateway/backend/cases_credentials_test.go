package backend

import "time"

const (
	lg = "authorize/legacy_test.rb: "
	rf = "authorize/referrer_filters_test.rb: "
	lh = "authorize/limit_headers_test.rb: "
)

func tokenSetup(m *model) { basicSetup(m); m.serviceToken("a_token", sid) }

var credentialCases = []smCase{
	{origin: ab + "auth using registered (service_token, service_id) instead of provider key responds 200", setup: tokenSetup,
		steps: []step{{path: authorizeXML, q: q("service_token", "a_token", "service_id", sid, "app_id", aid), want: want{status: 200}}}},
	{origin: ab + "auth using valid service token and blank service ID fails", setup: tokenSetup,
		steps: []step{
			{path: authorizeXML, q: q("service_token", "a_token", "service_id", "", "app_id", aid), want: want{status: 422, errCode: "service_id_missing", errMsg: "Service ID is missing"}},
			{path: authorizeXML, q: q("service_token", "a_token", "app_id", aid), want: want{status: 422, errCode: "service_id_missing"}},
		}},
	{origin: ab + "auth using blank service token and valid service ID fails", setup: tokenSetup,
		steps: []step{
			{path: authorizeXML, q: q("service_token", "", "service_id", sid, "app_id", aid), want: want{status: 403, errCode: "provider_key_or_service_token_required", errMsg: "Provider key or service token are required"}},
			{path: authorizeXML, q: q("service_id", sid, "app_id", aid), want: want{status: 403, errCode: "provider_key_or_service_token_required"}},
		}},
	{origin: ab + "auth using registered token but with non-existing service ID fails",
		setup: with(basicSetup, func(m *model) { m.serviceToken("a_token", "id_non_existing_service") }),
		steps: []step{{path: authorizeXML, q: q("service_token", "a_token", "service_id", "id_non_existing_service", "app_id", aid),
			want: want{status: 403, errCode: "service_token_invalid", errMsg: `service token "a_token" or service id "id_non_existing_service" is invalid`}}}},
	{origin: ab + "auth using valid provider key and blank service token responds with 200", setup: basicSetup,
		steps: []step{{path: authorizeXML, q: q("provider_key", pk, "service_token", "", "app_id", aid), want: want{status: 200}}}},
	{origin: ab + "auth using non-existing provider key and saved (service token, service id) fails", setup: tokenSetup,
		steps: []step{{path: authorizeXML, q: q("provider_key", "non_existing_key", "service_token", "a_token", "service_id", sid, "app_id", aid),
			want: want{status: 403, errCode: "provider_key_invalid", errMsg: `provider key "non_existing_key" is invalid`}}}},

	{origin: lg + "succeeds when valid legacy user key passed",
		setup: with(basicSetup, func(m *model) { m.userKey(sid, "foobar", aid) }),
		steps: []step{{path: authorizeXML, q: q("provider_key", pk, "user_key", "foobar"), want: ok200}}},
	{origin: lg + "fails on invalid legacy user key passed",
		setup: with(basicSetup, func(m *model) { m.userKey(sid, "foobar", aid) }),
		steps: []step{{path: authorizeXML, q: q("provider_key", pk, "user_key", "biteme"), want: want{status: 403, errCode: "user_key_invalid", errMsg: `user key "biteme" is invalid`}}}},
	{origin: lg + "fails when both application_id and legacy user key are passed",
		setup: with(basicSetup, func(m *model) { m.userKey(sid, "foobar", aid) }),
		steps: []step{{path: authorizeXML, q: q("provider_key", pk, "app_id", aid, "user_key", "foobar"), want: want{status: 403, errCode: "authentication_error", errMsg: "either app_id or user_key is allowed, not both"}}}},
}

func referrerSetup(m *model) {
	basicSetup(m)
	m.service(sid, pk, "", "referrer_filters_required")
}

func filter(f string) func(m *model) {
	return func(m *model) { m.referrerFilter(sid, aid, f) }
}

func notRequired(m *model) { m.service(sid, pk, "") }

func refQ(ref ...string) map[string][]string {
	v := q("provider_key", pk, "app_id", aid)
	for _, r := range ref {
		v.Set("referrer", r)
	}
	return v
}

var referrerCases = []smCase{
	{origin: rf + "succeeds if no referrer filter is defined and no referrer is passed", setup: with(referrerSetup, notRequired),
		steps: []step{{path: authorizeXML, q: refQ(), want: ok200}}},
	{origin: rf + "succeeds if simple domain filter is defined and matching referrer is passed", setup: with(referrerSetup, filter("example.org")),
		steps: []step{{path: authorizeXML, q: refQ("example.org"), want: ok200}}},
	{origin: rf + "succeeds if wildcard domain filter is defined and matching referrer is passed", setup: with(referrerSetup, filter("*.bar.example.org")),
		steps: []step{{path: authorizeXML, q: refQ("foo.bar.example.org"), want: ok200}}},
	{origin: rf + "succeeds if a referrer filter is defined but referrer is bypassed", setup: with(referrerSetup, filter("example.org")),
		steps: []step{{path: authorizeXML, q: refQ("*"), want: ok200}}},
	{origin: rf + "does not authorize if domain filter is defined but no referrer is passed", setup: with(referrerSetup, filter("example.org")),
		steps: []step{{path: authorizeXML, q: refQ(), want: want{status: 409, reason: "referrer is missing"}}}},
	{origin: rf + "does not authorize if simple domain filter is defined but referrer does not match", setup: with(referrerSetup, filter("foo.example.org")),
		steps: []step{{path: authorizeXML, q: refQ("bar.example.org"), want: want{status: 409, reason: `referrer "bar.example.org" is not allowed`}}}},
	{origin: rf + "does not authorize if wildcard domain filter is defined but referrer does not match", setup: with(referrerSetup, filter("*.foo.example.org")),
		steps: []step{{path: authorizeXML, q: refQ("baz.bar.example.org"), want: want{status: 409, reason: `referrer "baz.bar.example.org" is not allowed`}}}},
	{origin: rf + "succeeds if referrer filters are not required", setup: with(referrerSetup, notRequired),
		steps: []step{{path: authorizeXML, q: refQ(), want: ok200}}},
	{origin: rf + "succeeds if referrer filters are required and defined", setup: with(referrerSetup, filter("foo.example.org")),
		steps: []step{{path: authorizeXML, q: refQ("foo.example.org"), want: ok200}}},
	{origin: rf + "authorize always if referrer filters at the service level are set to false", setup: with(referrerSetup, notRequired, filter("*.foo.example.org")),
		steps: []step{{path: authorizeXML, q: refQ("test.foo.example.org"), want: ok200}}},
	{origin: rf + "authorize always if referrer filters at the service level are set to false, even when incorrect", setup: with(referrerSetup, notRequired, filter("*.foo.example.org")),
		steps: []step{{path: authorizeXML, q: refQ("baz.bar.example.org"), want: ok200}}},
}

// limitNow is 2018-01-01 22:59:59 UTC: 1 s left in the hour, 3601 s in the day.
var limitNow = time.Date(2018, 1, 1, 22, 59, 59, 0, time.UTC)

func lhHeaders(remaining, reset string) map[string]string {
	return map[string]string{"3scale-limit-remaining": remaining, "3scale-limit-reset": reset}
}

var limitHeaderCases = []smCase{
	{origin: lh + "response headers include limit headers when asked via extensions", now: limitNow,
		setup: with(basicSetup, limits(hitsID, "day", 100, "hour", 100), func(m *model) {
			m.metric(sid, "1040", "metric2", "")
			m.limit(sid, plan, "1040", "day", 200)
		}),
		steps: []step{{path: authorizeXML, q: q("provider_key", pk, "app_id", aid, "usage[hits]", "10", "usage[metric2]", "10"), opts: "limit_headers=1",
			want: want{status: 200, headers: lhHeaders("10", "3601")}}}},
	{origin: lh + "response headers include correct information when rate-limited", now: limitNow,
		setup: with(basicSetup, limits(hitsID, "day", 100, "hour", 10)),
		steps: []step{{path: authorizeXML, q: q("provider_key", pk, "app_id", aid, "usage[hits]", "11"), opts: "limit_headers=1",
			want: want{status: 409, headers: lhHeaders("0", "1")}}}},
	{origin: lh + "remaining in limit headers is 0 when over limits", now: limitNow,
		setup: with(basicSetup, limits(hitsID, "day", 100)),
		steps: []step{hitsReport("101"), {path: authorizeXML, q: appQ, opts: "limit_headers=1", want: want{status: 409, headers: lhHeaders("0", "3601")}}}},
	{origin: lh + "when a usage is passed, only take into account the metrics in the usage", now: limitNow,
		setup: with(basicSetup, limits(hitsID, "day", 0), func(m *model) {
			m.metric(sid, "a_metric_id", "a_metric", "")
			m.limit(sid, plan, "a_metric_id", "day", 100)
		}),
		steps: []step{{path: authorizeXML, q: q("provider_key", pk, "app_id", aid, "usage[a_metric]", "10"), opts: "limit_headers=1",
			want: want{status: 200, headers: lhHeaders("10", "3601")}}}},
	{origin: lh + "when a usage is passed, remaining/reset can refer to a parent metric", now: limitNow,
		setup: with(basicSetup, func(m *model) {
			m.metric(sid, "1050", "parent", "")
			m.metric(sid, "1051", "child", "1050")
			m.limit(sid, plan, "1050", "day", 10)
			m.limit(sid, plan, "1051", "day", 20)
		}),
		steps: []step{{path: authorizeXML, q: q("provider_key", pk, "app_id", aid, "usage[child]", "2"), opts: "limit_headers=1",
			want: want{status: 200, headers: lhHeaders("5", "3601")}}}},
	{origin: lh + "remaining and reset in headers are negative when there are no limits", setup: basicSetup,
		steps: []step{{path: authorizeXML, q: q("provider_key", pk, "app_id", aid, "usage[hits]", "10"), opts: "limit_headers=1",
			want: want{status: 200, headers: lhHeaders("-1", "-1")}}}},
	{origin: lh + "reset in limit headers is negative when the period is eternity",
		setup: with(basicSetup, limits(hitsID, "eternity", 100)),
		steps: []step{{path: authorizeXML, q: q("provider_key", pk, "app_id", aid, "usage[hits]", "2"), opts: "limit_headers=1",
			want: want{status: 200, headers: lhHeaders("50", "-1")}}}},
	{origin: lh + "limit headers are not returned when there is an error != limits exceeded", setup: basicSetup,
		steps: []step{
			{path: authorizeXML, q: q("provider_key", pk, "app_id", aid, "usage[invalid_metric]", "1"), opts: "limit_headers=1", want: want{status: 404, headers: lhHeaders("-", "-")}},
		}},
	{origin: lh + "limit headers are not returned when there is an error != limits exceeded", name: "application_key_invalid",
		setup: with(basicSetup, func(m *model) { m.appKey(sid, aid, "foo") }),
		steps: []step{{path: authorizeXML, q: q("provider_key", pk, "app_id", aid, "usage[invalid_metric]", "1"), opts: "limit_headers=1", want: want{status: 404, headers: lhHeaders("-", "-")}}}},
	{origin: lh + "response headers do not include limit headers whe not asked via extensions",
		setup: with(basicSetup, limits(hitsID, "day", 100)),
		steps: []step{{path: authorizeXML, q: appQ, want: want{status: 200, headers: lhHeaders("-", "-")}}}},
}
