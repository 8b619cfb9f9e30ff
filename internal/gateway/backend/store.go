package backend

import (
	"context"
	"errors"
	"math"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// service is the backend view of one service (section 1.1 keys).
type service struct {
	ID                      string
	ProviderKey             string
	BackendVersion          string
	State                   string
	ReferrerFiltersRequired bool
}

func (s *service) active() bool { return s.State == "" || s.State == "active" }

// application is the backend view of one application.
type application struct {
	ID              string
	State           string
	PlanID          string
	PlanName        string
	RedirectURL     string
	Keys            []string
	ReferrerFilters []string
}

func (a *application) hasKey(k string) bool {
	for _, x := range a.Keys {
		if x == k {
			return true
		}
	}
	return false
}

// metrics is a service's metric set: names, ids and the parent hierarchy.
type metrics struct {
	IDs    []string          // in SMEMBERS order (ascending for integer ids)
	Name   map[string]string // id → system_name
	ByName map[string]string // system_name → id
	Parent map[string]string // id → parent id
}

// ancestors returns the ids of id's parent, grandparent, … (cycle-safe).
func (m *metrics) ancestors(id string) []string {
	var out []string
	seen := map[string]bool{id: true}
	for p := m.Parent[id]; p != "" && !seen[p]; p = m.Parent[p] {
		seen[p] = true
		out = append(out, p)
	}
	return out
}

// descendants returns the names of every metric below name.
func (m *metrics) descendants(name string) []string {
	id := m.ByName[name]
	var out []string
	for _, cid := range m.IDs {
		for _, a := range m.ancestors(cid) {
			if a == id {
				out = append(out, m.Name[cid])
				break
			}
		}
	}
	return out
}

// children returns the names of id's direct children.
func (m *metrics) children(id string) []string {
	var out []string
	for _, cid := range m.IDs {
		if m.Parent[cid] == id {
			out = append(out, m.Name[cid])
		}
	}
	return out
}

// limit is one usage limit of a plan.
type limit struct {
	MetricID string
	Period   Period
	Max      int64
}

// store reads the section-1.1 keys, memoising them for ttl (0: never).
type store struct {
	rdb redis.UniversalClient
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	cache map[string]cacheEntry
}

type cacheEntry struct {
	v   any
	exp time.Time
}

func (s *store) get(key string) (any, bool) {
	if s.ttl <= 0 {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.cache[key]
	if !ok || s.now().After(e.exp) {
		return nil, false
	}
	return e.v, true
}

func (s *store) put(key string, v any) {
	if s.ttl <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cache) > 100000 {
		s.cache = map[string]cacheEntry{}
	}
	s.cache[key] = cacheEntry{v: v, exp: s.now().Add(s.ttl)}
}

func str(c *redis.StringCmd) (string, bool, error) {
	v, err := c.Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	return v, err == nil, err
}

// serviceLookup is the outcome of resolving credentials to a service.
type serviceLookup struct {
	svc        *service // nil: no such service
	defaultID  string   // the provider key's default service id ("" none)
	tokenValid bool
}

// lookupService loads, in one round trip, what authentication needs:
// the token's existence (when token is set), the provider key's default
// service id (when pk is set) and service sid (when set).
func (s *store) lookupService(ctx context.Context, token, pk, sid string) (*serviceLookup, error) {
	ck := "svc\x00" + token + "\x00" + pk + "\x00" + sid
	if v, ok := s.get(ck); ok {
		return v.(*serviceLookup), nil
	}
	pipe := s.rdb.Pipeline()
	var tok *redis.IntCmd
	var def *redis.StringCmd
	if token != "" && sid != "" {
		tok = pipe.Exists(ctx, "service_token/token:"+encodeKey(token)+"/service_id:"+encodeKey(sid))
	}
	if pk != "" {
		def = pipe.Get(ctx, "service/provider_key:"+encodeKey(pk)+"/id")
	}
	var svcCmds []*redis.StringCmd
	if sid != "" {
		svcCmds = s.queueService(ctx, pipe, sid)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := &serviceLookup{}
	if tok != nil {
		out.tokenValid = tok.Val() > 0
	}
	if def != nil {
		out.defaultID, _, _ = str(def)
	}
	if svcCmds != nil {
		out.svc = readService(sid, svcCmds)
	}
	if out.svc != nil || sid == "" {
		s.put(ck, out)
	}
	return out, nil
}

// loadService loads one service by id (nil when it does not exist).
func (s *store) loadService(ctx context.Context, sid string) (*service, error) {
	pipe := s.rdb.Pipeline()
	cmds := s.queueService(ctx, pipe, sid)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	return readService(sid, cmds), nil
}

func (s *store) queueService(ctx context.Context, pipe redis.Pipeliner, sid string) []*redis.StringCmd {
	p := "service/id:" + encodeKey(sid) + "/"
	return []*redis.StringCmd{
		pipe.Get(ctx, p+"provider_key"), pipe.Get(ctx, p+"backend_version"),
		pipe.Get(ctx, p+"referrer_filters_required"), pipe.Get(ctx, p+"state"),
	}
}

func readService(sid string, c []*redis.StringCmd) *service {
	pk, ok, _ := str(c[0])
	if !ok {
		return nil
	}
	bv, _, _ := str(c[1])
	rf, _, _ := str(c[2])
	st, _, _ := str(c[3])
	return &service{ID: sid, ProviderKey: pk, BackendVersion: bv, ReferrerFiltersRequired: rf == "1" || rf == "true", State: st}
}

// appIDByUserKey resolves a user_key to an application id ("" unknown).
func (s *store) appIDByUserKey(ctx context.Context, sid, uk string) (string, error) {
	ck := "uk\x00" + sid + "\x00" + uk
	if v, ok := s.get(ck); ok {
		return v.(string), nil
	}
	id, ok, err := str(s.rdb.Get(ctx, "application/service_id:"+encodeKey(sid)+"/key:"+encodeKey(uk)+"/id"))
	if err != nil {
		return "", err
	}
	if ok {
		s.put(ck, id)
	}
	return id, nil
}

// loadApp loads an application, or nil when its state key is missing.
func (s *store) loadApp(ctx context.Context, sid, aid string) (*application, error) {
	ck := "app\x00" + sid + "\x00" + aid
	if v, ok := s.get(ck); ok {
		return v.(*application), nil
	}
	p := "application/service_id:" + encodeKey(sid) + "/id:" + encodeKey(aid) + "/"
	pipe := s.rdb.Pipeline()
	st, plan, pname, redir := pipe.Get(ctx, p+"state"), pipe.Get(ctx, p+"plan_id"), pipe.Get(ctx, p+"plan_name"), pipe.Get(ctx, p+"redirect_url")
	keys, refs := pipe.SMembers(ctx, p+"keys"), pipe.SMembers(ctx, p+"referrer_filters")
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	state, ok, _ := str(st)
	if !ok {
		return nil, nil
	}
	a := &application{ID: aid, State: state, Keys: keys.Val(), ReferrerFilters: refs.Val()}
	a.PlanID, _, _ = str(plan)
	a.PlanName, _, _ = str(pname)
	a.RedirectURL, _, _ = str(redir)
	s.put(ck, a)
	return a, nil
}

// loadMetrics loads the service's metrics (two round trips).
func (s *store) loadMetrics(ctx context.Context, sid string) (*metrics, error) {
	ck := "met\x00" + sid
	if v, ok := s.get(ck); ok {
		return v.(*metrics), nil
	}
	ids, err := s.rdb.SMembers(ctx, "metrics/service_id:"+encodeKey(sid)+"/ids").Result()
	if err != nil {
		return nil, err
	}
	sortIDs(ids)
	m := &metrics{IDs: ids, Name: map[string]string{}, ByName: map[string]string{}, Parent: map[string]string{}}
	if len(ids) > 0 {
		pipe := s.rdb.Pipeline()
		names := make([]*redis.StringCmd, len(ids))
		parents := make([]*redis.StringCmd, len(ids))
		for i, id := range ids {
			p := "metric/service_id:" + encodeKey(sid) + "/id:" + encodeKey(id) + "/"
			names[i], parents[i] = pipe.Get(ctx, p+"name"), pipe.Get(ctx, p+"parent_id")
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
		for i, id := range ids {
			if n, ok, _ := str(names[i]); ok {
				m.Name[id], m.ByName[n] = n, id
			}
			if p, ok, _ := str(parents[i]); ok && p != "" {
				m.Parent[id] = p
			}
		}
	}
	s.put(ck, m)
	return m, nil
}

// sortIDs orders metric ids as Redis returns an intset: numerically
// ascending (non-numeric ids after, by string).
func sortIDs(ids []string) {
	sort.SliceStable(ids, func(i, j int) bool {
		a, ea := strconv.ParseInt(ids[i], 10, 64)
		b, eb := strconv.ParseInt(ids[j], 10, 64)
		switch {
		case ea == nil && eb == nil:
			return a < b
		case ea == nil:
			return true
		case eb == nil:
			return false
		}
		return ids[i] < ids[j]
	})
}

// loadLimits loads a plan's usage limits: every metric id × period, as
// apisonator does (a limit on a metric missing from the ids set is
// invisible).
func (s *store) loadLimits(ctx context.Context, sid, pid string, m *metrics) ([]limit, error) {
	ck := "lim\x00" + sid + "\x00" + pid
	if v, ok := s.get(ck); ok {
		return v.([]limit), nil
	}
	var out []limit
	if len(m.IDs) > 0 {
		keys := make([]string, 0, len(m.IDs)*len(Periods))
		for _, id := range m.IDs {
			for _, p := range Periods {
				keys = append(keys, "usage_limit/service_id:"+encodeKey(sid)+"/plan_id:"+encodeKey(pid)+"/metric_id:"+encodeKey(id)+"/"+p.String())
			}
		}
		vals, err := s.rdb.MGet(ctx, keys...).Result()
		if err != nil {
			return nil, err
		}
		for i, v := range vals {
			sv, ok := v.(string)
			if !ok {
				continue
			}
			n, err := strconv.ParseInt(sv, 10, 64)
			if errors.Is(err, strconv.ErrRange) && n == math.MaxInt64 {
				// System's column is bigint unsigned: a limit above
				// int64 (up to 18446744073709551615) can never be
				// reached, so it is held as the int64 maximum.
				err = nil
			}
			if err != nil {
				continue
			}
			out = append(out, limit{MetricID: m.IDs[i/len(Periods)], Period: Periods[i%len(Periods)], Max: n})
		}
	}
	s.put(ck, out)
	return out, nil
}
