package apicast

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options tune a Gateway.
type Options struct {
	PathRouting     bool          // APICAST_PATH_ROUTING: path-based first, then host
	PathRoutingOnly bool          // APICAST_PATH_ROUTING_ONLY
	FlushInterval   time.Duration // how often cached hits are reported (default 1 s)
	UpstreamTimeout time.Duration // response-header timeout upstream (default 60 s)
	BackendTimeout  time.Duration // per backend call (default 5 s)
	Logger          *slog.Logger
	Transport       *http.Transport // upstream transport for requests with a body, TLS and upgrades (default: a keep-alive pool); see upstreamRT
}

// Gateway is an APIcast-compatible http.Handler. Reload swaps the
// configuration atomically; requests in flight keep the one they started
// with.
type Gateway struct {
	backend  *url.URL
	opts     Options
	log      *slog.Logger
	state    atomic.Pointer[state]
	bclient  *http.Client
	upstream *upstreamRT
	cache    *authCache
	batch    *batcher
	hostname string
}

type state struct {
	services []*svc
}

// svc is a compiled service.
type svc struct {
	Service
	rules    []*rule
	ruleSet  *ruleSet
	creds    credConfig
	upstream *url.URL
	mode     string // caching_type
	hosts    map[string]bool
	rp       *httputil.ReverseProxy
}

// New builds a gateway for cfg, authorizing against the Service Management
// API at backendURL (overriding each service's proxy.backend.endpoint, as
// BACKEND_ENDPOINT_OVERRIDE does). Close stops the reporter.
func New(cfg *Config, backendURL string, opts Options) (*Gateway, error) {
	bu, err := url.Parse(backendURL)
	if err != nil || bu.Scheme == "" || bu.Host == "" {
		return nil, fmt.Errorf("backend URL %q is not an absolute http(s) URL", backendURL)
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = time.Second
	}
	if opts.UpstreamTimeout <= 0 {
		opts.UpstreamTimeout = 60 * time.Second
	}
	if opts.BackendTimeout <= 0 {
		opts.BackendTimeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	tr := opts.Transport
	if tr == nil {
		tr = &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          1024,
			MaxIdleConnsPerHost:   256,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: opts.UpstreamTimeout,
			ExpectContinueTimeout: time.Second,
			// a proxy passes Accept-Encoding as the client sent it and the
			// body as the upstream sent it (no transparent gzip)
			DisableCompression: true,
		}
	}
	host, _ := os.Hostname()
	up := newUpstreamRT(tr, opts.UpstreamTimeout)
	if tr.DialContext != nil {
		up.dial = tr.DialContext
	}
	g := &Gateway{
		backend: bu, opts: opts, log: opts.Logger, upstream: up, hostname: host,
		bclient: &http.Client{Timeout: opts.BackendTimeout, Transport: &http.Transport{
			MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second,
			DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		}},
		cache: newAuthCache(),
	}
	if err := g.Reload(cfg); err != nil {
		return nil, err
	}
	g.batch = newBatcher(g, opts.FlushInterval)
	return g, nil
}

// CheckService reports whether s compiles (api_backend, mapping rules,
// caching policy): what Reload would refuse it for.
func CheckService(s Service) error {
	_, err := compileService(s)
	return err
}

// Reload compiles cfg and makes it current. On error the old one stays.
func (g *Gateway) Reload(cfg *Config) error {
	st := &state{}
	for _, s := range cfg.Services {
		c, err := compileService(s)
		if err != nil {
			return err
		}
		if c.upstream != nil {
			c.rp = g.reverseProxy(c)
		}
		st.services = append(st.services, c)
	}
	g.state.Store(st)
	return nil
}

func compileService(s Service) (*svc, error) {
	c := &svc{Service: s, hosts: map[string]bool{}, mode: "strict"}
	for _, h := range s.Proxy.Hosts {
		c.hosts[strings.ToLower(h)] = true
	}
	if s.Proxy.APIBackend != "" {
		u, err := url.Parse(s.Proxy.APIBackend)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("service %s: api_backend %q is not a URL", s.ID, s.Proxy.APIBackend)
		}
		c.upstream = u
	}
	for _, r := range s.Proxy.ProxyRules {
		cr, err := compileRule(r)
		if err != nil {
			return nil, fmt.Errorf("service %s: mapping rule %q: %w", s.ID, r.Pattern, err)
		}
		c.rules = append(c.rules, cr)
	}
	c.ruleSet = &ruleSet{rules: c.rules}
	c.creds = newCredConfig(&s)
	for _, p := range s.Proxy.PolicyChain {
		if p.Name == "caching" || p.Name == "apicast.policy.caching" {
			var conf struct {
				CachingType string `json:"caching_type"`
			}
			_ = json.Unmarshal(p.Configuration, &conf)
			switch conf.CachingType {
			case "strict", "resilient", "allow", "none":
				c.mode = conf.CachingType
			case "":
			default:
				return nil, fmt.Errorf("service %s: unknown caching_type %q (strict, resilient, allow or none)", s.ID, conf.CachingType)
			}
		}
	}
	return c, nil
}

// Close flushes pending reports and stops the reporter.
func (g *Gateway) Close() {
	g.batch.close()
	g.upstream.CloseIdleConnections()
}

// Flush reports every pending cached hit now.
func (g *Gateway) Flush(ctx context.Context) { g.batch.flush(ctx) }

// ServeHTTP routes, authorizes and proxies one request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := g.state.Load()
	host := strings.ToLower(r.Host)
	if strings.IndexByte(host, ':') >= 0 {
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
	}
	args, err := requestArgs(r)
	if err != nil {
		http.Error(w, "request body could not be read", http.StatusBadRequest)
		return
	}
	path := r.URL.EscapedPath()
	s := g.selectService(st, host, r.Method, path, args)
	if s == nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	dv := r.Header[hdrDebug]
	debug := len(dv) > 0 && dv[0] != "" && dv[0] == s.BackendAuthenticationValue
	u := s.ruleSet.match(r.Method, path, args)
	if debug {
		h := w.Header()
		h.Set("X-3scale-matched-rules", strings.Join(u.matched, ", "))
		h.Set("X-3scale-usage", u.encode())
		h.Set("X-3scale-hostname", g.hostname)
		h.Set("X-3scale-service-id", string(s.ID))
		h.Set("X-3scale-service-name", s.SystemName)
	}
	// Credentials first, then mapping rules, as APIcast's rewrite phase:
	// a request without credentials is "auth missing" even where no rule
	// matches.
	creds, ok := extractCredentials(s, r, args)
	if debug {
		w.Header().Set("X-3scale-credentials", creds.encode())
	}
	if !ok {
		writeErr(w, s.Proxy.ErrorStatusAuthMissing, 401, s.Proxy.ErrorHeadersAuthMissing, s.Proxy.ErrorAuthMissing, "Authentication parameters missing")
		return
	}
	if len(u.matched) == 0 {
		writeErr(w, s.Proxy.ErrorStatusNoMatch, 404, s.Proxy.ErrorHeadersNoMatch, s.Proxy.ErrorNoMatch, "No Mapping Rule matched")
		return
	}
	dec := g.authorize(r.Context(), s, creds, u)
	switch dec.outcome {
	case outAuthorized:
		g.proxy(w, r, s)
	case outLimits:
		if dec.retryAfter != "" {
			w.Header().Set("Retry-After", dec.retryAfter)
		}
		writeErr(w, s.Proxy.ErrorStatusLimitsExceeded, 429, s.Proxy.ErrorHeadersLimitsExceeded, s.Proxy.ErrorLimitsExceeded, "Limits exceeded")
	default:
		writeErr(w, s.Proxy.ErrorStatusAuthFailed, 403, s.Proxy.ErrorHeadersAuthFailed, s.Proxy.ErrorAuthFailed, "Authentication failed")
	}
}

// selectService picks the service: host-based (first whose hosts contain
// the host), or path-based first among those when path routing is on.
func (g *Gateway) selectService(st *state, host, method, path string, args url.Values) *svc {
	if g.opts.PathRouting || g.opts.PathRoutingOnly {
		for _, s := range st.services {
			if s.hosts[host] && len(s.ruleSet.match(method, path, args).matched) > 0 {
				return s
			}
		}
		if g.opts.PathRoutingOnly {
			return nil
		}
	}
	for _, s := range st.services {
		if s.hosts[host] {
			return s
		}
	}
	return nil
}

// requestArgs are the URI args overlaid with urlencoded body args for
// POST/PUT/PATCH (the body is buffered, up to 1 MiB, and replayed).
func requestArgs(r *http.Request) (url.Values, error) {
	args := r.URL.Query()
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
	default:
		return args, nil
	}
	if !strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "application/x-www-form-urlencoded") || r.Body == nil {
		return args, nil
	}
	const max = 1 << 20
	body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return nil, err
	}
	if len(body) > max {
		// too large to inspect: stream it through untouched
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
		return args, nil
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if bv, err := url.ParseQuery(string(body)); err == nil {
		for k, vs := range bv {
			args[k] = vs
		}
	}
	return args, nil
}

// credentials are what is sent to the backend: n name/value pairs
// (user_key, or app_id and maybe app_key).
type credentials struct {
	n      int
	names  [2]string
	values [2]string
}

func (c credentials) encode() string {
	v := make([]string, c.n)
	for i := 0; i < c.n; i++ {
		v[i] = url.QueryEscape(c.names[i]) + "=" + url.QueryEscape(c.values[i])
	}
	return strings.Join(v, "&")
}

// appendKey appends the values joined by ':'.
func (c *credentials) appendKey(b []byte) []byte {
	for i := 0; i < c.n; i++ {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, c.values[i]...)
	}
	return b
}

func normHeader(s string) string { return strings.ReplaceAll(strings.ToLower(s), "_", "-") }

// credConfig is where a service's credentials are read from, resolved
// once per configuration.
type credConfig struct {
	v1      bool
	n       int       // 1 (user_key) or 2 (app_id, app_key)
	keys    [2]string // parameter names, lower case
	headers [2]string // keys as normalised header names
	std     [2]string // names sent to the backend
}

func newCredConfig(s *Service) credConfig {
	name := func(v, def string) string {
		if v == "" {
			return def
		}
		return strings.ToLower(v)
	}
	cc := credConfig{v1: string(s.BackendVersion) == "1" || s.BackendVersion == ""}
	if cc.v1 {
		cc.n, cc.keys, cc.std = 1, [2]string{name(s.Proxy.AuthUserKey, "user_key")}, [2]string{"user_key"}
	} else {
		cc.n, cc.keys, cc.std = 2, [2]string{name(s.Proxy.AuthAppID, "app_id"), name(s.Proxy.AuthAppKey, "app_key")}, [2]string{"app_id", "app_key"}
	}
	for i := 0; i < cc.n; i++ {
		cc.headers[i] = normHeader(cc.keys[i])
	}
	return cc
}

// extractCredentials reads user_key (backend_version 1) or app_id and
// app_key (2) from the configured location with the configured names.
func extractCredentials(s *svc, r *http.Request, args url.Values) (credentials, bool) {
	cc := &s.creds
	var vals [2]string
	switch s.Proxy.CredentialsLocation {
	case "headers":
		for i := 0; i < cc.n; i++ {
			want := cc.headers[i]
			for hk, hv := range r.Header {
				if len(hv) > 0 && len(hk) == len(want) && normHeader(hk) == want {
					vals[i] = hv[0]
				}
			}
		}
	case "authorization":
		if user, pass, ok := basicAuth(r.Header.Get("Authorization")); ok {
			vals[0] = user
			if !cc.v1 {
				vals[1] = pass
			}
		}
	default:
		for i := 0; i < cc.n; i++ {
			if vs := args[cc.keys[i]]; len(vs) > 0 {
				vals[i] = vs[len(vs)-1]
			}
		}
	}
	var c credentials
	for i := 0; i < cc.n; i++ {
		if vals[i] != "" {
			c.names[c.n], c.values[c.n] = cc.std[i], vals[i]
			c.n++
		}
	}
	return c, vals[0] != ""
}

func basicAuth(h string) (string, string, bool) {
	enc, ok := strings.CutPrefix(h, "Basic ")
	if !ok {
		return "", "", false
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil {
		return "", "", false
	}
	u, p, _ := strings.Cut(string(b), ":")
	return u, p, u != ""
}

func writeErr(w http.ResponseWriter, status flexInt, def int, ctype, body, defBody string) {
	code := int(status)
	if code == 0 {
		code = def
	}
	if ctype == "" {
		ctype = "text/plain; charset=utf-8"
	}
	if body == "" {
		body = defBody
	}
	w.Header().Set("Content-Type", ctype)
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

const flushInterval = 50 * time.Millisecond

// canonical header keys, looked up in the map without canonicalising per
// request
var (
	hdrDebug  = http.CanonicalHeaderKey("X-3scale-debug")
	hdrSecret = http.CanonicalHeaderKey("X-3scale-proxy-secret-token")
)

// copyBuffers recycles httputil's 32 KiB copy buffers (it allocates one per
// request without a pool).
var copyBuffers = &bufferPool{}

// bufferPool is an httputil.BufferPool. The slice headers travel in
// recycled holders so that neither Get nor Put allocates.
type bufferPool struct{ bufs, holders sync.Pool }

func (b *bufferPool) Get() []byte {
	h, ok := b.bufs.Get().(*[]byte)
	if !ok {
		return make([]byte, 32<<10)
	}
	buf := *h
	*h = nil
	b.holders.Put(h)
	return buf
}

func (b *bufferPool) Put(buf []byte) {
	h, ok := b.holders.Get().(*[]byte)
	if !ok {
		h = new([]byte)
	}
	*h = buf
	b.bufs.Put(h)
}

// proxy streams the request to the service's private base URL.
func (g *Gateway) proxy(w http.ResponseWriter, r *http.Request, s *svc) {
	if s.rp == nil {
		http.Error(w, "service has no private base URL (api_backend)", http.StatusBadGateway)
		return
	}
	s.rp.ServeHTTP(w, r)
}

// reverseProxy builds the upstream proxy of s: streaming both ways,
// hop-by-hop headers removed, X-Forwarded-* set, keep-alive pool shared.
func (g *Gateway) reverseProxy(s *svc) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(s.upstream)
			pr.SetXForwarded()
			delete(pr.Out.Header, hdrDebug)
			if s.Proxy.SecretToken != "" {
				pr.Out.Header[hdrSecret] = []string{s.Proxy.SecretToken}
			}
			// APIcast sends the api_backend host without its port, or
			// hostname_rewrite when set.
			pr.Out.Host = s.upstream.Hostname()
			if s.Proxy.HostnameRewrite != "" {
				pr.Out.Host = s.Proxy.HostnameRewrite
			}
		},
		Transport: g.upstream,
		// Responses of unknown length (chunked, streaming) and
		// text/event-stream are flushed after every write whatever this
		// says; a response with a Content-Length is flushed at least every
		// flushInterval and at its end. (-1 here made httputil start a
		// timer goroutine per request that wrote the headers in a
		// separate syscall.)
		FlushInterval: flushInterval,
		BufferPool:    copyBuffers,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			g.log.Warn("upstream request failed", "service_id", string(s.ID), "upstream", s.upstream.Host, "err", err)
			w.WriteHeader(http.StatusBadGateway)
		},
	}
}
