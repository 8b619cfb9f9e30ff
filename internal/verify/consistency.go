package verify

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/redis/go-redis/v9"
)

// Check is one consistency check's outcome.
type Check struct {
	Name     string   `json:"name"`
	Passed   bool     `json:"passed"`
	Checked  int64    `json:"checked"`
	Failed   int64    `json:"failed"`
	Examples []string `json:"examples,omitempty"` // first few failures (ids only, never keys)
	Detail   string   `json:"detail,omitempty"`   // counts on each side, when the check compares two stores
}

func (c *Check) fail(format string, args ...any) {
	c.Failed++
	if len(c.Examples) < 5 {
		c.Examples = append(c.Examples, fmt.Sprintf(format, args...))
	}
}

// Consistency runs the System DB ↔ backend-redis invariants: every
// application's state, plan and keys; user-key mappings; metrics both
// ways; usage limits; alerts/current_id ≥ max(alerts.alert_id).
func Consistency(ctx context.Context, db *sql.DB, rdb *redis.Client, task *progress.Task) ([]Check, error) {
	var out []Check
	for _, f := range []func(context.Context, *sql.DB, *redis.Client, *progress.Task) (Check, error){
		checkApplications, checkMetrics, checkUsageLimits, checkAlertsID,
	} {
		c, err := f(ctx, db, rdb, task)
		if err != nil {
			return out, err
		}
		c.Passed = c.Failed == 0
		out = append(out, c)
	}
	return out, nil
}

var backendState = map[string]string{"live": "active", "suspended": "suspended", "pending": "pending"}

type appRow struct {
	id                                   int64
	sid, aid, userKey, state, plan, name string
	version                              string
	hasPlan                              bool
}

// checkApplications walks cinstances in batches; each batch is one
// pipelined round trip to Redis.
func checkApplications(ctx context.Context, db *sql.DB, rdb *redis.Client, task *progress.Task) (Check, error) {
	c := Check{Name: "applications (state, plan, keys, user_key) in backend-redis"}
	// LEFT JOIN plans: an application whose plan row is gone is that
	// application's failure, not a silently skipped row.
	rows, err := db.QueryContext(ctx, `SELECT c.id, c.service_id, c.application_id, COALESCE(c.user_key,''), c.state, c.plan_id, COALESCE(p.name,''), s.backend_version, p.id IS NOT NULL
		FROM cinstances c LEFT JOIN plans p ON p.id = c.plan_id JOIN services s ON s.id = c.service_id
		WHERE c.type = 'Cinstance' AND c.application_id IS NOT NULL AND (s.state IS NULL OR s.state <> 'deleted')
		ORDER BY c.id`)
	if err != nil {
		return c, fmt.Errorf("read applications: %w", err)
	}
	defer rows.Close()
	batch := make([]appRow, 0, 500)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		keys, err := appKeys(ctx, db, batch)
		if err != nil {
			return err
		}
		pipe := rdb.Pipeline()
		type res struct {
			state, plan, name, uk *redis.StringCmd
			keys                  *redis.StringSliceCmd
		}
		rs := make([]res, len(batch))
		for i, a := range batch {
			pfx := "application/service_id:" + a.sid + "/id:" + a.aid + "/"
			rs[i] = res{state: pipe.Get(ctx, pfx+"state"), plan: pipe.Get(ctx, pfx+"plan_id"), name: pipe.Get(ctx, pfx+"plan_name"),
				keys: pipe.SMembers(ctx, pfx+"keys")}
			if a.version == "1" && a.userKey != "" {
				rs[i].uk = pipe.Get(ctx, "application/service_id:"+a.sid+"/key:"+a.userKey+"/id")
			}
		}
		if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
			return fmt.Errorf("read backend-redis: %w", err)
		}
		for i, a := range batch {
			c.Checked++
			r := rs[i]
			app := "service " + a.sid + " application " + a.aid
			switch {
			case !a.hasPlan:
				c.fail("%s: plan %s missing in the system database (restore the plans table, or move the application to an existing plan)", app, a.plan)
			case r.state.Val() == "":
				c.fail("%s: missing in backend-redis", app)
				continue
			case r.state.Val() != backendState[a.state]:
				c.fail("%s: state %q, system says %q", app, r.state.Val(), a.state)
			case r.plan.Val() != a.plan:
				c.fail("%s: plan_id %s, system says %s", app, r.plan.Val(), a.plan)
			case r.name.Val() != a.name:
				c.fail("%s: plan_name differs", app)
			case r.uk != nil && r.uk.Val() != a.aid:
				c.fail("%s: user_key does not resolve to it", app)
			default:
				got := r.keys.Val()
				want := keys[a.id]
				sort.Strings(got)
				sort.Strings(want)
				if !slices.Equal(got, want) {
					c.fail("%s: %d application keys in backend-redis, %d in system", app, len(got), len(want))
				}
			}
		}
		task.AddItems(int64(len(batch)))
		batch = batch[:0]
		return nil
	}
	for rows.Next() {
		var a appRow
		if err := rows.Scan(&a.id, &a.sid, &a.aid, &a.userKey, &a.state, &a.plan, &a.name, &a.version, &a.hasPlan); err != nil {
			return c, err
		}
		batch = append(batch, a)
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return c, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return c, err
	}
	return c, flush()
}

func appKeys(ctx context.Context, db *sql.DB, batch []appRow) (map[int64][]string, error) {
	ids := make([]string, len(batch))
	for i, a := range batch {
		ids[i] = strconv.FormatInt(a.id, 10)
	}
	rows, err := db.QueryContext(ctx, "SELECT application_id, value FROM application_keys WHERE application_id IN ("+strings.Join(ids, ",")+")")
	if err != nil {
		return nil, fmt.Errorf("read application_keys: %w", err)
	}
	defer rows.Close()
	out := map[int64][]string{}
	for rows.Next() {
		var id int64
		var v string
		if err := rows.Scan(&id, &v); err != nil {
			return nil, err
		}
		out[id] = append(out[id], v)
	}
	return out, rows.Err()
}

func checkMetrics(ctx context.Context, db *sql.DB, rdb *redis.Client, task *progress.Task) (Check, error) {
	c := Check{Name: "metrics (name ↔ id, parent, ids set) in backend-redis"}
	rows, err := db.QueryContext(ctx, `SELECT m.id, m.service_id, m.system_name, COALESCE(m.parent_id, 0) FROM metrics m
		JOIN services s ON s.id = m.service_id WHERE m.service_id IS NOT NULL AND (s.state IS NULL OR s.state <> 'deleted')`)
	if err != nil {
		return c, fmt.Errorf("read metrics: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, sid, parent int64
		var name string
		if err := rows.Scan(&id, &sid, &name, &parent); err != nil {
			return c, err
		}
		c.Checked++
		s, m := strconv.FormatInt(sid, 10), strconv.FormatInt(id, 10)
		pipe := rdb.Pipeline()
		byName := pipe.Get(ctx, "metric/service_id:"+s+"/name:"+name+"/id")
		byID := pipe.Get(ctx, "metric/service_id:"+s+"/id:"+m+"/name")
		inSet := pipe.SIsMember(ctx, "metrics/service_id:"+s+"/ids", m)
		if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
			return c, fmt.Errorf("read backend-redis: %w", err)
		}
		if byName.Val() != m || byID.Val() != name || !inSet.Val() {
			c.fail("service %s metric %s (%s) not fully in backend-redis", s, m, name)
		}
	}
	task.AddItems(c.Checked)
	return c, rows.Err()
}

func checkUsageLimits(ctx context.Context, db *sql.DB, rdb *redis.Client, task *progress.Task) (Check, error) {
	c := Check{Name: "usage limits of application plans in backend-redis"}
	rows, err := db.QueryContext(ctx, `SELECT p.issuer_id, u.plan_id, u.metric_id, u.period, u.value FROM usage_limits u
		JOIN plans p ON p.id = u.plan_id WHERE p.type = 'ApplicationPlan' AND p.issuer_type = 'Service'`)
	if err != nil {
		return c, fmt.Errorf("read usage_limits: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sid, pid, mid int64
		// value is bigint unsigned in Porta: read it as its decimal text,
		// which is also how backend-redis stores it.
		var period string
		var val sql.NullString
		if err := rows.Scan(&sid, &pid, &mid, &period, &val); err != nil {
			return c, fmt.Errorf("read usage_limits: %w", err)
		}
		c.Checked++
		key := fmt.Sprintf("usage_limit/service_id:%d/plan_id:%d/metric_id:%d/%s", sid, pid, mid, period)
		got, err := rdb.Get(ctx, key).Result()
		if err != nil && err != redis.Nil {
			return c, err
		}
		if got != val.String {
			c.fail("service %d plan %d metric %d %s: limit %q, system says %q", sid, pid, mid, period, got, val.String)
		}
	}
	task.AddItems(c.Checked)
	return c, rows.Err()
}

func checkAlertsID(ctx context.Context, db *sql.DB, rdb *redis.Client, _ *progress.Task) (Check, error) {
	c := Check{Name: "alerts/current_id ≥ max(alerts.alert_id)", Checked: 1}
	var max sql.NullInt64
	if err := db.QueryRowContext(ctx, "SELECT MAX(alert_id) FROM alerts").Scan(&max); err != nil {
		return c, fmt.Errorf("read alerts: %w", err)
	}
	cur, err := rdb.Get(ctx, "alerts/current_id").Int64()
	if err != nil && err != redis.Nil {
		return c, err
	}
	if max.Valid && cur < max.Int64 {
		c.fail("alerts/current_id is %d, below the highest alert_id %d: new alerts will collide (fix: SET alerts/current_id %d)", cur, max.Int64, max.Int64)
	}
	return c, nil
}
