package apicast

import (
	"net/http"
	"strings"
	"testing"
)

const (
	ta = "t/apicast.t: "
	tm = "t/apicast-mapping-rules.t: "
	tb = "t/apicast-blackbox.t: "
	tp = "t/apicast-path-routing.t: "
)

const textPlain = "text/plain; charset=utf-8"

func upstreamURI(want string) func(t *testing.T, s seen) {
	return func(t *testing.T, s seen) {
		t.Helper()
		if s.uri != want {
			t.Errorf("upstream got %q, want %q", s.uri, want)
		}
	}
}

// A block whose backend denies (location /transactions/authrep.xml {
// deny all; }) is a service whose token the real backend does not know.
var denied = map[string]any{"backend_authentication_value": "not-a-token"}

var gatewayCases = []gwCase{
	{origin: ta + "TEST 1: authentication credentials missing",
		proxy:  map[string]any{"error_auth_missing": "credentials missing!", "error_status_auth_missing": 401},
		target: "/", status: 401, respBody: "credentials missing!"},
	{origin: ta + "TEST 2: credentials missing default error",
		service: map[string]any{"backend_version": 2},
		target:  "/?app_key=42", status: 401, respBody: "Authentication parameters missing", headers: map[string]string{"Content-Type": textPlain}},
	{origin: ta + "TEST 3: authentication (part of) credentials missing configurable error",
		service: map[string]any{"backend_version": 2},
		proxy:   map[string]any{"error_auth_missing": "credentials missing!", "error_status_auth_missing": 401},
		target:  "/?app_key=42", status: 401, respBody: "credentials missing!"},
	{origin: ta + "TEST 4: no mapping rules matched default error",
		target: "/?user_key=value", status: 404, respBody: "No Mapping Rule matched", headers: map[string]string{"Content-Type": textPlain}},
	{origin: ta + "TEST 5: no mapping rules matched configurable error",
		proxy:  map[string]any{"error_no_match": "no mapping rules!", "error_status_no_match": 412},
		target: "/?user_key=value", status: 412, respBody: "no mapping rules!"},
	{origin: ta + "TEST 6: authentication credentials invalid default error", service: denied,
		proxy:  map[string]any{"proxy_rules": rules(rl("GET", "/", "hits", 1))},
		target: "/?user_key=value", status: 403, respBody: "Authentication failed", headers: map[string]string{"Content-Type": textPlain}},
	{origin: ta + "TEST 7: authentication credentials invalid configurable error", service: denied,
		proxy:  map[string]any{"error_auth_failed": "credentials invalid!", "error_status_auth_failed": 402, "proxy_rules": rules(rl("GET", "/", "hits", 1))},
		target: "/?user_key=value", status: 402, respBody: "credentials invalid!"},
	{origin: ta + "TEST 8: api backend gets the request",
		proxy:  map[string]any{"proxy_rules": rules(rl("GET", "/", "hits", 2))},
		target: "/?user_key=value", status: 200, respBody: "yay, api backend: 127.0.0.1\n",
		upstream: func(t *testing.T, s seen) {
			if s.host != "127.0.0.1" {
				t.Errorf("upstream Host %q, want the api_backend host without port", s.host)
			}
		},
		stats: map[string]string{"1": "2"}},
	{origin: ta + "TEST 9: mapping rule with fixed value is mandatory",
		proxy: map[string]any{"error_no_match": "no mapping rules matched!", "error_status_no_match": 412,
			"proxy_rules": rules(rl("GET", "/foo?bar=baz", "bar", 1, "querystring_parameters", map[string]string{"bar": "baz"}))},
		target: "/foo?bar=foo&user_key=somekey", status: 412, respBody: "no mapping rules matched!"},
	{origin: ta + "TEST 10: mapping rule with fixed value is mandatory",
		proxy:  map[string]any{"proxy_rules": rules(rl("GET", "/foo?bar=baz", "bar", 1, "querystring_parameters", map[string]string{"bar": "baz"}))},
		target: "/foo?bar=baz&user_key=somekey", header: map[string]string{"X-3scale-Debug": "token-value"},
		status: 200, headers: map[string]string{"X-3scale-matched-rules": "/foo?bar=baz"}, stats: map[string]string{"3": "1"}},
	{origin: ta + "TEST 11: mapping rule with variable value is required to be sent",
		proxy:  map[string]any{"proxy_rules": rules(rl("GET", "/foo?bar={baz}", "bar", 3, "querystring_parameters", map[string]string{"bar": "{baz}"}))},
		target: "/foo?bar={foo}&user_key=somekey", header: map[string]string{"X-3scale-Debug": "token-value"},
		status: 200, headers: map[string]string{"X-3scale-matched-rules": "/foo?bar={baz}", "X-3scale-usage": "usage%5Bbar%5D=3"}, stats: map[string]string{"3": "3"}},
	{origin: ta + "TEST 11: mapping rule with variable value is required to be sent", name: "absent",
		proxy:  map[string]any{"proxy_rules": rules(rl("GET", "/foo?bar={baz}", "bar", 3, "querystring_parameters", map[string]string{"bar": "{baz}"}))},
		target: "/foo?user_key=somekey", status: 404, respBody: "No Mapping Rule matched"},
	{origin: ta + "TEST 13: print warning on duplicate service hosts",
		services: []map[string]any{
			{"id": 42, "backend_version": 1, "backend_authentication_type": "service_token", "backend_authentication_value": "token-value",
				"proxy": map[string]any{"hosts": []string{"localhost", "bar"}, "api_backend": "UPSTREAM/one/", "proxy_rules": rules(rl("GET", "/", "hits", 1))}},
			{"id": 2, "backend_version": 1, "backend_authentication_type": "service_token", "backend_authentication_value": "token-value",
				"proxy": map[string]any{"hosts": []string{"localhost", "daz"}, "api_backend": "UPSTREAM/two/", "proxy_rules": rules(rl("GET", "/", "hits", 1))}},
		},
		target: "/?user_key=value", status: 200, upstream: upstreamURI("/one/?user_key=value")},
	{origin: ta + "TEST 15: return headers with debugging info",
		service: map[string]any{"backend_authentication_value": "service-token"},
		proxy:   map[string]any{"api_backend": "UPSTREAM/api/", "proxy_rules": rules(rl("GET", "/", "hits", 2))},
		target:  "/t?user_key=val", header: map[string]string{"X-3scale-Debug": "service-token"},
		status: 200, headers: map[string]string{"X-3scale-matched-rules": "/", "X-3scale-usage": "usage%5Bhits%5D=2"},
		upstream: upstreamURI("/api/t?user_key=val")},
	{origin: ta + "TEST 15: return headers with debugging info", name: "wrong debug value",
		service: map[string]any{"backend_authentication_value": "service-token"},
		proxy:   map[string]any{"proxy_rules": rules(rl("GET", "/", "hits", 2))},
		target:  "/t?user_key=val", header: map[string]string{"X-3scale-Debug": "other"},
		status: 200, headers: map[string]string{"X-3scale-matched-rules": "-", "X-3scale-usage": "-"}},
	{origin: ta + "TEST 17: invalid service", noConfig: true, target: "/?user_key=value", status: 404},
	{origin: ta + "TEST 18: default limits exceeded error",
		proxy:  map[string]any{"proxy_rules": rules(rl("GET", "/", "hits", 1))},
		target: "/?user_key=limited", status: 429, respBody: "Limits exceeded", headers: map[string]string{"Content-Type": textPlain}},
	{origin: ta + "TEST 19: configurable limits exceeded error",
		proxy:  map[string]any{"error_limits_exceeded": "limits exceeded!", "error_status_limits_exceeded": 402, "proxy_rules": rules(rl("GET", "/", "hits", 1))},
		target: "/?user_key=limited", status: 402, respBody: "limits exceeded!"},
	{origin: ta + "TEST 20: Credentials in large POST body",
		proxy:  map[string]any{"error_auth_missing": "credentials missing!", "error_status_auth_missing": 401, "proxy_rules": rules(rl("POST", "/", "hits", 2))},
		method: http.MethodPost, target: "/", body: "user_key=value-" + strings.Repeat("1", 1<<20),
		status: 401, respBody: "credentials missing!"},

	{origin: tm + "TEST 1: call to backend is cached",
		proxy: map[string]any{"proxy_rules": rules(rl("GET", "/{env}/video/encode?size={size}&speed=2x", "weeee", 1,
			"parameters", []string{"env"}, "querystring_parameters", map[string]string{"size": "{size}", "speed": "2x"}))},
		target: "/staging/video/encode?size=100&speed=3x&user_key=foo&speed=2x", status: 200,
		upstream: upstreamURI("/api-backend/staging/video/encode?size=100&speed=3x&user_key=foo&speed=2x"), stats: map[string]string{"2": "1"}},
	{origin: tm + "TEST 2: mapping rules when POST request has url parms",
		service: map[string]any{"backend_authentication_value": "my-token"},
		proxy:   map[string]any{"proxy_rules": rules(rl("POST", "/foo?bar=baz", "bar", 7, "querystring_parameters", map[string]string{"bar": "baz"}))},
		method:  http.MethodPost, target: "/foo?bar=baz&user_key=somekey", header: map[string]string{"X-3scale-Debug": "my-token"},
		status: 200, headers: map[string]string{"X-3scale-matched-rules": "/foo?bar=baz", "X-3scale-usage": "usage%5Bbar%5D=7"}, stats: map[string]string{"3": "7"}},
	{origin: tm + "TEST 3: mapping rules when POST request has body params",
		service: map[string]any{"backend_authentication_value": "my-token"},
		proxy:   map[string]any{"proxy_rules": rules(rl("POST", "/foo?bar=baz", "bar", 7, "querystring_parameters", map[string]string{"bar": "baz"}))},
		method:  http.MethodPost, target: "/foo?user_key=somekey", body: "bar=baz", header: map[string]string{"X-3scale-Debug": "my-token"},
		status: 200, headers: map[string]string{"X-3scale-matched-rules": "/foo?bar=baz", "X-3scale-usage": "usage%5Bbar%5D=7"},
		upstream: func(t *testing.T, s seen) {
			if s.body != "bar=baz" {
				t.Errorf("upstream body %q, want the request's", s.body)
			}
		}},
	{origin: tm + "TEST 4: mapping rules when POST request has body params and url params",
		service: map[string]any{"backend_authentication_value": "my-token"},
		proxy: map[string]any{"proxy_rules": rules(rl("POST", "/foo?a_param=val1&another_param=val2", "bar", 7,
			"querystring_parameters", map[string]string{"a_param": "val1", "another_param": "val2"}))},
		method: http.MethodPost, target: "/foo?a_param=val3&another_param=val2&user_key=somekey", body: "a_param=val1",
		header: map[string]string{"X-3scale-Debug": "my-token"},
		status: 200, headers: map[string]string{"X-3scale-matched-rules": "/foo?a_param=val1&another_param=val2", "X-3scale-usage": "usage%5Bbar%5D=7"}},
	{origin: tm + `TEST 5: mapping rules with "last" attribute`,
		proxy: map[string]any{"proxy_rules": rules(
			rl("GET", "/", "hits", 1, "last", false),
			rl("GET", "/i_dont_match", "hits", 100, "last", true),
			rl("GET", "/abc", "hits", 2, "last", true),
			rl("GET", "/abc/def", "hits", 10))},
		target: "/abc/def?user_key=uk", status: 200, stats: map[string]string{"1": "3"}},
	{origin: tm + "TEST 6: request uri with special chars",
		proxy:  map[string]any{"proxy_rules": rules(rl("GET", "/foo%20/bar/", "weeee", 1))},
		target: "/foo%20/bar/?user_key=foo", status: 200, stats: map[string]string{"2": "1"}},

	{origin: tb + "TEST 1: authentication credentials missing",
		services: []map[string]any{{"backend_version": 1, "id": 42, "proxy": map[string]any{"hosts": []string{"localhost"},
			"error_auth_missing": "credentials missing!", "error_status_auth_missing": 401}}},
		target: "/", status: 401, respBody: "credentials missing!"},
	{origin: tb + "TEST 2 api backend gets the request", dialUpstream: true,
		proxy:  map[string]any{"api_backend": "http://test:80/", "proxy_rules": rules(rl("GET", "/", "hits", 2))},
		target: "/?user_key=value", status: 200, respBody: "yay, api backend: test\n", stats: map[string]string{"1": "2"}},
	{origin: tb + "TEST 4: api backend gets the request on its subpath", dialUpstream: true,
		proxy:  map[string]any{"api_backend": "http://test:80/foo", "proxy_rules": rules(rl("GET", "/", "hits", 2))},
		target: "/bar?user_key=value", status: 200, upstream: upstreamURI("/foo/bar?user_key=value")},
	{origin: "t/backend.t: TEST 1: This is just a simple demonstration of the", dialUpstream: true,
		proxy:  map[string]any{"api_backend": "http://test:80/", "proxy_rules": rules(rl("GET", "/", "bar", 1))},
		target: "/?user_key=value", status: 200, respBody: "yay, api backend: test\n", stats: map[string]string{"3": "1"}},

	{origin: tp + "TEST 1: multi service configuration with path based routing", name: "/one", opts: Options{PathRouting: true},
		host: "same", services: pathRoutingServices("same", 0), target: "/one?user_key=one-key", status: 200, upstream: upstreamURI("/api-backend/one/one?user_key=one-key"),
		stats: map[string]string{"4": "1"}},
	{origin: tp + "TEST 1: multi service configuration with path based routing", name: "/two", opts: Options{PathRouting: true},
		host: "same", services: pathRoutingServices("same", 0), target: "/two?app_id=two-id&app_key=two-key", status: 200,
		upstream: upstreamURI("/api-backend/two/two?app_id=two-id&app_key=two-key")},
	{origin: tp + "TEST 2: multi service configuration with path based routing defaults to host routing", opts: Options{PathRouting: true},
		services: pathRoutingServices("localhost", 412), target: "/foo?user_key=1", status: 412},

	// Not from a .t block: the two proxy fields the suite exercises only
	// in its unit specs and nginx configuration.
	{origin: "spec/configuration_spec.lua: .parse_service populates hostname_rewrite",
		proxy:  map[string]any{"hostname_rewrite": "example.com", "proxy_rules": rules(rl("GET", "/", "hits", 1))},
		target: "/?user_key=value", status: 200, respBody: "yay, api backend: example.com\n"},
	{origin: "spec/configuration_spec.lua: .parse_service ignores empty hostname_rewrite",
		proxy:  map[string]any{"hostname_rewrite": "", "proxy_rules": rules(rl("GET", "/", "hits", 1))},
		target: "/?user_key=value", status: 200, respBody: "yay, api backend: 127.0.0.1\n"},
	{origin: "gateway/conf.d/apicast.conf: proxy_set_header X-3scale-proxy-secret-token $secret_token",
		proxy:  map[string]any{"secret_token": "s3cr3t", "proxy_rules": rules(rl("GET", "/", "hits", 1))},
		target: "/?user_key=value", status: 200,
		upstream: func(t *testing.T, s seen) {
			if s.secret != "s3cr3t" {
				t.Errorf("upstream X-3scale-proxy-secret-token %q", s.secret)
			}
		}},
}

// pathRoutingServices are the two services of t/apicast-path-routing.t
// sharing host: 42 (version 1, /one → one) and 21 (version 2, /two → two).
func pathRoutingServices(host string, noMatch int) []map[string]any {
	one := map[string]any{"hosts": []string{host}, "api_backend": "UPSTREAM/api-backend/one/", "proxy_rules": rules(rl("GET", "/one", "one", 1))}
	if noMatch != 0 {
		one["error_status_no_match"] = noMatch
	}
	return []map[string]any{
		{"id": 42, "backend_version": 1, "backend_authentication_type": "service_token", "backend_authentication_value": "service-one", "proxy": one},
		{"id": 21, "backend_version": 2, "backend_authentication_type": "service_token", "backend_authentication_value": "service-two",
			"proxy": map[string]any{"hosts": []string{host}, "api_backend": "UPSTREAM/api-backend/two/", "proxy_rules": rules(rl("GET", "/two", "two", 2))}},
	}
}

func TestAPIcastCases(t *testing.T) {
	n := 0
	for _, c := range gatewayCases {
		if strings.HasPrefix(c.origin, "t/") {
			n++
		}
	}
	if n < 30 {
		t.Fatalf("only %d cases from APIcast's t/*.t", n)
	}
	runGatewayCases(t, gatewayCases)
}
