package seed

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// Problem is one cross-store inconsistency.
type Problem struct {
	Check  string `json:"check"`  // which invariant (internals reference §7)
	Object string `json:"object"` // e.g. "service 12", "application 3af2c1d0"
	Detail string `json:"detail"`
}

func (p Problem) String() string { return p.Check + ": " + p.Object + ": " + p.Detail }

// CheckConsistency checks a 3scale installation across stores: every
// service, application (state, plan, keys, user key, referrer filters),
// metric, usage limit and service token of live providers in system-mysql
// resolves in backend-redis; every service's latest proxy configuration
// maps its rules to the service's metrics; alerts/current_id >= the
// largest alert id; and, when a zync database is given, every tenant is
// in zync. Targets.MySQLDSN and BackendRedisURL are required. It reads
// only. Problems are differences in the data; the error is for failures
// to read.
func CheckConsistency(ctx context.Context, t Targets) ([]Problem, error) {
	if t.MySQLDSN == "" || t.BackendRedisURL == "" {
		return nil, fmt.Errorf("consistency check needs the system database and backend-redis storage")
	}
	db, err := sql.Open("mysql", t.MySQLDSN)
	if err != nil {
		return nil, fmt.Errorf("MySQL DSN: %s", redactDSNError(err))
	}
	defer db.Close()
	o, err := redis.ParseURL(t.BackendRedisURL)
	if err == nil && t.RedisTLS != nil {
		o.TLSConfig = t.RedisTLS.Clone()
	}
	if err != nil {
		return nil, fmt.Errorf("backend-redis URL: %w", err)
	}
	rc := redis.NewClient(o)
	defer rc.Close()
	c := &checker{ctx: ctx, db: db, r: rc}
	steps := []func() error{c.services, c.apps, c.metrics, c.limits, c.proxyConfigs, c.alerts}
	if t.PostgresURL != "" {
		steps = append(steps, func() error { return c.zync(t.PostgresURL) })
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return c.probs, err
		}
	}
	return c.probs, nil
}

type checker struct {
	ctx   context.Context
	db    *sql.DB
	r     *redis.Client
	probs []Problem
	live  map[int64]bool // services of live providers
}

func (c *checker) add(check, obj, format string, args ...any) {
	c.probs = append(c.probs, Problem{check, obj, fmt.Sprintf(format, args...)})
}

func (c *checker) query(q string, args ...any) (*sql.Rows, error) {
	rows, err := c.db.QueryContext(c.ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read system database: %w", err)
	}
	return rows, nil
}

// liveServices are services of providers (and master) not suspended or
// scheduled for deletion, as backend:storage:rewrite sees them.
const liveServices = `SELECT s.id, s.account_id, s.backend_version, s.referrer_filters_required, COALESCE(pk.user_key, '')
 FROM services s JOIN accounts a ON a.id = s.account_id
 LEFT JOIN (SELECT c.user_account_id, c.user_key FROM cinstances c JOIN services ms ON ms.id = c.service_id JOIN accounts m ON m.id = ms.account_id AND m.master = 1) pk ON pk.user_account_id = a.id
 WHERE a.state NOT IN ('suspended', 'scheduled_for_deletion') AND s.state <> 'deleted' ORDER BY s.id`

func (c *checker) services() error {
	rows, err := c.query(liveServices)
	if err != nil {
		return err
	}
	defer rows.Close()
	type svc struct {
		id       int64
		bv, pk   string
		referrer bool
	}
	var list []svc
	for rows.Next() {
		var s svc
		var acct int64
		if err := rows.Scan(&s.id, &acct, &s.bv, &s.referrer, &s.pk); err != nil {
			return err
		}
		list = append(list, s)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	c.live = map[int64]bool{}
	p := c.r.Pipeline()
	type cmds struct {
		pk, bv, rf  *redis.StringCmd
		inPK, inAll *redis.BoolCmd
	}
	res := make([]cmds, len(list))
	for i, s := range list {
		c.live[s.id] = true
		sid := strconv.FormatInt(s.id, 10)
		res[i] = cmds{p.Get(c.ctx, "service/id:"+sid+"/provider_key"), p.Get(c.ctx, "service/id:"+sid+"/backend_version"),
			p.Get(c.ctx, "service/id:"+sid+"/referrer_filters_required"), p.SIsMember(c.ctx, "service/provider_key:"+s.pk+"/ids", sid),
			p.SIsMember(c.ctx, "services_set", sid)}
	}
	if _, err := p.Exec(c.ctx); err != nil && err != redis.Nil {
		return fmt.Errorf("read backend-redis: %w", err)
	}
	for i, s := range list {
		obj := fmt.Sprintf("service %d", s.id)
		r := res[i]
		if s.pk == "" {
			c.add("1 provider key", obj, "the provider has no contract on the master service in MySQL")
		} else if r.pk.Val() != s.pk {
			c.add("1 provider key", obj, "backend-redis provider_key %q, MySQL provider key differs", mask(r.pk.Val()))
		}
		if !r.inPK.Val() || !r.inAll.Val() {
			c.add("1 provider key", obj, "missing from service/provider_key:…/ids or services_set")
		}
		if r.bv.Val() != s.bv {
			c.add("2 backend_version", obj, "backend-redis %q, MySQL %q", r.bv.Val(), s.bv)
		}
		if r.rf.Val() != boolStr(s.referrer) {
			c.add("2 referrer_filters_required", obj, "backend-redis %q, MySQL %v", r.rf.Val(), s.referrer)
		}
	}
	// service tokens
	trows, err := c.query("SELECT service_id, value FROM service_tokens ORDER BY id")
	if err != nil {
		return err
	}
	defer trows.Close()
	for trows.Next() {
		var sid int64
		var v string
		if err := trows.Scan(&sid, &v); err != nil {
			return err
		}
		if !c.live[sid] {
			continue
		}
		n, err := c.r.Exists(c.ctx, fmt.Sprintf("service_token/token:%s/service_id:%d", v, sid)).Result()
		if err != nil {
			return fmt.Errorf("read backend-redis: %w", err)
		}
		if n != 1 {
			c.add("3 service token", fmt.Sprintf("service %d", sid), "token %s… has no backend key", mask(v))
		}
	}
	return trows.Err()
}

func mask(s string) string {
	if len(s) > 4 {
		return s[:4]
	}
	return s
}

var stateMap = map[string]string{"live": "active", "suspended": "suspended", "pending": "pending"}

func (c *checker) apps() error {
	rows, err := c.query(`SELECT c.id, c.service_id, c.application_id, COALESCE(c.user_key, ''), c.state, c.plan_id, p.name, s.backend_version,
  COALESCE((SELECT GROUP_CONCAT(value ORDER BY value SEPARATOR ' ') FROM application_keys k WHERE k.application_id = c.id), ''),
  COALESCE((SELECT GROUP_CONCAT(value ORDER BY value SEPARATOR ' ') FROM referrer_filters f WHERE f.application_id = c.id), '')
 FROM cinstances c JOIN plans p ON p.id = c.plan_id JOIN services s ON s.id = c.service_id WHERE c.type = 'Cinstance' ORDER BY c.id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	type appRow struct {
		id, sid, plan          int64
		aid, uk, state, pn, bv string
		keys, refs             string
		st, pid, pname, uid    *redis.StringCmd
		keySet, refSet         *redis.StringSliceCmd
	}
	var batch []*appRow
	flush := func() error {
		p := c.r.Pipeline()
		for _, a := range batch {
			pre := fmt.Sprintf("application/service_id:%d/id:%s/", a.sid, a.aid)
			a.st, a.pid, a.pname = p.Get(c.ctx, pre+"state"), p.Get(c.ctx, pre+"plan_id"), p.Get(c.ctx, pre+"plan_name")
			a.keySet, a.refSet = p.SMembers(c.ctx, pre+"keys"), p.SMembers(c.ctx, pre+"referrer_filters")
			if a.bv == "1" && a.uk != "" {
				a.uid = p.Get(c.ctx, fmt.Sprintf("application/service_id:%d/key:%s/id", a.sid, backendKey(a.uk)))
			}
		}
		if _, err := p.Exec(c.ctx); err != nil && err != redis.Nil {
			return fmt.Errorf("read backend-redis: %w", err)
		}
		for _, a := range batch {
			obj := fmt.Sprintf("application %s (cinstance %d, service %d)", a.aid, a.id, a.sid)
			if a.st.Val() != stateMap[a.state] {
				c.add("4 application state", obj, "backend-redis %q, MySQL %q", a.st.Val(), a.state)
				continue
			}
			if a.pid.Val() != strconv.FormatInt(a.plan, 10) || a.pname.Val() != a.pn {
				c.add("4 application plan", obj, "backend-redis plan %s %q, MySQL %d %q", a.pid.Val(), a.pname.Val(), a.plan, a.pn)
			}
			if a.uid != nil && a.uid.Val() != a.aid {
				c.add("5 user key", obj, "user_key maps to %q in backend-redis", a.uid.Val())
			}
			if got := sortedJoin(a.keySet.Val()); got != a.keys {
				c.add("6 application keys", obj, "backend-redis has %d keys, MySQL %d", len(a.keySet.Val()), len(strings.Fields(a.keys)))
			}
			if got := sortedJoin(a.refSet.Val()); got != a.refs {
				c.add("6 referrer filters", obj, "backend-redis %q, MySQL %q", got, a.refs)
			}
		}
		batch = batch[:0]
		return nil
	}
	for rows.Next() {
		a := &appRow{}
		if err := rows.Scan(&a.id, &a.sid, &a.aid, &a.uk, &a.state, &a.plan, &a.pn, &a.bv, &a.keys, &a.refs); err != nil {
			return err
		}
		if !c.live[a.sid] {
			continue
		}
		batch = append(batch, a)
		if len(batch) == 500 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return flush()
}

func sortedJoin(v []string) string {
	sort.Strings(v)
	return strings.Join(v, " ")
}

// serviceMetrics returns every metric of a service and of its backend APIs.
const serviceMetrics = `SELECT s.id, m.id, m.system_name, COALESCE(m.parent_id, 0) FROM services s JOIN metrics m ON m.service_id = s.id
 UNION ALL SELECT bc.service_id, m.id, m.system_name, COALESCE(m.parent_id, 0) FROM backend_api_configs bc
 JOIN metrics m ON m.owner_type = 'BackendApi' AND m.owner_id = bc.backend_api_id ORDER BY 1, 2`

func (c *checker) metrics() error {
	rows, err := c.query(serviceMetrics)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var sid, mid, parent int64
		var name string
		if err := rows.Scan(&sid, &mid, &name, &parent); err != nil {
			return err
		}
		if !c.live[sid] {
			continue
		}
		s, m := strconv.FormatInt(sid, 10), strconv.FormatInt(mid, 10)
		p := c.r.Pipeline()
		byName := p.Get(c.ctx, "metric/service_id:"+s+"/name:"+backendKey(name)+"/id")
		byID := p.Get(c.ctx, "metric/service_id:"+s+"/id:"+m+"/name")
		par := p.Get(c.ctx, "metric/service_id:"+s+"/id:"+m+"/parent_id")
		in := p.SIsMember(c.ctx, "metrics/service_id:"+s+"/ids", m)
		if _, err := p.Exec(c.ctx); err != nil && err != redis.Nil {
			return fmt.Errorf("read backend-redis: %w", err)
		}
		obj := fmt.Sprintf("metric %d %q of service %d", mid, name, sid)
		if byName.Val() != m || byID.Val() != name {
			c.add("7 metric", obj, "name/id keys: %q, %q", byName.Val(), byID.Val())
		}
		if (parent == 0 && par.Val() != "") || (parent != 0 && par.Val() != strconv.FormatInt(parent, 10)) {
			c.add("7 metric parent", obj, "backend-redis parent %q, MySQL %d", par.Val(), parent)
		}
		if !in.Val() {
			c.add("7 metric ids", obj, "not in metrics/service_id:%d/ids", sid)
		}
	}
	return rows.Err()
}

func (c *checker) limits() error {
	rows, err := c.query(`SELECT p.issuer_id, l.plan_id, l.metric_id, l.period, l.value FROM usage_limits l JOIN plans p ON p.id = l.plan_id
 WHERE p.type = 'ApplicationPlan' AND p.issuer_type = 'Service' ORDER BY l.id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var sid, pid, mid int64
		var period string
		var v sql.NullString // bigint unsigned: compared as text
		if err := rows.Scan(&sid, &pid, &mid, &period, &v); err != nil {
			return err
		}
		if !c.live[sid] {
			continue
		}
		key := fmt.Sprintf("usage_limit/service_id:%d/plan_id:%d/metric_id:%d/%s", sid, pid, mid, period)
		got, err := c.r.Get(c.ctx, key).Result()
		if err != nil && err != redis.Nil {
			return fmt.Errorf("read backend-redis: %w", err)
		}
		if got != v.String {
			c.add("8 usage limit", key, "backend-redis %q, MySQL %q", got, v.String)
		}
	}
	return rows.Err()
}

// proxyConfigs: each service's latest production configuration must map
// every rule to a metric the backend knows for that service, by name and id.
func (c *checker) proxyConfigs() error {
	rows, err := c.query(`SELECT p.service_id, pc.content FROM proxy_configs pc JOIN proxies p ON p.id = pc.proxy_id
 WHERE pc.environment = 'production' AND pc.version = (SELECT MAX(version) FROM proxy_configs x WHERE x.proxy_id = pc.proxy_id AND x.environment = 'production') ORDER BY p.service_id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var sid int64
		var content string
		if err := rows.Scan(&sid, &content); err != nil {
			return err
		}
		obj := fmt.Sprintf("proxy config of service %d", sid)
		var pc struct {
			ID    int64 `json:"id"`
			Proxy struct {
				Rules []struct {
					MetricID   int64  `json:"metric_id"`
					MetricName string `json:"metric_system_name"`
					Pattern    string `json:"pattern"`
				} `json:"proxy_rules"`
				Hosts []string `json:"hosts"`
			} `json:"proxy"`
		}
		if err := json.Unmarshal([]byte(content), &pc); err != nil {
			c.add("proxy config", obj, "content is not valid JSON: %v", err)
			continue
		}
		if pc.ID != sid || len(pc.Proxy.Hosts) == 0 || len(pc.Proxy.Rules) == 0 {
			c.add("proxy config", obj, "id %d, %d hosts, %d rules", pc.ID, len(pc.Proxy.Hosts), len(pc.Proxy.Rules))
		}
		if !c.live[sid] {
			continue
		}
		for _, r := range pc.Proxy.Rules {
			got, err := c.r.Get(c.ctx, fmt.Sprintf("metric/service_id:%d/name:%s/id", sid, backendKey(r.MetricName))).Result()
			if err != nil && err != redis.Nil {
				return fmt.Errorf("read backend-redis: %w", err)
			}
			if got != strconv.FormatInt(r.MetricID, 10) {
				c.add("proxy config metric", obj, "rule %q reports %q (id %d), backend-redis knows id %q", r.Pattern, r.MetricName, r.MetricID, got)
			}
		}
	}
	return rows.Err()
}

func (c *checker) alerts() error {
	var maxID sql.NullInt64
	if err := c.db.QueryRowContext(c.ctx, "SELECT MAX(alert_id) FROM alerts").Scan(&maxID); err != nil {
		return fmt.Errorf("read system database: %w", err)
	}
	cur, err := c.r.Get(c.ctx, "alerts/current_id").Int64()
	if err != nil && err != redis.Nil {
		return fmt.Errorf("read backend-redis alerts/current_id: %w", err)
	}
	if cur < maxID.Int64 {
		c.add("10 alerts/current_id", "alerts/current_id", "%d < MAX(alerts.alert_id) %d: new alerts would collide; SET alerts/current_id %d", cur, maxID.Int64, maxID.Int64)
	}
	return nil
}

func (c *checker) zync(url string) error {
	conn, err := pgx.Connect(c.ctx, url)
	if err != nil {
		return fmt.Errorf("connect to zync database: %w", err)
	}
	defer conn.Close(context.Background())
	tenants := map[int64]string{}
	rows, err := conn.Query(c.ctx, "SELECT id, endpoint FROM tenants")
	if err != nil {
		return fmt.Errorf("read zync tenants: %w", err)
	}
	for rows.Next() {
		var id int64
		var ep string
		if err := rows.Scan(&id, &ep); err != nil {
			rows.Close()
			return err
		}
		tenants[id] = ep
	}
	rows.Close()
	prow, err := c.query("SELECT id, self_domain FROM accounts WHERE provider = 1 AND state NOT IN ('suspended', 'scheduled_for_deletion') ORDER BY id")
	if err != nil {
		return err
	}
	defer prow.Close()
	for prow.Next() {
		var id int64
		var dom string
		if err := prow.Scan(&id, &dom); err != nil {
			return err
		}
		if ep, ok := tenants[id]; !ok {
			c.add("13 zync tenant", fmt.Sprintf("provider %d", id), "missing from zync tenants")
		} else if ep != "https://"+dom+"/" {
			c.add("13 zync tenant", fmt.Sprintf("provider %d", id), "endpoint %q, admin domain %q", ep, dom)
		}
	}
	return prow.Err()
}
