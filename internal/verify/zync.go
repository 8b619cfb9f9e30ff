package verify

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/3scale-ops/3scale-ops/internal/progress"
)

// zyncKind is one kind of object System holds and zync mirrors: the System
// rows (every row zync may legitimately hold, and whether zync must hold
// it), zync's rows for it, and the command that brings zync back in line.
type zyncKind struct {
	name   string // "providers", "services", …
	noun   string // "provider", "service", …
	plural string
	system string // SELECT id, name, expected ORDER BY id
	zync   string // SELECT record id, has an entry ORDER BY record id
	fix    string
}

const resyncDomains = "3scale-ops zync resync"

// resyncFull is what resyncs applications: `zync resync` runs
// zync:resync:domains (providers and proxies) only.
const resyncFull = "bundle exec rake zync:resync:full in a system-sidekiq pod"

func zyncModels(recordType string) string {
	return `SELECT m.record_id, EXISTS (SELECT 1 FROM entries e WHERE e.model_id = m.id) FROM models m
		WHERE m.record_type = '` + recordType + `' ORDER BY m.record_id`
}

var zyncKinds = []zyncKind{
	{name: "tenants", noun: "provider", plural: "providers",
		system: `SELECT id, org_name, TRUE FROM accounts WHERE provider = TRUE OR master = TRUE ORDER BY id`,
		zync:   `SELECT id, true FROM tenants ORDER BY id`, fix: resyncDomains},
	{name: "provider models", noun: "provider", plural: "providers",
		system: `SELECT id, org_name, TRUE FROM accounts WHERE provider = TRUE OR master = TRUE ORDER BY id`,
		zync:   zyncModels("Provider"), fix: resyncDomains},
	{name: "service models", noun: "service", plural: "services",
		system: `SELECT id, system_name, (state IS NULL OR state <> 'deleted') FROM services ORDER BY id`,
		zync:   zyncModels("Service"), fix: resyncDomains},
	{name: "proxy models", noun: "proxy", plural: "proxies",
		system: `SELECT p.id, COALESCE(s.system_name, ''), (s.id IS NOT NULL AND (s.state IS NULL OR s.state <> 'deleted'))
			FROM proxies p LEFT JOIN services s ON s.id = p.service_id ORDER BY p.id`,
		zync: zyncModels("Proxy"), fix: resyncDomains},
	// Applications of master's service are provider contracts: zync may
	// hold them, it need not.
	{name: "application models", noun: "application", plural: "applications",
		system: `SELECT c.id, COALESCE(c.name, ''), (s.id IS NOT NULL AND (s.state IS NULL OR s.state <> 'deleted') AND COALESCE(a.master, FALSE) = FALSE)
			FROM cinstances c LEFT JOIN services s ON s.id = c.service_id LEFT JOIN accounts a ON a.id = s.account_id
			WHERE c.type = 'Cinstance' ORDER BY c.id`,
		zync: zyncModels("Application"), fix: resyncFull},
}

// ZyncConsistency compares System (db) with zync's database (zdb): every
// provider, service, proxy and application System holds must have its
// zync tenant or model, with at least one fetched entry, and zync must
// hold nothing System does not. Each kind is one streaming merge of two
// id-ordered queries, so memory stays bounded whatever the data size.
func ZyncConsistency(ctx context.Context, db, zdb *sql.DB, task *progress.Task) ([]Check, error) {
	var out []Check
	for _, k := range zyncKinds {
		c, err := k.check(ctx, db, zdb)
		if err != nil {
			return out, err
		}
		c.Passed = c.Failed == 0
		task.AddItems(c.Checked)
		out = append(out, c)
	}
	return out, nil
}

func (k zyncKind) check(ctx context.Context, db, zdb *sql.DB) (Check, error) {
	c := Check{Name: "zync " + k.name + " ↔ System " + k.plural}
	srows, err := db.QueryContext(ctx, k.system)
	if err != nil {
		return c, fmt.Errorf("read System %s: %w", k.plural, err)
	}
	defer srows.Close()
	zrows, err := zdb.QueryContext(ctx, k.zync)
	if err != nil {
		return c, fmt.Errorf("read zync %s: %w", k.name, err)
	}
	defer zrows.Close()

	type sysRow struct {
		id       int64
		name     string
		expected bool
	}
	type zRow struct {
		id    int64
		entry bool
	}
	var s sysRow
	var z zRow
	sOK, zOK := true, true
	nextS := func() error {
		if sOK = srows.Next(); sOK {
			return srows.Scan(&s.id, &s.name, &s.expected)
		}
		return srows.Err()
	}
	nextZ := func() error {
		var prev = z.id
		for {
			if zOK = zrows.Next(); !zOK {
				return zrows.Err()
			}
			if err := zrows.Scan(&z.id, &z.entry); err != nil {
				return err
			}
			if z.id != prev {
				return nil
			}
		}
	}
	var inSystem, inZync int64
	if err := nextS(); err != nil {
		return c, err
	}
	z.id = -1
	if err := nextZ(); err != nil {
		return c, err
	}
	for sOK || zOK {
		switch {
		case sOK && (!zOK || s.id < z.id):
			if s.expected {
				inSystem++
				c.Checked++
				c.fail("%s %d %q: missing in zync — fix: %s", k.noun, s.id, s.name, k.fix)
			}
			if err := nextS(); err != nil {
				return c, err
			}
		case zOK && (!sOK || z.id < s.id):
			inZync++
			c.Checked++
			c.fail("zync holds %s %d, which System does not (a stale copy: zync drops it once it processes the deletion; check zync-que)", k.noun, z.id)
			if err := nextZ(); err != nil {
				return c, err
			}
		default: // same id
			inZync++
			if s.expected {
				inSystem++
			}
			c.Checked++
			if !z.entry {
				c.fail("%s %d %q: zync never fetched it (no entries row) — fix: %s", k.noun, s.id, s.name, k.fix)
			}
			if err := nextS(); err != nil {
				return c, err
			}
			if err := nextZ(); err != nil {
				return c, err
			}
		}
	}
	c.Detail = fmt.Sprintf("System %d, zync %d", inSystem, inZync)
	return c, nil
}
