package backend

import "time"

const ab = "authorize/basic_test.rb: "

func limits(metricID string, pl ...any) func(m *model) {
	return func(m *model) {
		for i := 0; i+1 < len(pl); i += 2 {
			m.limit(sid, plan, metricID, pl[i].(string), int64(pl[i+1].(int)))
		}
	}
}

func hitsReport(n string) step {
	return step{path: reportXML, form: reportForm("transactions[0][app_id]", aid, "transactions[0][usage][hits]", n), want: want{status: 202}}
}

var appQ = q("provider_key", pk, "app_id", aid)

// hierarchySetup is the fixture of the hierarchy/flat_usage tests: app
// 1010 on plan 1011 ("someplan"); parent_metric(1012) > child_metric_1
// (1013), child_metric_2 (1014); parent/day 5, child_metric_1/day 6.
func hierarchySetup(m *model) {
	basicSetup(m)
	m.app(sid, "1010", "active", "1011", "someplan", "")
	m.metric(sid, "1012", "parent_metric", "")
	m.metric(sid, "1013", "child_metric_1", "1012")
	m.metric(sid, "1014", "child_metric_2", "1012")
	m.limit(sid, "1011", "1012", "day", 5)
	m.limit(sid, "1011", "1013", "day", 6)
}

var hierQ = func(kv ...string) map[string][]string {
	return q(append([]string{"provider_key", pk, "app_id", "1010"}, kv...)...)
}

var authorizeCases = []smCase{
	{origin: ab + "successful authorize responds with 200", setup: basicSetup,
		steps: []step{{path: authorizeXML, q: appQ, want: want{status: 200, headers: map[string]string{"Content-Type": contentType}}}}},
	{origin: ab + "test_nobody (no_body extension on a successful authorize)", setup: basicSetup,
		steps: []step{{path: authorizeXML, q: appQ, opts: "no_body=1", want: want{status: 200, emptyBody: true}}}},
	{origin: ab + "successful authorize renders plan name", setup: basicSetup,
		steps: []step{{path: authorizeXML, q: appQ, want: want{status: 200, contains: []string{"<plan>" + planName + "</plan>"}}}}},
	{origin: ab + "response of successful authorize contains authorized flag set to true", setup: basicSetup,
		steps: []step{{path: authorizeXML, q: appQ, want: ok200}}},
	{origin: ab + "response of successful authorize contains usage reports if the plan has usage limits",
		setup: with(basicSetup, limits(hitsID, "day", 100, "month", 10000)),
		steps: []step{
			{path: reportXML, form: reportForm("transactions[0][app_id]", aid, "transactions[0][usage][hits]", "3", "transactions[0][timestamp]", "2010-05-14 00:00:00"), want: want{status: 202}},
			hitsReport("2"),
			{path: authorizeXML, q: appQ, want: want{status: 200, contains: []string{
				`<usage_report metric="hits" period="day"><period_start>2010-05-15 00:00:00 +0000</period_start><period_end>2010-05-16 00:00:00 +0000</period_end><max_value>100</max_value><current_value>2</current_value></usage_report>`,
				`<usage_report metric="hits" period="month"><period_start>2010-05-01 00:00:00 +0000</period_start><period_end>2010-06-01 00:00:00 +0000</period_end><max_value>10000</max_value><current_value>5</current_value></usage_report>`,
			}}},
		}},
	{origin: ab + "response of successful authorize does not contain usage reports if the plan has no usage limits", setup: basicSetup,
		steps: []step{hitsReport("2"), {path: authorizeXML, q: appQ, want: want{status: 200, absent: []string{"<usage_reports>"}}}}},
	{origin: ab + "fails on invalid provider key", setup: basicSetup,
		steps: []step{{path: authorizeXML, q: q("provider_key", "invalid_key", "app_id", aid), want: want{status: 403, errCode: "provider_key_invalid_or_service_missing", errMsg: `provider key "invalid_key" invalid and/or service ID missing`}}}},
	{origin: ab + "fails on invalid provider key with no body", setup: basicSetup,
		steps: []step{{path: authorizeXML, q: q("provider_key", "boo", "app_id", aid), opts: "no_body=1", want: want{status: 403, emptyBody: true}}}},
	{origin: ab + "fails on invalid application id", setup: basicSetup,
		steps: []step{{path: authorizeXML, q: q("provider_key", pk, "app_id", "boo"), want: want{status: 404, errCode: "application_not_found", errMsg: `application with id="boo" was not found`}}}},
	{origin: ab + "fails on invalid application id with no body", setup: basicSetup,
		steps: []step{{path: authorizeXML, q: q("provider_key", pk, "app_id", "boo"), opts: "no_body=1", want: want{status: 404, emptyBody: true}}}},
	{origin: ab + "fails on missing application id", setup: basicSetup,
		steps: []step{{path: authorizeXML, q: q("provider_key", pk), want: want{status: 404, errCode: "application_not_found"}}}},
	{origin: ab + "fails when the application exists but in a different provider",
		setup: with(basicSetup, func(m *model) {
			m.service("1020", "1021", "")
			m.app("1020", "1022", "active", "1023", "free", "")
		}),
		steps: []step{{path: authorizeXML, q: q("provider_key", pk, "service_id", "1020", "app_id", "1022"), want: want{status: 403, errCode: "service_id_invalid", errMsg: `service id "1020" is invalid`}}}},
	{origin: ab + "does not authorize on inactive application",
		setup: with(basicSetup, func(m *model) { m.app(sid, aid, "suspended", plan, planName, "") }),
		steps: []step{{path: authorizeXML, q: appQ, want: want{status: 409, authorized: "false", reason: "application is not active"}}}},
	{origin: ab + "does not authorize on inactive application with no body",
		setup: with(basicSetup, func(m *model) { m.app(sid, aid, "suspended", plan, planName, "") }),
		steps: []step{{path: authorizeXML, q: appQ, opts: "no_body=1", want: want{status: 409, emptyBody: true}}}},
	{origin: ab + "does not authorize on exceeded client usage limits",
		setup: with(basicSetup, limits(hitsID, "day", 4)),
		steps: []step{hitsReport("5"), {path: authorizeXML, q: appQ, want: want{status: 409, reason: "usage limits are exceeded"}}}},
	{origin: ab + "does not authorize on exceeded client usage limits with no body",
		setup: with(basicSetup, limits(hitsID, "day", 4)),
		steps: []step{hitsReport("5"), {path: authorizeXML, q: appQ, opts: "no_body=1", want: want{status: 409, emptyBody: true}}}},
	{origin: ab + `a request without "no_body" works as expected after making a request with "no_body"`,
		setup: with(basicSetup, limits(hitsID, "day", 10), func(m *model) {
			m.metric(sid, "1030", "some_metric", "")
			m.limit(sid, plan, "1030", "day", 20)
		}),
		steps: []step{
			{path: authorizeXML, q: appQ, opts: "no_body=1", want: want{status: 200, emptyBody: true}},
			{path: authorizeXML, q: appQ, want: want{status: 200, contains: []string{`<usage_report metric="hits" period="day">`, `<usage_report metric="some_metric" period="day">`}}},
		}},
	{origin: ab + "response contains usage reports marked as exceeded on exceeded client usage limits",
		setup: with(basicSetup, limits(hitsID, "month", 10, "day", 4)),
		steps: []step{hitsReport("5"), {path: authorizeXML, q: appQ, want: want{status: 409,
			contains: []string{`<usage_report metric="hits" period="day" exceeded="true">`, `<usage_report metric="hits" period="month">`}}}}},
	{origin: ab + "succeeds on eternity limits",
		setup: with(basicSetup, limits(hitsID, "month", 4, "eternity", 10)),
		steps: []step{hitsReport("1"), hitsReport("1"), hitsReport("1"), {path: authorizeXML, q: appQ, want: want{status: 200, authorized: "true", contains: []string{
			`<usage_report metric="hits" period="month"><period_start>2010-05-01 00:00:00 +0000</period_start><period_end>2010-06-01 00:00:00 +0000</period_end><max_value>4</max_value><current_value>3</current_value></usage_report>`,
			`<usage_report metric="hits" period="eternity"><max_value>10</max_value><current_value>3</current_value></usage_report>`,
		}}}}},
	{origin: ab + "does not authorize on eternity limits",
		setup: with(basicSetup, limits(hitsID, "month", 20, "eternity", 2)),
		steps: []step{hitsReport("1"), hitsReport("1"), hitsReport("1"), {path: authorizeXML, q: appQ, want: want{status: 409, contains: []string{
			`<usage_report metric="hits" period="month"><period_start>2010-05-01 00:00:00 +0000</period_start><period_end>2010-06-01 00:00:00 +0000</period_end><max_value>20</max_value><current_value>3</current_value></usage_report>`,
			`<usage_report metric="hits" period="eternity" exceeded="true"><max_value>2</max_value><current_value>3</current_value></usage_report>`,
		}}}}},
	{origin: ab + "eternity is not returned if the limit on it is not defined",
		setup: with(basicSetup, limits(hitsID, "month", 20)),
		steps: []step{hitsReport("1"), {path: authorizeXML, q: appQ, want: want{status: 200, contains: []string{`period="month"`}, absent: []string{`period="eternity"`}}}}},
	{origin: ab + "usage must be an array regression", setup: basicSetup,
		steps: []step{
			{path: authorizeXML, q: q("provider_key", pk, "app_id", aid, "usage", ""), want: want{status: 403}},
			{path: authorizeXML, q: q("provider_key", pk, "app_id", aid, "usage", "1001"), want: want{status: 403}},
		}},
	{origin: ab + "resp headers have rejection reason when 409 and option is in the params",
		setup: with(basicSetup, limits(hitsID, "day", 1)),
		steps: []step{{path: authorizeXML, q: q("provider_key", pk, "app_id", aid, "usage[hits]", "2"), opts: "rejection_reason_header=1",
			want: want{status: 409, headers: map[string]string{"3scale-rejection-reason": "limits_exceeded"}}}}},
	{origin: ab + "resp headers do not have rejection reason when 409 and option is not enabled",
		setup: with(basicSetup, limits(hitsID, "day", 1)),
		steps: []step{{path: authorizeXML, q: q("provider_key", pk, "app_id", aid, "usage[hits]", "2"),
			want: want{status: 409, headers: map[string]string{"3scale-rejection-reason": "-"}}}}},
	{origin: ab + "response includes hierarchy information for metrics affected by usage limits", now: time.Date(2010, 5, 15, 0, 0, 0, 0, time.UTC),
		setup: hierarchySetup,
		steps: []step{
			{path: authorizeXML, q: hierQ("usage[child_metric_2]", "5"), opts: "hierarchy=1", want: want{status: 200, contains: []string{`<hierarchy><metric name="parent_metric" children="child_metric_1 child_metric_2"/>`}}},
			{path: authorizeXML, q: hierQ("usage[child_metric_1]", "0", "usage[child_metric_2]", "0"), opts: "hierarchy=1", want: want{status: 200, contains: []string{`<metric name="parent_metric" children="child_metric_1 child_metric_2"/>`}}},
			{path: authorizeXML, q: hierQ(), opts: "hierarchy=1", want: want{status: 200, contains: []string{`<metric name="parent_metric" children="child_metric_1 child_metric_2"/>`}}},
			{path: authorizeXML, q: hierQ("usage[child_metric_2]", "6"), opts: "hierarchy=1", want: want{status: 409, authorized: "false", contains: []string{`<hierarchy>`}}},
			{path: authorizeXML, q: hierQ("usage[child_metric_2]", "6"), want: want{status: 409, authorized: "false", absent: []string{`<hierarchy>`}}},
		}},
	{origin: ab + "flat usage extensions ignores established hierarchy when passing in usage data",
		setup: hierarchySetup,
		steps: []step{
			{path: authorizeXML, q: hierQ("usage[child_metric_2]", "6"), opts: "flat_usage=1", want: ok200},
			{path: authorizeXML, q: hierQ("usage[child_metric_1]", "6", "usage[child_metric_2]", "6"), opts: "flat_usage=1", want: ok200},
			{path: authorizeXML, q: hierQ("usage[parent_metric]", "6"), opts: "flat_usage=1", want: want{status: 409, authorized: "false"}},
			{path: authorizeXML, q: hierQ("usage[child_metric_1]", "7"), opts: "flat_usage=1", want: want{status: 409, authorized: "false"}},
		}},
	{origin: ab + "returns error when the usage includes a metric that does not exist", setup: basicSetup,
		steps: []step{{path: authorizeXML, q: q("provider_key", pk, "app_id", aid, "usage[non_existing]", "1"), want: want{status: 404, errCode: "metric_invalid", errMsg: `metric "non_existing" is invalid`}}}},
	{origin: ab + "returns error when the usage includes a metric that does not exist and no_body=true", setup: basicSetup,
		steps: []step{{path: authorizeXML, q: q("provider_key", pk, "app_id", aid, "usage[hits]", "1", "usage[non_existing]", "1"), opts: "no_body=1", want: want{status: 404, emptyBody: true}}}},
}
