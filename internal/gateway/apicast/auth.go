package apicast

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

type outcome int

const (
	outDenied outcome = iota
	outAuthorized
	outLimits
)

type decision struct {
	outcome    outcome
	retryAfter string
}

// authCache holds the last backend status per service+credentials+usage.
type authCache struct {
	mu sync.RWMutex
	m  map[string]int
}

func newAuthCache() *authCache { return &authCache{m: map[string]int{}} }

func (c *authCache) get(k string) (int, bool) {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	return v, ok
}

// getBytes is get without turning k into a string.
func (c *authCache) getBytes(k []byte) (int, bool) {
	c.mu.RLock()
	v, ok := c.m[string(k)]
	c.mu.RUnlock()
	return v, ok
}

func (c *authCache) set(k string, v int) {
	c.mu.Lock()
	if len(c.m) > 1<<20 {
		c.m = map[string]int{}
	}
	c.m[k] = v
	c.mu.Unlock()
}

func (c *authCache) del(k string) {
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}

// backendAnswer is what the gateway keeps of an authrep response.
type backendAnswer struct {
	status   int // 0: unreachable
	reason   string
	reset    string
	maxValue string
}

// authorize decides a request: a cached 200 passes at once (its usage is
// batched); otherwise a synchronous authrep, whose outcome the caching
// mode turns into a decision and a cache update.
func (g *Gateway) authorize(ctx context.Context, s *svc, c credentials, u *usage) decision {
	// the cache key, service:credentials:usage, built on the stack
	var buf [256]byte
	kb := append(buf[:0], s.ID...)
	kb = append(kb, ':')
	kb = c.appendKey(kb)
	kb = append(kb, ':')
	kb = append(kb, u.enc...)
	if s.mode != "none" {
		if st, ok := g.cache.getBytes(kb); ok && st == 200 {
			g.batch.add(s, c, u, kb)
			return decision{outcome: outAuthorized}
		}
	}
	key := string(kb)
	a := g.call(ctx, s, c, u, "authrep")
	ok := g.applyCache(s.mode, key, a)
	if ok {
		if a.status != 200 {
			// authorized by the cache while the backend is down: the
			// usage is reported once the backend is back
			g.batch.add(s, c, u, kb)
		}
		return decision{outcome: outAuthorized}
	}
	if a.reason == "limits_exceeded" && a.maxValue != "0" {
		return decision{outcome: outLimits, retryAfter: a.reset}
	}
	return decision{outcome: outDenied}
}

// applyCache implements the caching policy table: what to store and
// whether the request is authorized.
func (g *Gateway) applyCache(mode, key string, a backendAnswer) bool {
	up := a.status > 0 && a.status < 500
	if up {
		switch mode {
		case "strict":
			if a.status == 200 {
				g.cache.set(key, 200)
			} else {
				g.cache.del(key)
			}
		case "resilient", "allow":
			g.cache.set(key, a.status)
		default:
			g.cache.del(key)
		}
		return a.status == 200
	}
	switch mode {
	case "resilient":
		st, ok := g.cache.get(key)
		return ok && st == 200
	case "allow":
		st, ok := g.cache.get(key)
		if !ok {
			g.cache.set(key, 200)
			return true
		}
		return st == 200
	default:
		g.cache.del(key)
		return false
	}
}

func (g *Gateway) backendQuery(s *svc, c credentials) url.Values {
	q := url.Values{}
	q.Set("service_id", string(s.ID))
	if s.BackendAuthenticationType == "provider_key" {
		q.Set("provider_key", s.BackendAuthenticationValue)
	} else {
		q.Set("service_token", s.BackendAuthenticationValue)
	}
	for i := 0; i < c.n; i++ {
		q.Set(c.names[i], c.values[i])
	}
	return q
}

// call makes one authrep/authorize call to the backend.
func (g *Gateway) call(ctx context.Context, s *svc, c credentials, u *usage, endpoint string) backendAnswer {
	if string(s.BackendVersion) == "oauth" {
		endpoint = "oauth_" + endpoint
	}
	ref := *g.backend
	ref.Path = strings.TrimRight(ref.Path, "/") + "/transactions/" + endpoint + ".xml"
	ref.RawQuery = g.backendQuery(s, c).Encode()
	if enc := u.encode(); enc != "" {
		ref.RawQuery += "&" + enc
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ref.String(), nil)
	if err != nil {
		return backendAnswer{}
	}
	req.Header.Set("3scale-options", "rejection_reason_header=1&limit_headers=1&no_body=1")
	req.Header.Set("User-Agent", "APIcast/3scale-ops")
	resp, err := g.bclient.Do(req)
	if err != nil {
		g.log.Warn("backend unreachable", "service_id", string(s.ID), "err", err)
		return backendAnswer{}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return backendAnswer{
		status: resp.StatusCode, reason: resp.Header.Get("3scale-rejection-reason"),
		reset: resp.Header.Get("3scale-limit-reset"), maxValue: resp.Header.Get("3scale-limit-max-value"),
	}
}

// batcher accumulates the usage of requests authorized from the cache
// and reports it every interval (POST /transactions.xml, one per
// service), then refreshes those cache entries with an authorize call so
// that an application over its limits is stopped within one interval.
type batcher struct {
	g        *Gateway
	mu       sync.Mutex
	pending  map[string]*pendingUsage // by cache key
	stop     chan struct{}
	done     chan struct{}
	interval time.Duration
}

type pendingUsage struct {
	s     *svc
	c     credentials
	u     *usage
	count int
}

func newBatcher(g *Gateway, interval time.Duration) *batcher {
	b := &batcher{g: g, pending: map[string]*pendingUsage{}, stop: make(chan struct{}), done: make(chan struct{}), interval: interval}
	go b.loop()
	return b
}

// add counts one hit of key; the key is copied only the first time it is
// seen in an interval.
func (b *batcher) add(s *svc, c credentials, u *usage, key []byte) {
	b.mu.Lock()
	p, ok := b.pending[string(key)]
	if !ok {
		p = &pendingUsage{s: s, c: c, u: u}
		b.pending[string(key)] = p
	}
	p.count++
	b.mu.Unlock()
}

func (b *batcher) loop() {
	defer close(b.done)
	t := time.NewTicker(b.interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			b.flush(context.Background())
		case <-b.stop:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			b.flush(ctx)
			cancel()
			return
		}
	}
}

func (b *batcher) close() {
	select {
	case <-b.stop:
	default:
		close(b.stop)
	}
	<-b.done
}

// flush reports everything pending. A batch the backend did not accept
// (unreachable, 5xx) is kept for the next flush.
func (b *batcher) flush(ctx context.Context) {
	b.mu.Lock()
	batch := b.pending
	b.pending = map[string]*pendingUsage{}
	b.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	bySvc := map[*svc][]string{}
	for k, p := range batch {
		bySvc[p.s] = append(bySvc[p.s], k)
	}
	for s, keys := range bySvc {
		form := b.g.backendQuery(s, credentials{})
		for i, k := range keys {
			p := batch[k]
			pre := "transactions[" + itoa(i) + "]"
			for j := 0; j < p.c.n; j++ {
				if p.c.names[j] != "app_key" {
					form.Set(pre+"["+p.c.names[j]+"]", p.c.values[j])
				}
			}
			for j, m := range p.u.metrics {
				form.Set(pre+"[usage]["+m+"]", itoa(p.u.deltas[j]*p.count))
			}
		}
		ref := *b.g.backend
		ref.Path = strings.TrimRight(ref.Path, "/") + "/transactions.xml"
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, ref.String(), strings.NewReader(form.Encode()))
		if err != nil {
			continue
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := b.g.bclient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if err != nil || resp.StatusCode >= 500 {
			b.g.log.Warn("report of cached hits failed; will retry", "service_id", string(s.ID), "transactions", len(keys))
			b.mu.Lock()
			for _, k := range keys {
				if cur, ok := b.pending[k]; ok {
					cur.count += batch[k].count
				} else {
					b.pending[k] = batch[k]
				}
			}
			b.mu.Unlock()
			continue
		}
		// refresh the cached decisions with a read-only authorize
		for _, k := range keys {
			p := batch[k]
			a := b.g.call(ctx, s, p.c, p.u, "authorize")
			b.g.applyCache(s.mode, k, a)
		}
	}
}
