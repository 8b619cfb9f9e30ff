package backend

import (
	"strings"
	"testing"
)

// TestLimitAboveInt64 stores the largest value System's bigint unsigned
// usage_limits.value can hold; authorize must keep the limit (reported,
// never reached) instead of dropping it or failing.
func TestLimitAboveInt64(t *testing.T) {
	clock := apisonatorNow
	e := newSMEnvClock(t, &clock)
	basicSetup(e.m)
	e.m.do("SET", "usage_limit/service_id:"+encodeKey(sid)+"/plan_id:"+encodeKey(plan)+"/metric_id:"+encodeKey(hitsID)+"/eternity", "18446744073709551615")
	r := e.get(t, authorizeXML, q("provider_key", pk, "app_id", aid, "usage[hits]", "3"), "")
	if r.status != 200 || !strings.Contains(r.body, "<authorized>true</authorized>") {
		t.Fatalf("authorize with an unsigned maximum limit: %d %s", r.status, r.body)
	}
	if !strings.Contains(r.body, `period="eternity"`) || !strings.Contains(r.body, "<max_value>9223372036854775807</max_value>") {
		t.Fatalf("the limit is not reported: %s", r.body)
	}
}
