package backend

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Mode is the Service Management API call being served.
type Mode int

// The four authorization endpoints.
const (
	ModeAuthorize Mode = iota
	ModeAuthRep
	ModeOAuthAuthorize
	ModeOAuthAuthRep
)

func (m Mode) oauth() bool   { return m == ModeOAuthAuthorize || m == ModeOAuthAuthRep }
func (m Mode) reports() bool { return m == ModeAuthRep || m == ModeOAuthAuthRep }

// Report is one usage_report of a status document.
type Report struct {
	MetricID  string
	Metric    string
	Period    Period
	Start     time.Time // zero for eternity
	End       time.Time
	Max       int64
	Current   int64 // the stored value
	Shown     int64 // current_value as rendered (stored + this call's usage when authorized authrep)
	Exceeded  bool
	sameCalls int64 // remaining identical calls (-1: unconstrained)
}

// Result is the outcome of an authorize/authrep call that got as far as a
// status document (HTTP 200 or 409).
type Result struct {
	Authorized bool
	Code       string // rejection code ("" when authorized)
	Reason     string // rejection text
	Plan       string
	ServiceID  string
	AppID      string
	Reports    []Report

	// LimitRemaining/LimitReset/LimitMax are the 3scale-limit-* values
	// (LimitMax < 0: no max-value header).
	LimitRemaining, LimitReset, LimitMax int64

	oauth      bool
	app        *application
	redirField string
	hierarchy  [][2]string // metric name, children
	ext        Extensions
	wrote      bool
}

// Status is the HTTP status of the result: 200 authorized, 409 rejected.
func (r *Result) Status() int {
	if r.Authorized {
		return 200
	}
	return 409
}

// Authorize runs a read-only authorization (GET /transactions/authorize.xml).
// A *Error is returned for the calls apisonator answers with an error
// document.
func (b *Backend) Authorize(ctx context.Context, p *Params) (*Result, error) {
	return b.Call(ctx, ModeAuthorize, p)
}

// AuthRep authorizes and, when authorized, records the usage.
func (b *Backend) AuthRep(ctx context.Context, p *Params) (*Result, error) {
	return b.Call(ctx, ModeAuthRep, p)
}

// Call serves one authorization endpoint.
func (b *Backend) Call(ctx context.Context, mode Mode, p *Params) (*Result, error) {
	now := b.now().UTC()
	svc, err := b.resolve(ctx, p)
	if err != nil {
		return nil, err
	}
	if mode.oauth() && p.AppID == "" {
		return nil, errApplicationIDMissing()
	}
	app, err := b.loadApplication(ctx, svc.ID, p.AppID, p.UserKey)
	if err != nil {
		return nil, err
	}
	m, err := b.st.loadMetrics(ctx, svc.ID)
	if err != nil {
		return nil, err
	}
	limits, err := b.st.loadLimits(ctx, svc.ID, app.PlanID, m)
	if err != nil {
		return nil, err
	}
	// Usage is resolved before the validators' verdict counts: an unknown
	// metric or a bad value is an error document whatever else is wrong.
	usage, err := processUsage(m, p.Usage, p.Ext.FlatUsage)
	if err != nil {
		return nil, err
	}
	stored, err := b.loadCurrent(ctx, svc.ID, app.ID, limits, now)
	if err != nil {
		return nil, err
	}

	res := &Result{Authorized: true, Plan: app.PlanName, ServiceID: svc.ID, AppID: app.ID, oauth: mode.oauth(), app: app, ext: p.Ext, redirField: "redirect_url"}
	reject := func(r rejection) {
		if res.Authorized {
			res.Authorized, res.Code, res.Reason = false, r.code, r.text
		}
	}
	switch {
	case mode.oauth():
		if svc.BackendVersion != "oauth" {
			reject(rejOauthNotEnabled)
		}
		oauthKey(app, p, reject)
		if p.RedirectURI {
			res.redirField = "redirect_uri"
		}
		if p.HasRedirect && p.RedirectURL != "" && p.RedirectURL != app.RedirectURL {
			reject(rejRedirect(res.redirField, p.RedirectURL))
		}
	case svc.BackendVersion == "oauth":
		oauthKey(app, p, reject)
	default:
		if svc.BackendVersion != "1" && len(app.Keys) > 0 && (!p.HasAppKey || !app.hasKey(p.AppKey)) {
			reject(rejAppKeyInvalid(p.AppKey, p.HasAppKey))
		}
	}
	if svc.ReferrerFiltersRequired && len(app.ReferrerFilters) > 0 && !referrerAllowed(app.ReferrerFilters, p.Referrer) {
		reject(rejReferrer(p.Referrer))
	}
	if app.State != "active" {
		reject(rejAppNotActive)
	}
	if !svc.active() {
		reject(rejServiceNotActive)
	}
	if !limitsOK(limits, stored, usage) {
		reject(rejLimitsExceeded)
	}

	b.buildReports(res, m, limits, stored, p, mode, now)
	if res.Authorized && mode.reports() && (len(usage) > 0 || p.LogCode != "") {
		if err := b.record(ctx, svc.ID, app.ID, usage, p.LogCode, now); err != nil {
			return nil, err
		}
		res.wrote = true
	}
	return res, nil
}

func oauthKey(app *application, p *Params, reject func(rejection)) {
	if p.HasAppKey && (p.AppKey == "" || !app.hasKey(p.AppKey)) {
		reject(rejAppKeyInvalid(p.AppKey, true))
	}
}

// resolve turns provider_key or service_token + service_id into the
// service, with apisonator's error for each failure.
func (b *Backend) resolve(ctx context.Context, p *Params) (*service, error) {
	pk := p.ProviderKey
	if pk == "" {
		if strings.TrimSpace(p.ServiceToken) == "" {
			return nil, errProviderKeyOrServiceTokenRequired()
		}
		if p.ServiceID == "" {
			return nil, errServiceIDMissing()
		}
		lk, err := b.st.lookupService(ctx, p.ServiceToken, "", p.ServiceID)
		if err != nil {
			return nil, err
		}
		if !lk.tokenValid || lk.svc == nil || lk.svc.ProviderKey == "" {
			return nil, errServiceTokenInvalid(p.ServiceToken, p.ServiceID)
		}
		if p.UserID {
			return nil, errEndUsers()
		}
		return lk.svc, nil
	}
	if p.UserID {
		return nil, errEndUsers()
	}
	lk, err := b.st.lookupService(ctx, "", pk, p.ServiceID)
	if err != nil {
		return nil, err
	}
	if p.ServiceID == "" {
		if lk.defaultID == "" {
			return nil, errProviderKeyInvalidOrServiceMissing(pk)
		}
		svc, err := b.st.loadService(ctx, lk.defaultID)
		if err != nil {
			return nil, err
		}
		if svc == nil {
			return nil, errServiceIDInvalid(lk.defaultID)
		}
		return svc, nil
	}
	if lk.svc == nil || lk.svc.ProviderKey != pk {
		if lk.defaultID == "" {
			return nil, errProviderKeyInvalid(pk)
		}
		return nil, errServiceIDInvalid(p.ServiceID)
	}
	return lk.svc, nil
}

func (b *Backend) loadApplication(ctx context.Context, sid, appID, userKey string) (*application, error) {
	switch {
	case appID != "" && userKey != "":
		return nil, errAuthentication()
	case appID == "" && userKey == "":
		return nil, errApplicationIDMissing()
	case appID == "":
		id, err := b.st.appIDByUserKey(ctx, sid, userKey)
		if err != nil {
			return nil, err
		}
		if id == "" {
			return nil, errUserKeyInvalid(userKey)
		}
		appID = id
	}
	app, err := b.st.loadApp(ctx, sid, appID)
	if err != nil {
		return nil, err
	}
	if app == nil {
		return nil, errApplicationNotFound(appID)
	}
	return app, nil
}

// usageValue is one processed usage entry.
type usageValue struct {
	set bool
	n   int64
}

func (u usageValue) apply(base int64) int64 {
	if u.set {
		return u.n
	}
	return base + u.n
}

var usageRe = regexp.MustCompile(`^\s*#?\d+\s*$`)

func parseUsageValue(v string) (usageValue, bool) {
	if !usageRe.MatchString(v) {
		return usageValue{}, false
	}
	v = strings.TrimSpace(v)
	set := strings.HasPrefix(v, "#")
	n, err := strconv.ParseInt(strings.TrimPrefix(v, "#"), 10, 64)
	if err != nil {
		return usageValue{}, false
	}
	return usageValue{set: set, n: n}, true
}

// processUsage validates raw usage (metric names → values) and, unless
// flat, adds each metric's usage to all its ancestors. Keyed by metric id.
func processUsage(m *metrics, raw map[string]string, flat bool) (map[string]usageValue, error) {
	if raw == nil {
		return nil, nil
	}
	names := make([]string, 0, len(raw))
	for n := range raw {
		names = append(names, n)
	}
	// deterministic: metrics in id order, so a "#" set on a parent and a
	// child's delta combine the same way every time.
	sortByMetricOrder(m, names)
	out := make(map[string]usageValue, len(raw))
	direct := make(map[string]usageValue, len(raw))
	for _, n := range names {
		name := strings.TrimSpace(n)
		v, ok := parseUsageValue(raw[n])
		if !ok {
			return nil, errUsageValueInvalid(name, raw[n])
		}
		id, ok := m.ByName[name]
		if !ok {
			return nil, errMetricInvalid(name)
		}
		direct[id] = v
		out[id] = v
	}
	if flat {
		return out, nil
	}
	for _, n := range names {
		id := m.ByName[strings.TrimSpace(n)]
		v := direct[id]
		for _, a := range m.ancestors(id) {
			cur, ok := out[a]
			if !ok {
				out[a] = v
				continue
			}
			out[a] = usageValue{set: v.set || cur.set, n: v.apply(cur.n)}
		}
	}
	return out, nil
}

func sortByMetricOrder(m *metrics, names []string) {
	pos := make(map[string]int, len(m.IDs))
	for i, id := range m.IDs {
		pos[m.Name[id]] = i
	}
	for i := 1; i < len(names); i++ {
		for j := i; j > 0; j-- {
			a, aok := pos[strings.TrimSpace(names[j-1])]
			c, cok := pos[strings.TrimSpace(names[j])]
			if (aok && cok && a > c) || (!aok && cok) || (!aok && !cok && names[j-1] > names[j]) {
				names[j-1], names[j] = names[j], names[j-1]
			} else {
				break
			}
		}
	}
}

// limitsOK is apisonator's Limits validator: without usage every limit
// must hold for the stored values; with usage only the limits of metrics
// in the (hierarchy-expanded) usage are checked, against stored + delta.
func limitsOK(limits []limit, stored map[limitKey]int64, usage map[string]usageValue) bool {
	for _, l := range limits {
		v := stored[limitKey{l.MetricID, l.Period}]
		if usage != nil {
			u, ok := usage[l.MetricID]
			if !ok {
				continue
			}
			v = u.apply(v)
		}
		if v > l.Max {
			return false
		}
	}
	return true
}

type limitKey struct {
	metric string
	period Period
}

// loadCurrent reads the stored usage of every limited (metric, period) in
// one MGET.
func (b *Backend) loadCurrent(ctx context.Context, sid, aid string, limits []limit, now time.Time) (map[limitKey]int64, error) {
	out := make(map[limitKey]int64, len(limits))
	if len(limits) == 0 {
		return out, nil
	}
	keys := make([]string, len(limits))
	for i, l := range limits {
		keys[i] = AppStatsKey(sid, aid, l.MetricID, l.Period, now)
	}
	vals, err := b.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	for i, v := range vals {
		if s, ok := v.(string); ok {
			n, _ := strconv.ParseInt(s, 10, 64)
			out[limitKey{limits[i].MetricID, limits[i].Period}] = n
		}
	}
	return out, nil
}

// referrerAllowed matches the referrer against the app's filters: '*'
// in a filter is a wildcard, the rest literal, whole-string match; the
// referrer "*" bypasses the check.
func referrerAllowed(filters []string, ref string) bool {
	if ref == "*" {
		return true
	}
	for _, f := range filters {
		pat := "^" + strings.ReplaceAll(regexp.QuoteMeta(f), `\*`, ".*") + "$"
		if ok, _ := regexp.MatchString(pat, ref); ok {
			return true
		}
	}
	return false
}
