package seed

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

var backendState = map[string]string{"live": "active", "suspended": "suspended", "pending": "pending"}

// statsShape is how much history the usage stats hold: the depth grows
// with the budget until it covers two years of days.
type statsShape struct{ months, weeks, days, hours int }

func (s statsShape) appKeys() int64 { return int64(2 + s.months + s.weeks + s.days + s.hours + 3) }
func (s statsShape) svcKeys() int64 { return int64(1 + s.months + s.weeks + s.days + s.hours) }

func shapeFor(d int) statsShape {
	return statsShape{months: d/30 + 1, weeks: d/7 + 1, days: d, hours: min(24*d, 24*90)}
}

const statsKeyBytes = 64 // average key + value bytes of a stats key

func (m *model) statsShape(budget int64) statsShape {
	var appMetrics, svcMetrics int64
	for _, a := range m.trafficApps() {
		appMetrics += int64(len(a.Service.allMetrics()))
	}
	for _, s := range m.services {
		if s.prov != nil {
			svcMetrics += int64(len(s.allMetrics()))
		}
	}
	keys := budget / statsKeyBytes
	best := shapeFor(1)
	for d := 1; d <= 730; d++ {
		sh := shapeFor(d)
		if appMetrics*sh.appKeys()+svcMetrics*sh.svcKeys() > keys {
			break
		}
		best = sh
	}
	return best
}

func loadRedis(ctx context.Context, t Targets, m *model, budget int64, opts Options, rep *Report) (Timing, error) {
	start := time.Now()
	var keys, bytes int64
	open := func(url, what string) (*redis.Client, error) {
		o, err := redis.ParseURL(url)
		if err != nil {
			return nil, fmt.Errorf("%s URL: %w", what, err)
		}
		o.PoolSize = opts.Parallel + 1
		if t.RedisTLS != nil {
			o.TLSConfig = t.RedisTLS.Clone()
		}
		c := redis.NewClient(o)
		if err := c.Ping(ctx).Err(); err != nil {
			c.Close()
			return nil, fmt.Errorf("connect to %s at %s: %w", what, o.Addr, err)
		}
		return c, nil
	}
	add := func(dst map[string]Count, fam map[string]Count) {
		for k, v := range fam {
			c := dst[k]
			c.Rows += v.Rows
			c.Bytes += v.Bytes
			dst[k] = c
			keys += v.Rows
			bytes += v.Bytes
		}
	}
	if t.BackendRedisURL != "" {
		c, err := open(t.BackendRedisURL, "backend-redis storage")
		if err != nil {
			return Timing{}, err
		}
		defer c.Close()
		fams, err := m.writeBackend(ctx, c, budget, opts.Parallel, rep.AlertsCurrentID)
		if err != nil {
			return Timing{}, err
		}
		add(rep.BackendRedis, fams)
	}
	if t.BackendQueuesURL != "" {
		c, err := open(t.BackendQueuesURL, "backend-redis queues")
		if err != nil {
			return Timing{}, err
		}
		defer c.Close()
		b := newBatch(ctx, c)
		m.writeQueues(b)
		if err := b.flush(); err != nil {
			return Timing{}, fmt.Errorf("backend-redis queues: %w", err)
		}
		add(rep.BackendQueues, b.fam)
	}
	if t.SystemRedisURL != "" {
		c, err := open(t.SystemRedisURL, "system-redis")
		if err != nil {
			return Timing{}, err
		}
		defer c.Close()
		b := newBatch(ctx, c)
		m.writeSidekiq(b, budget/20)
		if err := b.flush(); err != nil {
			return Timing{}, fmt.Errorf("system-redis: %w", err)
		}
		add(rep.SystemRedis, b.fam)
	}
	return timing(start, bytes, keys), nil
}

// writeBackend writes db 0: the configuration System syncs (exactly the
// model's services, apps, metrics, limits, tokens) and the counters
// backend generates (stats, events, alerts, daily traffic).
func (m *model) writeBackend(ctx context.Context, c *redis.Client, budget int64, parallel int, alertsCurrentID int64) (map[string]Count, error) {
	b := newBatch(ctx, c)
	pkServices := map[string][]string{}
	var all, pks []string
	for _, s := range m.services {
		sid := strconv.FormatInt(s.ID, 10)
		pk := m.providerKey(s)
		b.set("service", "service/id:"+sid+"/provider_key", pk)
		b.set("service", "service/id:"+sid+"/backend_version", s.BackendVersion)
		b.set("service", "service/id:"+sid+"/referrer_filters_required", boolStr(s.ReferrerFilters))
		if len(pkServices[pk]) == 0 {
			pks = append(pks, pk)
			b.set("service", "service/provider_key:"+pk+"/id", sid) // first service = default service
		}
		pkServices[pk] = append(pkServices[pk], sid)
		all = append(all, sid)
		for _, tok := range s.Tokens {
			b.hset("service_token", "service_token/token:"+tok+"/service_id:"+sid, "permissions", "")
		}
		b.sadd("alerts", "alerts/service_id:"+sid+"/allowed_set", "50", "80", "100")
		var mids []string
		for _, mt := range s.allMetrics() {
			mid := strconv.FormatInt(mt.ID, 10)
			mids = append(mids, mid)
			b.set("metric", "metric/service_id:"+sid+"/name:"+mt.SystemName+"/id", mid)
			b.set("metric", "metric/service_id:"+sid+"/id:"+mid+"/name", mt.SystemName)
			if mt.ParentID != 0 {
				b.set("metric", "metric/service_id:"+sid+"/id:"+mid+"/parent_id", strconv.FormatInt(mt.ParentID, 10))
			}
		}
		b.sadd("metric", "metrics/service_id:"+sid+"/ids", mids...)
		for _, pl := range s.AppPlans {
			for _, l := range pl.Limits {
				b.set("usage_limit", fmt.Sprintf("usage_limit/service_id:%s/plan_id:%d/metric_id:%d/%s", sid, pl.ID, l.MetricID, l.Period), strconv.FormatUint(l.Value, 10))
			}
		}
		var aids []string
		for _, a := range s.Apps {
			p := "application/service_id:" + sid + "/id:" + a.ApplicationID + "/"
			aids = append(aids, a.ApplicationID)
			b.set("application", p+"state", backendState[a.State])
			b.set("application", p+"plan_id", strconv.FormatInt(a.Plan.ID, 10))
			b.set("application", p+"plan_name", a.Plan.Name)
			if a.RedirectURL != "" {
				b.set("application", p+"redirect_url", a.RedirectURL)
			}
			b.sadd("application", p+"keys", a.Keys...)
			b.sadd("application", p+"referrer_filters", a.Referrers...)
			if a.UserKey != "" {
				b.set("application", "application/service_id:"+sid+"/key:"+a.UserKey+"/id", a.ApplicationID)
			}
		}
		b.sadd("application", "service_id:"+sid+"/applications", aids...)
	}
	for _, pk := range pks {
		b.sadd("service", "service/provider_key:"+pk+"/ids", pkServices[pk]...)
	}
	b.sadd("service", "services_set", all...)
	b.sadd("service", "provider_keys_set", pks...)
	b.set("alerts", "alerts/current_id", strconv.FormatInt(alertsCurrentID, 10))
	m.writeEvents(b)
	if err := b.flush(); err != nil {
		return nil, fmt.Errorf("backend-redis config keys: %w", err)
	}
	fams := b.fam

	// Stats: services split among parallel writers; per-app values come
	// from a per-app stream, so the split does not change the data.
	shape := m.statsShape(budget)
	work := make(chan *service)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for i := 0; i < parallel; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sb := newBatch(ctx, c)
			for s := range work {
				m.writeStats(sb, s, shape)
			}
			err := sb.flush()
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
			}
			for k, v := range sb.fam {
				cc := fams[k]
				cc.Rows += v.Rows
				cc.Bytes += v.Bytes
				fams[k] = cc
			}
		}()
	}
	for _, s := range m.services {
		if s.prov != nil {
			work <- s
		}
	}
	close(work)
	wg.Wait()
	if first != nil {
		return nil, fmt.Errorf("backend-redis stats keys: %w", first)
	}
	return fams, nil
}

func (m *model) providerKey(s *service) string {
	if s.prov == nil {
		return m.apps[0].UserKey
	}
	return s.prov.key
}

func boolStr(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// writeStats writes one service's usage counters: per traffic app and
// metric every period of the history shape (minute keys with a 180 s
// TTL), service-level sums, response codes, the cinstances set and the
// daily-traffic markers.
func (m *model) writeStats(b *rbatch, s *service, sh statsShape) {
	sid := strconv.FormatInt(s.ID, 10)
	svcPrefix := "stats/{service:" + sid + "}/"
	type period struct {
		suffix  string
		hours   float64
		minute  bool
		service bool
	}
	var periods []period
	add := func(g string, n int, hours float64, service bool) {
		for i := 0; i < n; i++ {
			var st time.Time
			switch g {
			case "month":
				st = periodStart("month", m.now).AddDate(0, -i, 0)
			case "week":
				st = periodStart("week", m.now).AddDate(0, 0, -7*i)
			case "day":
				st = periodStart("day", m.now).AddDate(0, 0, -i)
			case "hour":
				st = periodStart("hour", m.now).Add(-time.Duration(i) * time.Hour)
			case "minute":
				st = periodStart("minute", m.now).Add(-time.Duration(i) * time.Minute)
			case "year":
				st = periodStart("year", m.now)
			}
			periods = append(periods, period{statsSuffix(g, st), hours, g == "minute", service})
		}
	}
	periods = append(periods, period{"eternity", 24 * 365 * 3, false, true})
	add("year", 1, 24*365, false)
	add("month", sh.months, 24*30, true)
	add("week", sh.weeks, 24*7, true)
	add("day", sh.days, 24, true)
	add("hour", sh.hours, 1, true)
	add("minute", 3, 1.0/60, false)

	metrics := s.allMetrics()
	sums := make([]int64, len(metrics)*len(periods))
	var traffic []string
	day := m.now.UTC().Format("20060102")
	for _, a := range s.Apps {
		if !a.Traffic {
			continue
		}
		traffic = append(traffic, a.ApplicationID)
		r := m.rng("stats/" + a.ApplicationID)
		rate := 5 + r.Float64()*200 // hits per hour
		ap := svcPrefix + "cinstance:" + a.ApplicationID + "/"
		for mi, mt := range metrics {
			w := 1.0
			if mt.ParentID != 0 {
				w = 0.5 / float64(len(metrics))
			}
			if mt.SystemName == "bandwidth" {
				w = 12
			}
			mid := strconv.FormatInt(mt.ID, 10)
			for pi, p := range periods {
				v := int64(rate*w*p.hours*(0.6+0.4*r.Float64())) + 1
				key := ap + "metric:" + mid + "/" + p.suffix
				if p.minute {
					b.setEx("stats", key, strconv.FormatInt(v, 10), 180*time.Second)
				} else {
					b.set("stats", key, strconv.FormatInt(v, 10))
				}
				sums[mi*len(periods)+pi] += v
			}
		}
		for _, code := range []string{"200", "2XX", "404", "4XX"} {
			b.set("stats", ap+"response_code:"+code+"/eternity", strconv.Itoa(100+r.IntN(100000)))
			b.set("stats", ap+"response_code:"+code+"/"+periods[len(periods)-sh.hours-3-sh.days].suffix, strconv.Itoa(1+r.IntN(5000)))
		}
		b.setEx("daily_traffic", "daily_traffic/service:"+sid+"/cinstance:"+a.ApplicationID+"/"+day, "1", 172800*time.Second)
	}
	for mi, mt := range metrics {
		mid := strconv.FormatInt(mt.ID, 10)
		for pi, p := range periods {
			if p.service && sums[mi*len(periods)+pi] > 0 {
				b.set("stats", svcPrefix+"metric:"+mid+"/"+p.suffix, strconv.FormatInt(sums[mi*len(periods)+pi], 10))
			}
		}
	}
	b.sadd("stats", svcPrefix+"cinstances", traffic...)
}

// writeEvents writes backend's events queue and a few alert throttles.
func (m *model) writeEvents(b *rbatch) {
	r := m.rng("events")
	apps := m.trafficApps()
	if len(apps) == 0 {
		return
	}
	var zs []redis.Z
	for i := 1; i <= 20; i++ {
		a := apps[r.IntN(len(apps))]
		ts := m.now.Add(-time.Duration(21-i) * time.Minute)
		ev := fmt.Sprintf(`{"id":%d,"type":"first_daily_traffic","timestamp":"%s","object":{"service_id":"%d","application_id":"%s","timestamp":"%s"}}`,
			i, ts.Format("2006-01-02 15:04:05 -0700"), a.Service.ID, a.ApplicationID, ts.Format("2006-01-02 15:04:05 -0700"))
		zs = append(zs, redis.Z{Score: float64(i), Member: ev})
		if i%5 == 0 {
			b.setEx("alerts", fmt.Sprintf("alerts/service_id:%d/app_id:%s/%d/already_notified", a.Service.ID, a.ApplicationID, alertLevels[r.IntN(len(alertLevels))]), "1", 86400*time.Second)
		}
	}
	b.zadd("events", "events/queue", zs...)
	b.set("events", "events/id", "20")
}

// writeQueues writes db 1: a few resque jobs waiting for backend-worker.
func (m *model) writeQueues(b *rbatch) {
	r := m.rng("resque")
	apps := m.trafficApps()
	var jobs []string
	for i := 0; i < 8 && len(apps) > 0; i++ {
		a := apps[r.IntN(len(apps))]
		cred := fmt.Sprintf(`"app_id":"%s"`, a.ApplicationID)
		if a.UserKey != "" {
			cred = fmt.Sprintf(`"user_key":"%s"`, a.UserKey)
		}
		jobs = append(jobs, fmt.Sprintf(`{"class":"ThreeScale::Backend::Transactor::ReportJob","args":[%d,{"0":{%s,"usage":{"hits":"1"},"timestamp":"%s","log":{"code":"200"}}},%d.%03d,{}]}`,
			a.Service.ID, cred, m.now.Format("2006-01-02 15:04:05 -0700"), m.now.Unix(), i))
	}
	b.rpush("resque", "resque:queue:priority", jobs...)
	var notify []string
	for _, p := range m.provs[:min(3, len(m.provs))] {
		notify = append(notify, fmt.Sprintf(`{"class":"ThreeScale::Backend::Transactor::NotifyJob","args":["%s",{"transactions/authorize":%d},"%s",%d.0]}`,
			p.key, 1+r.IntN(50), m.now.Format("2006-01-02 15:04:05 UTC"), m.now.Unix()))
	}
	b.rpush("resque", "resque:queue:main", notify...)
	b.sadd("resque", "resque:queues", "priority", "main", "stats")
	b.set("resque", "resque:stat:processed", "1843212")
	b.set("resque", "resque:stat:failed", "17")
	b.rpush("resque", "resque:failed", fmt.Sprintf(`{"failed_at":"%s","payload":{"class":"ThreeScale::Backend::Transactor::ReportJob","args":[]},"exception":"ThreeScale::Backend::TransactionTimestampTooOld","error":"reporting transactions older than 1 day is not allowed","queue":"priority"}`, m.now.Add(-3*time.Hour).Format(time.RFC3339)))
}

// writeSidekiq writes system-redis: Sidekiq queues, scheduled, retry and
// dead sets, stats, and web sessions with TTLs.
func (m *model) writeSidekiq(b *rbatch, budget int64) {
	r := m.rng("sidekiq")
	queues := map[string]string{"default": "ThreeScale::Analytics::UserTracking::Job", "zync": "ZyncWorker", "mailers": "ActionMailer::MailDeliveryJob",
		"billing": "BillingWorker", "events": "EventImporters::ImportEventWorker", "low": "BackendMetricWorker"}
	var names []string
	for _, q := range sortedKeys(queues) {
		names = append(names, q)
		var jobs []string
		for i := 0; i < 3+r.IntN(10); i++ {
			jobs = append(jobs, m.sidekiqJob(r, queues[q], q))
		}
		b.rpush("sidekiq", "queue:"+q, jobs...)
	}
	b.sadd("sidekiq", "queues", names...)
	for _, set := range []string{"schedule", "retry", "dead"} {
		var zs []redis.Z
		for i := 0; i < 5+r.IntN(20); i++ {
			at := m.now.Add(time.Duration(r.IntN(7200)-3600) * time.Second)
			zs = append(zs, redis.Z{Score: float64(at.Unix()) + float64(i)/1000, Member: m.sidekiqJob(r, "ZyncWorker", "zync")})
		}
		b.zadd("sidekiq", set, zs...)
	}
	b.set("sidekiq", "stat:processed", "9921873")
	b.set("sidekiq", "stat:failed", "2231")
	sessions := max(budget/400, 20)
	for i := int64(0); i < sessions; i++ {
		u := m.users[r.IntN(len(m.users))]
		val := fmt.Sprintf(`{"user_id":%d,"_csrf_token":"%s","return_to":"/admin/applications?page=%d","flash":null}`, u.ID, hexToken(r, 43), r.IntN(9))
		b.setEx("session", "session:"+hexToken(r, 32), val, time.Duration(3600+r.IntN(14*24*3600))*time.Second)
	}
	for i := 0; i < 10; i++ {
		b.setEx("cache", fmt.Sprintf("cache:views/provider/%d/dashboard", i), hexToken(r, 200), time.Hour)
	}
}

func (m *model) sidekiqJob(r interface{ IntN(int) int }, class, queue string) string {
	return fmt.Sprintf(`{"retry":true,"queue":"%s","class":"%s","args":[%d,{"tenant_id":%d}],"jid":"%024x","created_at":%d.%03d,"enqueued_at":%d.%03d}`,
		queue, class, 1+r.IntN(10000), m.provs[r.IntN(len(m.provs))].acct.ID, r.IntN(1<<30), m.now.Unix()-int64(r.IntN(3600)), r.IntN(1000), m.now.Unix(), r.IntN(1000))
}
