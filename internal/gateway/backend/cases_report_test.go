package backend

import (
	"testing"
	"time"
)

const rt = "report_test.rb: "

// appStatAt / svcStatAt assert a counter of the period holding at.
func appStatAt(app, metricID string, p Period, at time.Time, want string) func(t *testing.T, m *model) {
	return func(t *testing.T, m *model) {
		t.Helper()
		got, _ := m.rdb.Get(m.ctx, AppStatsKey(sid, app, metricID, p, at)).Result()
		if got != want {
			t.Errorf("application %s metric %s %s counter = %q, want %q", app, metricID, p, got, want)
		}
	}
}

func svcStatAt(metricID string, p Period, at time.Time, want string) func(t *testing.T, m *model) {
	return func(t *testing.T, m *model) {
		t.Helper()
		got, _ := m.rdb.Get(m.ctx, ServiceStatsKey(sid, metricID, p, at)).Result()
		if got != want {
			t.Errorf("service metric %s %s counter = %q, want %q", metricID, p, got, want)
		}
	}
}

// noAppStats asserts no counter of metricID exists for the application.
func noAppStats(metricID string) func(t *testing.T, m *model) {
	return func(t *testing.T, m *model) {
		t.Helper()
		keys, _ := m.rdb.Keys(m.ctx, "stats/{service:"+sid+"}/cinstance:"+aid+"/metric:"+metricID+"/*").Result()
		if len(keys) > 0 {
			t.Errorf("unexpected counters %v", keys)
		}
	}
}

func tx(kv ...string) step {
	return step{path: reportXML, form: reportForm(kv...), want: want{status: 202}}
}

var (
	apr23   = time.Date(2010, 4, 23, 0, 0, 0, 0, time.UTC)
	apr22h  = time.Date(2010, 4, 22, 23, 0, 0, 0, time.UTC)
	may1017 = time.Date(2010, 5, 10, 17, 36, 0, 0, time.UTC)
	may1213 = time.Date(2010, 5, 12, 13, 33, 0, 0, time.UTC)
)

func tsCase(name, ts string, hour time.Time) smCase {
	return smCase{origin: rt + name, now: apr23, setup: basicSetup,
		steps: []step{{path: reportXML, form: reportForm("transactions[0][app_id]", aid, "transactions[0][usage][hits]", "1", "transactions[0][timestamp]", ts),
			want: want{status: 202}, check: svcStatAt(hitsID, Hour, hour, "1")}}}
}

func withStep(s step, check func(t *testing.T, m *model)) step { s.check = check; return s }

var reportCases = []smCase{
	{origin: rt + "successful report responds with 202", setup: basicSetup,
		steps: []step{tx("transactions[0][app_id]", aid, "transactions[0][usage][hits]", "1")}},
	{origin: rt + "successful report increments the stats counters", now: may1017, setup: basicSetup,
		steps: []step{withStep(tx("transactions[0][app_id]", aid, "transactions[0][usage][hits]", "1"),
			checks(appStatAt(aid, hitsID, Month, may1017, "1"), appStatAt(aid, hitsID, Day, may1017, "1"), appStatAt(aid, hitsID, Hour, may1017, "1")))}},
	{origin: rt + "successful report with different apps increments stats counter at service and app level", now: may1017,
		setup: with(basicSetup, func(m *model) { m.app(sid, "1070", "active", plan, "", "") }),
		steps: []step{withStep(tx("transactions[0][app_id]", aid, "transactions[0][usage][hits]", "10", "transactions[1][app_id]", "1070", "transactions[1][usage][hits]", "10"),
			func(t *testing.T, m *model) {
				for _, p := range []Period{Minute, Hour, Day, Week, Month, Year, Eternity} {
					appStatAt(aid, hitsID, p, may1017, "10")(t, m)
					appStatAt("1070", hitsID, p, may1017, "10")(t, m)
				}
				for _, p := range []Period{Hour, Day, Week, Month, Eternity} {
					svcStatAt(hitsID, p, may1017, "20")(t, m)
				}
			})}},
	tsCase("successful report with utc timestamped transactions", "2010-04-22 23:59:30", apr22h),
	tsCase("successful report with UTC timestamped transactions", "2010-04-22 23:59:25 UTC", apr22h),
	tsCase("successful report with proper local timestamped transactions", "2010-04-22 23:55:45 +0200", time.Date(2010, 4, 22, 21, 0, 0, 0, time.UTC)),
	tsCase("successful report with local timestamped transactions", "2010-04-22 21:00:25 -02:00", apr22h),
	tsCase("successful report with UNIX timestamped transactions", "1271980765", apr22h),
	{origin: rt + "report uses current time if timestamp is blank", now: time.Date(2010, 8, 19, 11, 24, 0, 0, time.UTC), setup: basicSetup,
		steps: []step{withStep(tx("transactions[0][app_id]", aid, "transactions[0][usage][hits]", "1", "transactions[0][timestamp]", ""),
			svcStatAt(hitsID, Hour, time.Date(2010, 8, 19, 11, 0, 0, 0, time.UTC), "1"))}},
	{origin: rt + "report fails on invalid provider key", setup: basicSetup,
		steps: []step{{path: reportXML, form: q("provider_key", "invalid_key", "transactions[0][app_id]", aid, "transactions[0][usage][hits]", "1"),
			want: want{status: 403, errCode: "provider_key_invalid_or_service_missing", errMsg: `provider key "invalid_key" invalid and/or service ID missing`}}}},
	{origin: rt + "report reports error on invalid application id", setup: basicSetup,
		steps: []step{withStep(tx("transactions[0][app_id]", "boo", "transactions[0][usage][hits]", "1"), noAppStats(hitsID))}},
	{origin: rt + "report reports error on invalid metric name", setup: basicSetup,
		steps: []step{withStep(tx("transactions[0][app_id]", aid, "transactions[0][usage][nukes]", "1"), noAppStats(hitsID))}},
	{origin: rt + "report reports error on empty usage value", setup: basicSetup,
		steps: []step{withStep(tx("transactions[0][app_id]", aid, "transactions[0][usage][hits]", " "), noAppStats(hitsID))}},
	{origin: rt + "report reports error on invalid usage value", setup: basicSetup,
		steps: []step{withStep(tx("transactions[0][app_id]", aid, "transactions[0][usage][hits]", "tons!"), noAppStats(hitsID))}},
	{origin: rt + "report does not create keys with usage == 0",
		setup: with(basicSetup, func(m *model) { m.metric(sid, "1071", "some_metric", "") }),
		steps: []step{withStep(tx("transactions[0][app_id]", aid, "transactions[0][usage][hits]", "0", "transactions[0][usage][some_metric]", "1"),
			checks(noAppStats(hitsID), statIs("1071", Month, "1")))}},
	{origin: rt + "report does not create stats keys when setting the usage to 0 (#0)", setup: basicSetup,
		steps: []step{withStep(tx("transactions[0][app_id]", aid, "transactions[0][usage][hits]", "#0"), noAppStats(hitsID))}},
	{origin: rt + "report deletes existing stats keys when setting the usage to 0 (#0)", setup: basicSetup,
		steps: []step{
			withStep(tx("transactions[0][app_id]", aid, "transactions[0][usage][hits]", "10"), statIs(hitsID, Month, "10")),
			withStep(tx("transactions[0][app_id]", aid, "transactions[0][usage][hits]", "#0"), noAppStats(hitsID)),
		}},
	{origin: rt + "report does not aggregate anything when at least one transaction is invalid", setup: basicSetup,
		steps: []step{withStep(tx("transactions[0][app_id]", aid, "transactions[0][usage][hits]", "1", "transactions[1][app_id]", "boo", "transactions[1][usage][hits]", "1"), noAppStats(hitsID))}},
	{origin: rt + "report succeeds when application is not active",
		setup: with(basicSetup, func(m *model) { m.app(sid, aid, "suspended", plan, "", "") }),
		steps: []step{tx("transactions[0][app_id]", aid, "transactions[0][usage][hits]", "1")}},
	{origin: rt + "report succeeds when client usage limits are exceeded", setup: with(basicSetup, limits(hitsID, "month", 2)),
		steps: []step{hitsReport("2"), withStep(tx("transactions[0][app_id]", aid, "transactions[0][usage][hits]", "1"), statIs(hitsID, Month, "3"))}},
	{origin: rt + "report succeeds when valid legacy user key passed",
		setup: with(basicSetup, func(m *model) { m.userKey(sid, "foobar", aid) }),
		steps: []step{withStep(tx("transactions[0][user_key]", "foobar", "transactions[0][usage][hits]", "1"), statIs(hitsID, Month, "1"))}},
	{origin: rt + "report reports error on invalid legacy user key",
		setup: with(basicSetup, func(m *model) { m.userKey(sid, "foobar", aid) }),
		steps: []step{withStep(tx("transactions[0][user_key]", "inyourface", "transactions[0][usage][hits]", "1"), noAppStats(hitsID))}},
	{origin: rt + "report reports error when both application id and legacy user key are used",
		setup: with(basicSetup, func(m *model) { m.userKey(sid, "foobar", aid) }),
		steps: []step{withStep(tx("transactions[0][app_id]", aid, "transactions[0][user_key]", "foobar", "transactions[0][usage][hits]", "1"), noAppStats(hitsID))}},
	{origin: rt + "failed report on wrong provider key", now: may1213, setup: basicSetup,
		steps: []step{
			{path: reportXML, form: q("provider_key", "fake_provider_key", "transactions[0][app_id]", aid, "transactions[0][usage][hits]", "1"), want: want{status: 403, errCode: "provider_key_invalid_or_service_missing"}},
			{path: reportXML, form: q("provider_key", pk, "service_id", "fake_service_id", "transactions[0][app_id]", aid, "transactions[0][usage][hits]", "1"), want: want{status: 403, errCode: "service_id_invalid"}, check: noAppStats(hitsID)},
		}},
	{origin: rt + "checking correct behavior of timestamps on report", now: may1213, setup: basicSetup,
		steps: []step{
			withStep(tx("transactions[0][app_id]", aid, "transactions[0][usage][hits]", "1", "transactions[0][timestamp]", "2010-05-11 13:34:00 UTC"),
				checks(appStatAt(aid, hitsID, Day, may1213, ""), appStatAt(aid, hitsID, Day, may1213.AddDate(0, 0, -1), "1"))),
			withStep(tx("transactions[0][app_id]", aid, "transactions[0][usage][hits]", "1", "transactions[0][timestamp]", "2012garbage2012"),
				appStatAt(aid, hitsID, Month, may1213, "2")),
		}},
	{origin: rt + "checking correct behavior of timestamps on report", name: "2012/10/01", now: time.Date(2012, 10, 1, 0, 0, 0, 0, time.UTC), setup: basicSetup,
		steps: []step{withStep(tx("transactions[0][app_id]", aid, "transactions[0][usage][hits]", "1", "transactions[0][timestamp]", "2012/10/01"),
			appStatAt(aid, hitsID, Month, time.Date(2012, 10, 1, 0, 0, 0, 0, time.UTC), "1"))}},
	{origin: rt + "reporting a transaction with a past timestamp within the limits does not generate errors", now: time.Date(2016, 2, 10, 0, 0, 0, 0, time.UTC), setup: basicSetup,
		steps: []step{withStep(tx("transactions[0][app_id]", aid, "transactions[0][usage][hits]", "1", "transactions[0][timestamp]", "2016-02-09 00:00:00",
			"transactions[1][app_id]", aid, "transactions[1][usage][hits]", "2", "transactions[1][timestamp]", "2016-02-09 00:00:00"),
			appStatAt(aid, hitsID, Month, time.Date(2016, 2, 10, 0, 0, 0, 0, time.UTC), "3"))}},
	{origin: rt + "reporting a transaction with a future timestamp within the limits does not generate errors", now: time.Date(2016, 2, 10, 0, 0, 0, 0, time.UTC), setup: basicSetup,
		steps: []step{withStep(tx("transactions[0][app_id]", aid, "transactions[0][usage][hits]", "1", "transactions[0][timestamp]", "2016-02-10 01:00:00",
			"transactions[1][app_id]", aid, "transactions[1][usage][hits]", "2", "transactions[1][timestamp]", "2016-02-10 01:00:00"),
			appStatAt(aid, hitsID, Month, time.Date(2016, 2, 10, 0, 0, 0, 0, time.UTC), "3"))}},
	{origin: rt + "reporting a transaction with a future timestamp within the limits does not generate errors", name: "beyond the hour is dropped", now: time.Date(2016, 2, 10, 0, 0, 0, 0, time.UTC), setup: basicSetup,
		steps: []step{withStep(tx("transactions[0][app_id]", aid, "transactions[0][usage][hits]", "1", "transactions[0][timestamp]", "2016-02-10 01:00:01"), noAppStats(hitsID))}},
}
