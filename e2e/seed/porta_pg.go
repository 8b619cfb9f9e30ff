package seed

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// capLimits lowers limits above max (Porta-on-PostgreSQL stores
// usage_limits.value as a signed bigint).
func (m *model) capLimits(max uint64) {
	for _, pl := range m.plans() {
		for i := range pl.Limits {
			if pl.Limits[i].Value > max {
				pl.Limits[i].Value = max
			}
		}
	}
}

// loadPortaPostgres creates Porta's PostgreSQL schema in the (empty)
// database and loads the same rows loadMySQL would, with parallel COPY
// streams; indexes, the tenant_id triggers and the procedure come after
// the data (rows carry tenant_id, as with MySQL's @disable_triggers), and
// each id sequence is set past the largest id.
func loadPortaPostgres(ctx context.Context, url string, m *model, budget int64, opts Options, rep *Report) (Timing, error) {
	start := time.Now()
	ddl, err := portaPGTables()
	if err != nil {
		return Timing{}, err
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return Timing{}, fmt.Errorf("connect to the PostgreSQL system database: %w (check --system-postgres-url and that the server runs)", err)
	}
	defer conn.Close(context.Background())
	if err := requireEmptyPG(ctx, conn); err != nil {
		return Timing{}, err
	}
	for _, t := range ddl {
		if _, err := conn.Exec(ctx, t.create); err != nil {
			return Timing{}, fmt.Errorf("create table %s: %w", t.name, err)
		}
	}
	tables := append(m.growingTables(budget), m.modelTables()...)
	var (
		mu          sync.Mutex
		bytes, rows int64
	)
	err = fanOut(ctx, opts.Parallel, tables, func() (func(mysqlTable) error, func(), error) {
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			return nil, nil, err
		}
		_, _ = c.Exec(ctx, "SET synchronous_commit = off")
		return func(t mysqlTable) error {
			cols := make([]string, len(t.cols))
			for i, col := range t.cols {
				cols[i] = pgIdent(col)
			}
			cnt, err := copyTable(ctx, c, pgTable{name: t.name, cols: joinComma(cols), gen: t.gen})
			mu.Lock()
			rep.MySQL[t.name] = cnt
			bytes += cnt.Bytes
			rows += cnt.Rows
			mu.Unlock()
			return err
		}, func() { c.Close(context.Background()) }, nil
	})
	if err != nil {
		return Timing{}, err
	}
	var post []string
	for _, t := range ddl {
		post = append(post, t.indexes...)
		post = append(post, fmt.Sprintf("SELECT setval(pg_get_serial_sequence('%[1]s', 'id'), COALESCE((SELECT max(id) FROM %[1]s), 0) + 1, false)", t.name))
	}
	post = append(post, pgTriggerDDL(m.master.ID)...)
	post = append(post, pgProcedureDDL, "ANALYZE")
	for _, q := range post {
		if _, err := conn.Exec(ctx, q); err != nil {
			return Timing{}, fmt.Errorf("porta schema on PostgreSQL: %w (statement: %.80s)", err, q)
		}
	}
	return timing(start, bytes, rows), nil
}

func joinComma(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ", "
		}
		out += v
	}
	return out
}

// maxPGLimit is the largest usage limit Porta-on-PostgreSQL can hold.
const maxPGLimit = math.MaxInt64
