package seed

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// zync's schema (db/structure.sql): tables with primary keys first; the
// indexes, foreign keys and triggers are added after the bulk load, as
// pg_restore does, which is both faster and what a restored database
// looks like. It carries the facts of Que's objects a restore must keep:
// a CHECK of que_jobs calling que_validate_tags, que_determine_job_state
// taking que_jobs' row type (so it exists only after the table),
// fillfactor 90 on que_jobs and que_values, the schema version Que reads
// from que_jobs' comment, and the UNLOGGED que_lockers.
var zyncTables = []string{
	`CREATE TYPE integration_state AS ENUM ('active', 'disabled')`,
	`CREATE FUNCTION que_validate_tags(tags_array jsonb) RETURNS boolean LANGUAGE sql AS $f$
  SELECT bool_and(jsonb_typeof(t) = 'string' AND char_length(t::text) <= 100) FROM jsonb_array_elements(tags_array) AS t
$f$`,
	`CREATE TABLE tenants (id bigserial PRIMARY KEY, endpoint character varying NOT NULL, access_token character varying NOT NULL, created_at timestamp without time zone NOT NULL, updated_at timestamp without time zone NOT NULL)`,
	`CREATE TABLE models (id bigserial PRIMARY KEY, tenant_id bigint NOT NULL, record_type character varying NOT NULL, record_id bigint NOT NULL, created_at timestamp without time zone NOT NULL, updated_at timestamp without time zone NOT NULL)`,
	`CREATE TABLE providers (id bigserial PRIMARY KEY, tenant_id bigint NOT NULL, created_at timestamp without time zone NOT NULL, updated_at timestamp without time zone NOT NULL)`,
	`CREATE TABLE services (id bigserial PRIMARY KEY, tenant_id bigint NOT NULL, created_at timestamp without time zone NOT NULL, updated_at timestamp without time zone NOT NULL)`,
	`CREATE TABLE proxies (id bigserial PRIMARY KEY, tenant_id bigint NOT NULL, service_id bigint NOT NULL, created_at timestamp without time zone NOT NULL, updated_at timestamp without time zone NOT NULL)`,
	`CREATE TABLE applications (id bigserial PRIMARY KEY, tenant_id bigint NOT NULL, service_id bigint, created_at timestamp without time zone NOT NULL, updated_at timestamp without time zone NOT NULL)`,
	`CREATE TABLE entries (id bigserial PRIMARY KEY, data jsonb, tenant_id bigint NOT NULL, model_id bigint NOT NULL, created_at timestamp without time zone NOT NULL, updated_at timestamp without time zone NOT NULL)`,
	`CREATE TABLE notifications (id bigserial PRIMARY KEY, model_id bigint NOT NULL, data jsonb NOT NULL, tenant_id bigint NOT NULL, created_at timestamp without time zone NOT NULL, updated_at timestamp without time zone NOT NULL)`,
	`CREATE TABLE integrations (id bigserial PRIMARY KEY, configuration jsonb, type character varying NOT NULL, tenant_id bigint, model_id bigint, state integration_state DEFAULT 'active'::integration_state NOT NULL, created_at timestamp without time zone NOT NULL, updated_at timestamp without time zone NOT NULL)`,
	`CREATE TABLE integration_states (id bigserial PRIMARY KEY, started_at timestamp without time zone, finished_at timestamp without time zone, success boolean, model_id bigint NOT NULL, integration_id bigint NOT NULL, entry_id bigint, created_at timestamp without time zone NOT NULL, updated_at timestamp without time zone NOT NULL)`,
	`CREATE TABLE update_states (id bigserial PRIMARY KEY, started_at timestamp without time zone, finished_at timestamp without time zone, success boolean DEFAULT false NOT NULL, model_id bigint NOT NULL, created_at timestamp without time zone NOT NULL, updated_at timestamp without time zone NOT NULL)`,
	`CREATE TABLE que_jobs (priority smallint DEFAULT 100 NOT NULL, run_at timestamp with time zone DEFAULT now() NOT NULL, id bigserial PRIMARY KEY, job_class text NOT NULL, error_count integer DEFAULT 0 NOT NULL, last_error_message text, queue text DEFAULT 'default'::text NOT NULL, last_error_backtrace text, finished_at timestamp with time zone, expired_at timestamp with time zone, args jsonb DEFAULT '[]'::jsonb NOT NULL, data jsonb DEFAULT '{}'::jsonb NOT NULL, job_schema_version integer DEFAULT 1,
  CONSTRAINT queue_length CHECK (char_length(queue) <= 100), CONSTRAINT valid_args CHECK (jsonb_typeof(args) = 'array'),
  CONSTRAINT valid_data CHECK (jsonb_typeof(data) = 'object' AND (NOT data ? 'tags' OR (jsonb_typeof(data -> 'tags') = 'array' AND jsonb_array_length(data -> 'tags') <= 5 AND que_validate_tags(data -> 'tags'))))) WITH (fillfactor = 90)`,
	`COMMENT ON TABLE que_jobs IS '7'`,
	`CREATE FUNCTION que_determine_job_state(job que_jobs) RETURNS text LANGUAGE sql AS $f$
  SELECT CASE WHEN job.expired_at IS NOT NULL THEN 'expired' WHEN job.finished_at IS NOT NULL THEN 'finished'
              WHEN job.error_count > 0 THEN 'errored' WHEN job.run_at > now() THEN 'scheduled' ELSE 'ready' END
$f$`,
	`CREATE FUNCTION que_state_notify() RETURNS trigger LANGUAGE plpgsql AS $f$
DECLARE
  before_state text := 'nonexistent';
  after_state text := 'nonexistent';
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN before_state := que_determine_job_state(OLD); END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN after_state := que_determine_job_state(NEW); END IF;
  IF before_state IS DISTINCT FROM after_state THEN
    PERFORM pg_notify('que_state', json_build_object('id', coalesce(NEW.id, OLD.id), 'from', before_state, 'to', after_state)::text);
  END IF;
  RETURN NULL;
END
$f$`,
	`CREATE UNLOGGED TABLE que_lockers (pid integer NOT NULL PRIMARY KEY, worker_count integer NOT NULL, worker_priorities integer[] NOT NULL, ruby_pid integer NOT NULL, ruby_hostname text NOT NULL, queues text[] NOT NULL, listening boolean NOT NULL)`,
	`CREATE TABLE que_values (key text PRIMARY KEY, value jsonb DEFAULT '{}'::jsonb NOT NULL, CONSTRAINT valid_value CHECK (jsonb_typeof(value) = 'object')) WITH (fillfactor = 90)`,
	`CREATE TABLE message_bus (id bigserial PRIMARY KEY, channel text NOT NULL, value text NOT NULL, added_at timestamp without time zone DEFAULT now() NOT NULL)`,
	`CREATE TABLE ar_internal_metadata (key character varying PRIMARY KEY, value character varying, created_at timestamp(6) without time zone NOT NULL, updated_at timestamp(6) without time zone NOT NULL)`,
	`CREATE TABLE schema_migrations (version character varying PRIMARY KEY)`,
}

var zyncConstraints = []string{
	`CREATE UNIQUE INDEX index_models_on_record ON models USING btree (record_type, record_id)`,
	`CREATE INDEX index_models_on_tenant_id ON models USING btree (tenant_id)`,
	`CREATE INDEX index_entries_on_model_id ON entries USING btree (model_id)`,
	`CREATE INDEX index_entries_on_tenant_id ON entries USING btree (tenant_id)`,
	`CREATE INDEX index_notifications_on_model_id ON notifications USING btree (model_id)`,
	`CREATE INDEX index_notifications_on_tenant_id ON notifications USING btree (tenant_id)`,
	`CREATE UNIQUE INDEX index_integrations_on_tenant_id_and_type ON integrations USING btree (tenant_id, type) WHERE (model_id IS NULL)`,
	`CREATE UNIQUE INDEX index_integrations_on_tenant_id_and_type_and_model_id ON integrations USING btree (tenant_id, type, model_id) WHERE (model_id IS NOT NULL)`,
	`CREATE INDEX index_integrations_on_model_id ON integrations USING btree (model_id)`,
	`CREATE INDEX que_jobs_args_gin_idx ON que_jobs USING gin (args jsonb_path_ops)`,
	`CREATE INDEX que_jobs_data_gin_idx ON que_jobs USING gin (data jsonb_path_ops)`,
	`CREATE TRIGGER que_state_notify AFTER INSERT OR DELETE OR UPDATE ON que_jobs FOR EACH ROW EXECUTE FUNCTION que_state_notify()`,
	`CREATE UNIQUE INDEX index_integration_states_on_model_id_and_integration_id ON integration_states USING btree (model_id, integration_id)`,
	`CREATE INDEX index_integration_states_on_entry_id ON integration_states USING btree (entry_id)`,
	`CREATE UNIQUE INDEX index_update_states_on_model_id ON update_states USING btree (model_id)`,
	`CREATE INDEX index_proxies_on_service_id ON proxies USING btree (service_id)`,
	`CREATE INDEX index_applications_on_service_id ON applications USING btree (service_id)`,
	`CREATE INDEX que_poll_idx ON que_jobs USING btree (queue, priority, run_at, id) WHERE ((finished_at IS NULL) AND (expired_at IS NULL))`,
	`CREATE INDEX index_message_bus_on_channel_and_id ON message_bus USING btree (channel, id)`,
	`ALTER TABLE models ADD CONSTRAINT fk_models_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE`,
	`ALTER TABLE providers ADD CONSTRAINT fk_providers_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE`,
	`ALTER TABLE services ADD CONSTRAINT fk_services_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE`,
	`ALTER TABLE proxies ADD CONSTRAINT fk_proxies_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE`,
	`ALTER TABLE proxies ADD CONSTRAINT fk_proxies_service FOREIGN KEY (service_id) REFERENCES services(id) ON DELETE CASCADE`,
	`ALTER TABLE applications ADD CONSTRAINT fk_applications_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE`,
	`ALTER TABLE applications ADD CONSTRAINT fk_applications_service FOREIGN KEY (service_id) REFERENCES services(id) ON DELETE CASCADE`,
	`ALTER TABLE entries ADD CONSTRAINT fk_entries_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE`,
	`ALTER TABLE entries ADD CONSTRAINT fk_entries_model FOREIGN KEY (model_id) REFERENCES models(id) ON DELETE CASCADE`,
	`ALTER TABLE notifications ADD CONSTRAINT fk_notifications_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE`,
	`ALTER TABLE notifications ADD CONSTRAINT fk_notifications_model FOREIGN KEY (model_id) REFERENCES models(id) ON DELETE CASCADE`,
	`ALTER TABLE integrations ADD CONSTRAINT fk_integrations_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE`,
	`ALTER TABLE integrations ADD CONSTRAINT fk_integrations_model FOREIGN KEY (model_id) REFERENCES models(id) ON DELETE CASCADE`,
	`ALTER TABLE integration_states ADD CONSTRAINT fk_integration_states_model FOREIGN KEY (model_id) REFERENCES models(id) ON DELETE CASCADE`,
	`ALTER TABLE integration_states ADD CONSTRAINT fk_integration_states_integration FOREIGN KEY (integration_id) REFERENCES integrations(id) ON DELETE CASCADE`,
	`ALTER TABLE integration_states ADD CONSTRAINT fk_integration_states_entry FOREIGN KEY (entry_id) REFERENCES entries(id) ON DELETE SET NULL`,
	`ALTER TABLE update_states ADD CONSTRAINT fk_update_states_model FOREIGN KEY (model_id) REFERENCES models(id) ON DELETE CASCADE`,
}

// zyncSequenceGap is how far each id sequence is advanced past the
// largest id, as in a database where rows were deleted.
const zyncSequenceGap = 100

// loadPostgres creates zync's schema in the (empty) database and loads it
// with parallel COPY streams.
func loadPostgres(ctx context.Context, url string, m *model, budget int64, opts Options, rep *Report) (Timing, error) {
	start := time.Now()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return Timing{}, fmt.Errorf("connect to PostgreSQL: %w (check --postgres-url and that the server runs)", err)
	}
	defer conn.Close(context.Background())
	if err := requireEmptyPG(ctx, conn); err != nil {
		return Timing{}, err
	}
	for _, ddl := range zyncTables {
		if _, err := conn.Exec(ctx, ddl); err != nil {
			return Timing{}, fmt.Errorf("create zync schema: %w", err)
		}
	}
	tables := m.zyncTables(budget)
	var (
		mu          sync.Mutex
		bytes, rows int64
	)
	err = fanOut(ctx, opts.Parallel, tables, func() (func(pgTable) error, func(), error) {
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			return nil, nil, err
		}
		_, _ = c.Exec(ctx, "SET synchronous_commit = off")
		return func(t pgTable) error {
			cnt, err := copyTable(ctx, c, t)
			mu.Lock()
			rep.Postgres[t.name] = cnt
			bytes += cnt.Bytes
			rows += cnt.Rows
			mu.Unlock()
			return err
		}, func() { c.Close(context.Background()) }, nil
	})
	if err != nil {
		return Timing{}, err
	}
	for _, ddl := range zyncConstraints {
		if _, err := conn.Exec(ctx, ddl); err != nil {
			return Timing{}, fmt.Errorf("zync index/constraint: %w", err)
		}
	}
	for _, t := range tables {
		if !t.serial {
			continue
		}
		q := fmt.Sprintf("SELECT setval(pg_get_serial_sequence('%[1]s', 'id'), COALESCE((SELECT max(id) FROM %[1]s), 0) + %d)", t.name, zyncSequenceGap)
		if _, err := conn.Exec(ctx, q); err != nil {
			return Timing{}, fmt.Errorf("advance sequence of %s: %w", t.name, err)
		}
	}
	if _, err := conn.Exec(ctx, "ANALYZE"); err != nil {
		return Timing{}, err
	}
	return timing(start, bytes, rows), nil
}

type pgTable struct {
	name   string
	cols   string
	serial bool // has a bigserial id
	gen    func(*tsv) error
}

func copyTable(ctx context.Context, c *pgx.Conn, t pgTable) (Count, error) {
	pr, w, done := produceTSV(t.gen)
	tag, err := c.PgConn().CopyFrom(ctx, pr, fmt.Sprintf("COPY %s (%s) FROM STDIN", t.name, t.cols))
	pr.CloseWithError(fmt.Errorf("copy of %s ended", t.name))
	genErr := <-done
	if err != nil {
		return Count{}, fmt.Errorf("copy table %s: %w", t.name, err)
	}
	if genErr != nil {
		return Count{}, fmt.Errorf("generate table %s: %w", t.name, genErr)
	}
	if tag.RowsAffected() != w.rows {
		return Count{}, fmt.Errorf("copy table %s: server stored %d of %d rows", t.name, tag.RowsAffected(), w.rows)
	}
	return Count{Rows: w.rows, Bytes: w.bytes}, nil
}

// requireEmptyPG refuses a database whose public schema already has tables:
// the generator only fills empty databases.
func requireEmptyPG(ctx context.Context, conn *pgx.Conn) error {
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("database %q already has %d tables: the generator needs an empty database", conn.Config().Database, n)
	}
	return nil
}
