package backend

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Params are the inputs of authorize/authrep, as the listener sees them
// after normalisation. Absent and blank are different only for AppKey.
type Params struct {
	ProviderKey  string
	ServiceToken string
	ServiceID    string
	UserKey      string
	AppID        string
	AppKey       string
	HasAppKey    bool // app_key was given (even blank: it then must match)
	Referrer     string
	HasReferrer  bool
	RedirectURL  string // redirect_url or redirect_uri (oauth endpoints)
	RedirectURI  bool   // the request used redirect_uri
	HasRedirect  bool
	UserID       bool // user_id given: rejected (end users are gone)

	// Usage maps metric system_name → value ("3", or "#3" to set). Nil
	// means no usage parameter at all (different from an empty usage).
	Usage   map[string]string
	LogCode string // log[code]

	Ext Extensions
}

// Extensions are the 3scale-options header flags.
type Extensions struct {
	RejectionReasonHeader bool
	LimitHeaders          bool
	NoBody                bool
	Hierarchy             bool
	FlatUsage             bool
	ListAppKeys           bool

	noBodySet bool // the header carried no_body (then the query's is ignored)
}

// noBodyOn is apisonator's reading of a no_body value: any value but "0"
// and "false" (an empty one included) hides the body.
func noBodyOn(v string) bool { return v != "false" && v != "0" }

// ParseExtensions parses a 3scale-options header value (a query string).
func ParseExtensions(h string) Extensions {
	v, _ := url.ParseQuery(h)
	on := func(k string) bool { return v.Get(k) == "1" }
	e := Extensions{
		RejectionReasonHeader: on("rejection_reason_header"),
		LimitHeaders:          on("limit_headers"),
		Hierarchy:             on("hierarchy"),
		FlatUsage:             on("flat_usage"),
		ListAppKeys:           on("list_app_keys"),
	}
	if _, ok := v["no_body"]; ok {
		e.noBodySet, e.NoBody = true, noBodyOn(v.Get("no_body"))
	}
	return e
}

// Encode renders p as the query string of an authorize/authrep call (the
// inverse of the listener's parsing), with usage in a stable order.
func (p *Params) Encode() string {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("provider_key", p.ProviderKey)
	set("service_token", p.ServiceToken)
	set("service_id", p.ServiceID)
	set("user_key", p.UserKey)
	set("app_id", p.AppID)
	if p.HasAppKey {
		v.Set("app_key", p.AppKey)
	}
	if p.HasReferrer {
		v.Set("referrer", p.Referrer)
	}
	if p.HasRedirect {
		if p.RedirectURI {
			v.Set("redirect_uri", p.RedirectURL)
		} else {
			v.Set("redirect_url", p.RedirectURL)
		}
	}
	names := make([]string, 0, len(p.Usage))
	for n := range p.Usage {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v.Set("usage["+n+"]", p.Usage[n])
	}
	set("log[code]", p.LogCode)
	return v.Encode()
}

// Rack's query parser limits (Rack::QueryParser, the defaults of
// RACK_QUERY_PARSER_PARAMS_LIMIT and RACK_QUERY_PARSER_BYTESIZE_LIMIT):
// apisonator answers a query string or form body beyond them with its
// QueryLimitError message as a bad request, before looking at any
// parameter.
const (
	rackParamsLimit   = 4096
	rackBytesizeLimit = 4194304
)

// queryLimit is that answer for a query string or form body; nil within
// the limits. Parameters are counted by their separators, as Rack does
// (empty ones included).
func queryLimit(raw string) *Error {
	if raw == "" {
		return nil
	}
	if len(raw) > rackBytesizeLimit {
		return newErr(400, "bad_request", "total query size exceeds limit ("+strconv.Itoa(rackBytesizeLimit)+")")
	}
	if n := strings.Count(raw, "&") + 1; n > rackParamsLimit {
		return newErr(400, "bad_request", "total number of query parameters ("+strconv.Itoa(n)+") exceeds limit ("+strconv.Itoa(rackParamsLimit)+")")
	}
	return nil
}

// commonParams are stripped of whitespace; blank ones become absent
// (except app_key, which stays, blank).
var commonParams = []string{"service_id", "app_id", "app_key", "user_key", "provider_key"}

// parseQuery parses a raw query string the way Rack does for the listener:
// the last value of a repeated key wins, usage[...] and log[...] are hashes.
// It returns a bare-403 flag when usage is not a hash.
func parseParams(raw string) (*Params, *Error, bool) {
	if e := queryLimit(raw); e != nil {
		return nil, e, false
	}
	vals, perr := url.ParseQuery(raw)
	if perr != nil {
		return nil, newErr(400, "bad_request", "Invalid query parameters: invalid %-encoding"), false
	}
	last := func(k string) (string, bool) {
		vs, ok := vals[k]
		if !ok || len(vs) == 0 {
			return "", false
		}
		return vs[len(vs)-1], true
	}
	for _, k := range commonParams {
		if v, ok := last(k); ok && !utf8.ValidString(v) {
			return nil, errNotValidData(), false
		}
	}
	for k, vs := range vals {
		if !utf8.ValidString(k) {
			return nil, errNotValidData(), false
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return nil, errNotValidData(), false
			}
		}
	}
	p := &Params{}
	norm := func(k string) string {
		v, _ := last(k)
		return strings.TrimSpace(v)
	}
	p.ServiceID, p.AppID, p.UserKey, p.ProviderKey = norm("service_id"), norm("app_id"), norm("user_key"), norm("provider_key")
	if v, ok := last("app_key"); ok {
		p.AppKey, p.HasAppKey = strings.TrimSpace(v), true
	}
	p.ServiceToken, _ = last("service_token")
	p.Referrer, p.HasReferrer = last("referrer")
	// redirect_url, the legacy name, wins over redirect_uri when both are
	// sent (apisonator's Validators::RedirectURI checks it first).
	if v, ok := last("redirect_url"); ok {
		p.RedirectURL, p.HasRedirect = v, true
	} else if v, ok := last("redirect_uri"); ok {
		p.RedirectURL, p.RedirectURI, p.HasRedirect = v, true, true
	}
	_, p.UserID = vals["user_id"]
	if _, bare := vals["usage"]; bare {
		return nil, nil, true
	}
	for k, vs := range vals {
		if name, ok := strings.CutPrefix(k, "usage["); ok && strings.HasSuffix(name, "]") && len(vs) > 0 {
			if p.Usage == nil {
				p.Usage = map[string]string{}
			}
			p.Usage[strings.TrimSuffix(name, "]")] = vs[len(vs)-1]
		}
	}
	p.LogCode, _ = last("log[code]")
	if v, ok := last("no_body"); ok {
		p.Ext.NoBody = noBodyOn(v)
	}
	return p, nil, false
}
