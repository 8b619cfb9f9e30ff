// Package backend is an apisonator-compatible Service Management API
// (authorize, authrep, report and their oauth_ variants) served straight
// from the backend-redis key layout. Responses and status codes are byte
// for byte what apisonator sends for the same data, and authrep/report
// write the same stats keys, with the same formats and expirations, so
// the real backend reads what this one wrote and vice versa.
//
// It must never write anything apisonator would not (authorize never
// writes at all), never FLUSH or reconfigure Redis, and never print.
package backend

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

const contentType = "application/vnd.3scale-v2.0+xml"

// Options tune a Backend.
type Options struct {
	// ConfigTTL memoises configuration lookups (services, applications,
	// metrics, limits) for this long; usage counters are always read
	// fresh. apisonator memoises for 60 s; 0 disables memoisation.
	ConfigTTL time.Duration
	Now       func() time.Time // clock (tests); default time.Now
	Logger    *slog.Logger
	Version   string // reported by /status
}

// Backend serves the Service Management API from one backend-redis
// storage database. It is an http.Handler and can be called in-process.
type Backend struct {
	rdb redis.UniversalClient
	st  *store
	now func() time.Time
	log *slog.Logger
	ver string
}

// New returns a Backend reading and writing rdb (backend-redis db 0).
func New(rdb redis.UniversalClient, opts Options) *Backend {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	ver := opts.Version
	if ver == "" {
		ver = "3scale-ops"
	}
	return &Backend{
		rdb: rdb, now: now, log: log, ver: ver,
		st: &store{rdb: rdb, ttl: opts.ConfigTTL, now: now, cache: map[string]cacheEntry{}},
	}
}

var modes = map[string]Mode{
	"/transactions/authorize.xml":       ModeAuthorize,
	"/transactions/authrep.xml":         ModeAuthRep,
	"/transactions/oauth_authorize.xml": ModeOAuthAuthorize,
	"/transactions/oauth_authrep.xml":   ModeOAuthAuthRep,
}

// ServeHTTP implements the listener's routes.
func (b *Backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case r.URL.Path == "/transactions.xml" && r.Method == http.MethodPost:
		b.serveReport(w, r)
		return
	case r.URL.Path == "/check.txt" && get:
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok"))
		return
	case r.URL.Path == "/status" && get:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok","version":{"backend":"` + b.ver + `"}}`))
		return
	case r.URL.Path == "/available" && r.Method == http.MethodHead:
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(200)
		return
	}
	mode, ok := modes[r.URL.Path]
	if !ok || !get {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	ext := ParseExtensions(r.Header.Get("3scale-options"))
	p, perr, bare403 := parseParams(r.URL.RawQuery)
	if bare403 {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(http.StatusForbidden)
		return
	}
	if perr != nil {
		b.writeError(w, perr, ext.NoBody)
		return
	}
	// The header's no_body, when present, decides; the deprecated query
	// parameter only when the header has none.
	noBody := ext.NoBody
	if !ext.noBodySet {
		noBody = p.Ext.NoBody
	}
	p.Ext = ext
	p.Ext.NoBody = noBody
	res, err := b.Call(r.Context(), mode, p)
	if err != nil {
		b.writeError(w, err, noBody)
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	if !res.Authorized && ext.RejectionReasonHeader {
		h["3scale-rejection-reason"] = []string{res.Code} // lower case on the wire, as apisonator
	}
	if ext.LimitHeaders && (res.Authorized || res.Code == rejLimitsExceeded.code) {
		h["3scale-limit-remaining"] = []string{strconv.FormatInt(res.LimitRemaining, 10)}
		h["3scale-limit-reset"] = []string{strconv.FormatInt(res.LimitReset, 10)}
		if res.LimitMax >= 0 && res.LimitRemaining != -1 {
			h["3scale-limit-max-value"] = []string{strconv.FormatInt(res.LimitMax, 10)}
		}
	}
	w.WriteHeader(res.Status())
	if !noBody {
		_, _ = w.Write(res.XML())
	}
}

// writeError renders an apisonator error document; anything that is not
// an apisonator error (Redis down) is a 500 with the reason in the log.
func (b *Backend) writeError(w http.ResponseWriter, err error, noBody bool) {
	var e *Error
	if !errors.As(err, &e) {
		b.log.Error("backend storage failed", "err", err)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("backend storage unavailable\n"))
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(e.Status)
	if !noBody {
		_, _ = w.Write(e.XML())
	}
}
