// Package redact keeps secrets out of everything 3scale-ops shows a
// person or a log collector: log records, error messages, progress and
// command output. Secrets are registered once (from connection URLs,
// Kubernetes secrets, password files, environment variables) and replaced
// wherever they appear; passwords embedded in URLs are masked even when
// they were never registered.
//
// It must never be applied to data streams (backups, exports).
package redact

import (
	"context"
	"log/slog"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Mask is what a secret is replaced with.
const Mask = "xxxxx"

var (
	mu      sync.RWMutex
	secrets = map[string]struct{}{}
	sorted  []string // longest first, so a secret that contains another is masked whole
)

// minLen: shorter values (e.g. "0", "yes") are too common to mask safely.
const minLen = 4

// Add registers secret values to be masked from now on.
func Add(values ...string) {
	mu.Lock()
	defer mu.Unlock()
	changed := false
	for _, v := range values {
		v = strings.TrimSpace(v)
		if len(v) < minLen {
			continue
		}
		if _, ok := secrets[v]; !ok {
			secrets[v] = struct{}{}
			changed = true
		}
		// The URL-escaped form appears in connection strings.
		if e := url.QueryEscape(v); e != v {
			if _, ok := secrets[e]; !ok {
				secrets[e] = struct{}{}
				changed = true
			}
		}
	}
	if changed {
		sorted = sorted[:0]
		for s := range secrets {
			sorted = append(sorted, s)
		}
		sort.Slice(sorted, func(i, j int) bool { return len(sorted[i]) > len(sorted[j]) })
	}
}

// AddURL registers the password (and any token-like user info) of a
// connection URL.
func AddURL(raw string) {
	u, err := url.Parse(raw)
	if err != nil {
		return
	}
	// Tokens in the query string (access_token=…, provider_key=…).
	for k, vs := range u.Query() {
		lk := strings.ToLower(k)
		if strings.Contains(lk, "token") || strings.Contains(lk, "key") || strings.Contains(lk, "secret") || strings.Contains(lk, "password") {
			Add(vs...)
		}
	}
	if u.User == nil {
		return
	}
	if pw, ok := u.User.Password(); ok {
		Add(pw)
	} else if name := u.User.Username(); len(name) >= 16 {
		// http://TOKEN@host (system-master-apicast PROXY_CONFIGS_ENDPOINT)
		Add(name)
	}
}

// userinfo with a password: scheme://user:password@
var urlPassword = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*):([^@\s/]+)@`)

// String masks every registered secret and every URL password in s.
func String(s string) string {
	if s == "" {
		return s
	}
	s = urlPassword.ReplaceAllString(s, "$1:"+Mask+"@")
	mu.RLock()
	defer mu.RUnlock()
	for _, sec := range sorted {
		if strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, Mask)
		}
	}
	return s
}

// URL returns raw with its password masked, for display.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		// Unparseable: the user information cannot be told from a
		// password, so all of it goes.
		return String(Userinfo(raw))
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), Mask)
		}
	}
	return String(strings.Replace(u.String(), url.QueryEscape(Mask), Mask, 1))
}

// Userinfo returns raw with the whole user information of its authority
// (user and password: everything before the last @ of SCHEME://…@HOST)
// masked, whether or not raw parses as a URL. For locations that must
// never carry credentials (repository, --system-storage).
func Userinfo(raw string) string {
	i := strings.Index(raw, "//") // SCHEME://, or a scheme-less //
	if i < 0 {
		return String(raw)
	}
	rest := raw[i+2:]
	// The authority ends at the first "/": not at "?" or "#", which
	// people leave unescaped in passwords (s3://key:pa#ss@host/b), so
	// masking up to the last "@" before it errs on the side of hiding.
	end := strings.Index(rest, "/")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return String(raw)
	}
	return String(raw[:i+2] + Mask + rest[at:])
}

// Handler wraps a slog.Handler so that messages and string attributes are
// redacted before they are written.
func Handler(h slog.Handler) slog.Handler { return handler{h} }

type handler struct{ h slog.Handler }

func (r handler) Enabled(ctx context.Context, l slog.Level) bool { return r.h.Enabled(ctx, l) }

func (r handler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(attr(a))
		return true
	})
	return r.h.Handle(ctx, out)
}

func (r handler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = attr(a)
	}
	return handler{r.h.WithAttrs(red)}
}

func (r handler) WithGroup(name string) slog.Handler { return handler{r.h.WithGroup(name)} }

func attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, String(v.String()))
	case slog.KindGroup:
		g := v.Group()
		red := make([]any, len(g))
		for i, x := range g {
			red[i] = attr(x)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, String(err.Error()))
		}
		return slog.Attr{Key: a.Key, Value: v}
	default:
		return slog.Attr{Key: a.Key, Value: v}
	}
}
