package backend

import "net/url"

const arb = "authrep/basic_test.rb: "

func oauthSvc(m *model) { m.service(sid, pk, "oauth") }

// oauthBasic is setup_oauth_provider_fixtures + application + hits, the
// setup of authrep/basic_test.rb, whose test_authrep runs every test on
// authrep.xml and oauth_authrep.xml.
var oauthBasic = with(basicSetup, oauthSvc)

// bothAuthreps makes one row per authrep endpoint, as test_authrep does.
func bothAuthreps(origin string, setup func(m *model), steps func(e string) []step) []smCase {
	return []smCase{
		{origin: origin, name: "authrep.xml", setup: setup, steps: steps(authrepXML)},
		{origin: origin, name: "oauth_authrep.xml", setup: setup, steps: steps(oauthAuthrepXML)},
	}
}

func appWith(app string, kv ...string) url.Values {
	return q(append([]string{"provider_key", pk, "app_id", app}, kv...)...)
}

const parentChildren = `<metric name="parent_metric" children="child_metric_1 child_metric_2"/>`

func eternityIs(metric, max, cur string) string {
	return `<usage_report metric="` + metric + `" period="eternity"><max_value>` + max + `</max_value><current_value>` + cur + `</current_value></usage_report>`
}

// childHits: hits(1005) > child_hits(1060) with eternity limits.
func childHits(hitsMax, childMax int) func(m *model) {
	return func(m *model) {
		m.metric(sid, "1060", "child_hits", hitsID)
		m.limit(sid, plan, hitsID, "eternity", int64(hitsMax))
		m.limit(sid, plan, "1060", "eternity", int64(childMax))
	}
}

func authrepCasesAll() []smCase {
	var out []smCase
	add := func(cs []smCase) { out = append(out, cs...) }
	add(bothAuthreps(arb+"successful authorize responds with 200", oauthBasic, func(e string) []step {
		return []step{{path: e, q: appQ, want: want{status: 200}}}
	}))
	add(bothAuthreps(arb+"successful authorize with deprecated no body as param responds with 200", oauthBasic, func(e string) []step {
		return []step{{path: e, q: appWith(aid, "no_body", "1"), want: want{status: 200, emptyBody: true}}}
	}))
	add(bothAuthreps(arb+"response includes hierarchy information for metrics affected by usage limits", with(hierarchySetup, oauthSvc), func(e string) []step {
		h, f := "hierarchy=1", "flat_usage=1"
		no := want{status: 409, authorized: "false", absent: []string{"<hierarchy>"}}
		return []step{
			{path: e, q: appWith("1010", "usage[child_metric_2]", "5"), opts: h, want: want{status: 200, authorized: "true", contains: []string{parentChildren}}},
			{path: e, q: appWith("1010", "usage[child_metric_1]", "0", "usage[child_metric_2]", "0"), opts: h, want: want{status: 200, contains: []string{parentChildren}}},
			{path: e, q: appWith("1010"), opts: h, want: want{status: 200, contains: []string{parentChildren}}},
			{path: e, q: appWith("1010", "usage[child_metric_2]", "6"), opts: h, want: want{status: 409, authorized: "false", contains: []string{parentChildren}}},
			{path: e, q: appWith("1010", "usage[child_metric_2]", "6"), want: no},
			{path: e, q: appWith("1010", "usage[child_metric_2]", "6"), opts: f, want: want{status: 200, authorized: "true", absent: []string{"<hierarchy>"}}},
			{path: e, q: appWith("1010", "usage[child_metric_1]", "6", "usage[child_metric_2]", "6"), opts: f, want: want{status: 200, authorized: "true"}},
			{path: e, q: appWith("1010", "usage[child_metric_1]", "1"), opts: f, want: no},
			{path: e, q: appWith("1010", "usage[parent_metric]", "1"), opts: f, want: no},
			{path: e, q: appWith("1010", "usage[child_metric_1]", "1"), opts: f, want: no},
		}
	}))
	add(bothAuthreps(arb+"fails on invalid provider key", oauthBasic, func(e string) []step {
		return []step{{path: e, q: q("provider_key", "invalid_key", "app_id", aid), want: want{status: 403, errCode: "provider_key_invalid_or_service_missing", errMsg: `provider key "invalid_key" invalid and/or service ID missing`}}}
	}))
	add(bothAuthreps(arb+"does not authorize on exceeded client usage limits", with(oauthBasic, limits(hitsID, "day", 4)), func(e string) []step {
		return []step{hitsReport("5"), {path: e, q: appQ, want: want{status: 409, reason: "usage limits are exceeded"}}}
	}))
	add(bothAuthreps(arb+"usage must be an array regression", oauthBasic, func(e string) []step {
		return []step{{path: e, q: appWith(aid, "usage", ""), want: want{status: 403}}, {path: e, q: appWith(aid, "usage", "1001"), want: want{status: 403}}}
	}))
	add(bothAuthreps(arb+"regression test for bug on reporting hits and the method of hits at the same time", with(oauthBasic, func(m *model) { m.metric(sid, "1060", "child_hits", hitsID) }), func(e string) []step {
		return []step{{path: e, q: appWith(aid, "usage[hits]", "1", "usage[child_hits]", "1"), want: want{status: 200}}}
	}))
	add(bothAuthreps(arb+"reporting hits and a child method at once", with(oauthBasic, childHits(20, 10)), func(e string) []step {
		return []step{
			{path: e, q: appWith(aid, "usage[hits]", "1", "usage[child_hits]", "1"), want: want{status: 200, contains: []string{eternityIs("hits", "20", "2"), eternityIs("child_hits", "10", "1")}}},
			{path: e, q: appQ, want: want{status: 200, contains: []string{eternityIs("hits", "20", "2"), eternityIs("child_hits", "10", "1")}}},
			{path: e, q: appWith(aid, "usage[hits]", "1", "usage[child_hits]", "1"), want: want{status: 200, contains: []string{eternityIs("hits", "20", "4"), eternityIs("child_hits", "10", "2")}}},
			{path: e, q: appQ, want: want{status: 200, contains: []string{eternityIs("hits", "20", "4"), eternityIs("child_hits", "10", "2")}}},
		}
	}))
	add(bothAuthreps(arb+"reporting hits and a child method at once, not unitary values", with(oauthBasic, childHits(200, 100)), func(e string) []step {
		et := func(h, c string) []string {
			return []string{eternityIs("hits", "200", h), eternityIs("child_hits", "100", c)}
		}
		return []step{
			{path: e, q: appWith(aid, "usage[hits]", "2", "usage[child_hits]", "5"), want: want{status: 200, contains: et("7", "5")}},
			{path: e, q: appQ, want: want{status: 200, contains: et("7", "5")}},
			{path: e, q: appWith(aid, "usage[hits]", "3", "usage[child_hits]", "2"), want: want{status: 200, contains: et("12", "7")}},
			{path: e, q: appWith(aid, "usage[child_hits]", "50"), want: want{status: 200, contains: et("62", "57")}},
			{path: e, q: appQ, want: want{status: 200, contains: et("62", "57")}},
		}
	}))
	add(bothAuthreps(arb+"authrep with registered (service_token, service_id) instead of provider key responds 200", with(oauthBasic, func(m *model) { m.serviceToken("a_token", sid) }), func(e string) []step {
		return []step{{path: e, q: q("service_token", "a_token", "service_id", sid, "app_id", aid), want: want{status: 200}}}
	}))
	add(bothAuthreps(arb+"authrep using non-existing provider key and saved (service token, service id) fails", with(oauthBasic, func(m *model) { m.serviceToken("a_token", sid) }), func(e string) []step {
		return []step{{path: e, q: q("provider_key", "non_existing_key", "service_token", "a_token", "service_id", sid, "app_id", aid), want: want{status: 403, errCode: "provider_key_invalid"}}}
	}))
	add(bothAuthreps(arb+"resp headers have rejection reason when 409 and option is in params", with(oauthBasic, limits(hitsID, "day", 1)), func(e string) []step {
		return []step{{path: e, q: appWith(aid, "usage[hits]", "2"), opts: "rejection_reason_header=1", want: want{status: 409, headers: map[string]string{"3scale-rejection-reason": "limits_exceeded"}},
			check: statIs(hitsID, Day, "")}}
	}))
	return out
}
