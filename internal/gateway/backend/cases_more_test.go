package backend

const ob = "oauth/basic_test.rb: "

var oauthQ = q("provider_key", pk, "app_id", aid)

// oauthCases are oauth/basic_test.rb (setup_oauth_provider_fixtures: the
// service's backend_version is oauth) on /transactions/oauth_authorize.xml.
var oauthCases = []smCase{
	{origin: ob + "successful authorize responds with 200", setup: oauthBasic,
		steps: []step{{path: oauthAuthorizeXML, q: oauthQ, want: want{status: 200, headers: map[string]string{"Content-Type": contentType}}}}},
	{origin: ob + "test_nobody (no_body extension on a successful oauth_authorize)", setup: oauthBasic,
		steps: []step{{path: oauthAuthorizeXML, q: oauthQ, opts: "no_body=1", want: want{status: 200, emptyBody: true}}}},
	{origin: ob + "successful authorize renders plan name", setup: oauthBasic,
		steps: []step{{path: oauthAuthorizeXML, q: oauthQ, want: want{status: 200, authorized: "true", contains: []string{"<plan>" + planName + "</plan>"}}}}},
	{origin: ob + "response of successful authorize contains application data",
		setup: with(oauthBasic, func(m *model) {
			m.app(sid, "1080", "active", plan, planName, "http://3scale.net")
			m.appKey(sid, "1080", "0123456789abcdef0123456789abcdef")
		}),
		steps: []step{{path: oauthAuthorizeXML, q: q("provider_key", pk, "app_id", "1080"), want: want{status: 200,
			contains: []string{"<application><id>1080</id><key>0123456789abcdef0123456789abcdef</key><redirect_url>http://3scale.net</redirect_url></application>"}}}}},
	{origin: ob + "response of successful authorize contains usage reports if the plan has usage limits",
		setup: with(oauthBasic, limits(hitsID, "day", 100, "month", 10000)),
		steps: []step{
			{path: reportXML, form: reportForm("transactions[0][app_id]", aid, "transactions[0][usage][hits]", "3", "transactions[0][timestamp]", "2010-05-14 00:00:00"), want: want{status: 202}},
			hitsReport("2"),
			{path: oauthAuthorizeXML, q: oauthQ, want: want{status: 200, contains: []string{
				`<usage_report metric="hits" period="day"><period_start>2010-05-15 00:00:00 +0000</period_start><period_end>2010-05-16 00:00:00 +0000</period_end><max_value>100</max_value><current_value>2</current_value></usage_report>`,
				`<usage_report metric="hits" period="month"><period_start>2010-05-01 00:00:00 +0000</period_start><period_end>2010-06-01 00:00:00 +0000</period_end><max_value>10000</max_value><current_value>5</current_value></usage_report>`,
			}}},
		}},
	{origin: ob + "fails on invalid provider key", setup: oauthBasic,
		steps: []step{{path: oauthAuthorizeXML, q: q("provider_key", "invalid_key", "app_id", aid), want: want{status: 403, errCode: "provider_key_invalid_or_service_missing"}}}},
	{origin: ob + "fails on invalid application id", setup: oauthBasic,
		steps: []step{{path: oauthAuthorizeXML, q: q("provider_key", pk, "app_id", "boo"), want: want{status: 404, errCode: "application_not_found", errMsg: `application with id="boo" was not found`}}}},
	{origin: ob + "fails on missing application id", setup: oauthBasic,
		steps: []step{{path: oauthAuthorizeXML, q: q("provider_key", pk), want: want{status: 404, errCode: "application_not_found"}}}},
	{origin: ob + "does not authorize on inactive application",
		setup: with(oauthBasic, func(m *model) { m.app(sid, aid, "suspended", plan, planName, "") }),
		steps: []step{{path: oauthAuthorizeXML, q: oauthQ, want: want{status: 409, reason: "application is not active"}}}},
	{origin: ob + "does not authorize on exceeded client usage limits", setup: with(oauthBasic, limits(hitsID, "day", 4)),
		steps: []step{hitsReport("5"), {path: oauthAuthorizeXML, q: q("provider_key", pk, "service_id", sid, "app_id", aid), want: want{status: 409, reason: "usage limits are exceeded"}}}},
	{origin: ob + `a request without "no_body" works as expected after making a request with "no_body"`,
		setup: with(oauthBasic, limits(hitsID, "day", 10), func(m *model) {
			m.metric(sid, "1030", "some_metric", "")
			m.limit(sid, plan, "1030", "day", 20)
		}),
		steps: []step{
			{path: oauthAuthorizeXML, q: oauthQ, opts: "no_body=1", want: want{status: 200, emptyBody: true}},
			{path: authorizeXML, q: oauthQ, want: want{status: 200, contains: []string{`<usage_report metric="hits" period="day">`, `<usage_report metric="some_metric" period="day">`}}},
		}},
	{origin: ob + "response contains usage reports marked as exceeded on exceeded client usage limits",
		setup: with(oauthBasic, limits(hitsID, "month", 10, "day", 4)),
		steps: []step{hitsReport("5"), {path: oauthAuthorizeXML, q: oauthQ, want: want{status: 409,
			contains: []string{`<usage_report metric="hits" period="day" exceeded="true">`, `<usage_report metric="hits" period="month">`}}}}},
	{origin: ob + "succeeds on eternity limits", setup: with(oauthBasic, limits(hitsID, "month", 4, "eternity", 10)),
		steps: []step{hitsReport("1"), hitsReport("1"), hitsReport("1"), {path: oauthAuthorizeXML, q: oauthQ, want: want{status: 200, authorized: "true", contains: []string{
			`<usage_report metric="hits" period="eternity"><max_value>10</max_value><current_value>3</current_value></usage_report>`}}}}},
	{origin: "oauth/redirect_url_test.rb: succeeds if its not passed and not defined", setup: with(basicSetup, oauthSvc),
		steps: []step{{path: oauthAuthorizeXML, q: oauthQ, want: ok200}}},
	{origin: "oauth/redirect_url_test.rb: does not authorize if redirect_uri is passed and doesnt match defined",
		setup: with(basicSetup, oauthSvc, func(m *model) { m.app(sid, aid, "active", plan, planName, "http://3scale.net") }),
		steps: []step{{path: oauthAuthorizeXML, q: q("provider_key", pk, "app_id", aid, "redirect_uri", "http://3scale.net2"),
			want: want{status: 409, reason: `redirect_uri "http://3scale.net2" is invalid`, contains: []string{"<redirect_uri>http://3scale.net</redirect_uri>"}}}}},
	{origin: "oauth/redirect_url_test.rb: returns redirect_url field if the request used it",
		setup: with(basicSetup, oauthSvc, func(m *model) { m.app(sid, aid, "active", plan, planName, "http://3scale.net") }),
		steps: []step{{path: oauthAuthorizeXML, q: q("provider_key", pk, "app_id", aid, "redirect_url", "http://3scale.net"),
			want: want{status: 200, contains: []string{"<redirect_url>http://3scale.net</redirect_url>"}}}}},
}

var authrepCases = authrepCasesAll()
