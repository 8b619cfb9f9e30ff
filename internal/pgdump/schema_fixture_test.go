package pgdump

// queSchema carries the facts of zync's real schema that a rebuilt schema
// loses: a CHECK of que_jobs calling a SQL function, a function whose
// parameter is que_jobs' row type (so it must come after the table),
// fillfactor on que_jobs and que_values, the schema version Que reads
// from the table comment, the UNLOGGED que_lockers, trigger functions
// calling the row-type function, and the partial unique indexes of
// integrations.
const queSchema = `
CREATE FUNCTION public.que_validate_tags(tags_array jsonb) RETURNS boolean LANGUAGE sql AS $f$
  SELECT bool_and(jsonb_typeof(t) = 'string' AND char_length(t::text) <= 100) FROM jsonb_array_elements(tags_array) AS t
$f$;
CREATE TABLE public.que_jobs (
  priority smallint NOT NULL DEFAULT 100,
  run_at timestamptz NOT NULL DEFAULT now(),
  id bigserial PRIMARY KEY,
  job_class text NOT NULL,
  error_count integer NOT NULL DEFAULT 0,
  last_error_message text,
  queue text NOT NULL DEFAULT 'default',
  last_error_backtrace text,
  finished_at timestamptz,
  expired_at timestamptz,
  args jsonb NOT NULL DEFAULT '[]',
  data jsonb NOT NULL DEFAULT '{}',
  job_schema_version integer NOT NULL DEFAULT 2,
  CONSTRAINT queue_length CHECK (char_length(queue) <= 100),
  CONSTRAINT valid_args CHECK (jsonb_typeof(args) = 'array'),
  CONSTRAINT valid_data CHECK (jsonb_typeof(data) = 'object' AND (NOT data ? 'tags' OR
    (jsonb_typeof(data -> 'tags') = 'array' AND jsonb_array_length(data -> 'tags') <= 5 AND public.que_validate_tags(data -> 'tags'))))
) WITH (fillfactor = 90);
COMMENT ON TABLE public.que_jobs IS '7';
CREATE FUNCTION public.que_determine_job_state(job public.que_jobs) RETURNS text LANGUAGE sql AS $f$
  SELECT CASE WHEN job.expired_at IS NOT NULL THEN 'expired'
              WHEN job.finished_at IS NOT NULL THEN 'finished'
              WHEN job.error_count > 0 THEN 'errored'
              WHEN job.run_at > now() THEN 'scheduled'
              ELSE 'ready' END
$f$;
CREATE UNLOGGED TABLE public.que_lockers (
  pid integer PRIMARY KEY,
  worker_count integer NOT NULL,
  worker_priorities integer[] NOT NULL,
  ruby_pid integer NOT NULL,
  ruby_hostname text NOT NULL,
  queues text[] NOT NULL,
  listening boolean NOT NULL,
  job_schema_version integer DEFAULT 1,
  CONSTRAINT valid_queues CHECK (array_ndims(queues) = 1 AND array_length(queues, 1) IS NOT NULL)
);
CREATE TABLE public.que_values (key text PRIMARY KEY, value jsonb NOT NULL DEFAULT '{}' CONSTRAINT valid_value CHECK (jsonb_typeof(value) = 'object'))
  WITH (fillfactor = 90);
CREATE FUNCTION public.que_state_notify() RETURNS trigger LANGUAGE plpgsql AS $f$
DECLARE
  before_state text := 'nonexistent';
  after_state text := 'nonexistent';
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN before_state := public.que_determine_job_state(OLD); END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN after_state := public.que_determine_job_state(NEW); END IF;
  IF before_state IS DISTINCT FROM after_state THEN
    PERFORM pg_notify('que_state', json_build_object('from', before_state, 'to', after_state)::text);
  END IF;
  RETURN NULL;
END
$f$;
CREATE TRIGGER que_state_notify AFTER INSERT OR DELETE OR UPDATE ON public.que_jobs FOR EACH ROW EXECUTE FUNCTION public.que_state_notify();
CREATE INDEX que_jobs_args_gin_idx ON public.que_jobs USING gin (args jsonb_path_ops);
CREATE INDEX que_jobs_data_gin_idx ON public.que_jobs USING gin (data jsonb_path_ops);
CREATE INDEX que_poll_idx ON public.que_jobs (job_schema_version, queue, priority, run_at, id) WHERE finished_at IS NULL AND expired_at IS NULL;
CREATE TABLE public.tenants (id bigserial PRIMARY KEY, endpoint varchar NOT NULL, access_token varchar NOT NULL);
CREATE TABLE public.models (id bigserial PRIMARY KEY, tenant_id bigint NOT NULL REFERENCES public.tenants (id), record_type varchar, record_id bigint NOT NULL);
CREATE TABLE public.integrations (
  id bigserial PRIMARY KEY, configuration jsonb, type varchar NOT NULL,
  tenant_id bigint REFERENCES public.tenants (id), model_id bigint REFERENCES public.models (id), state varchar NOT NULL DEFAULT 'active');
CREATE UNIQUE INDEX index_integrations_on_tenant_id_and_type ON public.integrations (tenant_id, type) WHERE model_id IS NULL;
CREATE UNIQUE INDEX index_integrations_on_tenant_id_and_type_and_model_id ON public.integrations (tenant_id, type, model_id) WHERE model_id IS NOT NULL;
`

const queData = `
INSERT INTO public.tenants (endpoint, access_token) SELECT 'https://t' || i || '.example.com', 'tok' || i FROM generate_series(1, 4) i;
INSERT INTO public.models (tenant_id, record_type, record_id) SELECT 1 + i % 4, 'Proxy', i FROM generate_series(1, 40) i;
INSERT INTO public.integrations (type, tenant_id, model_id) SELECT 'Integration::Kubernetes', i, NULL FROM generate_series(1, 4) i;
INSERT INTO public.integrations (type, tenant_id, model_id) SELECT 'Integration::Keycloak', 1 + i % 4, i FROM generate_series(1, 20) i;
INSERT INTO public.que_jobs (job_class, args, data, finished_at)
  SELECT 'UpdateJob', jsonb_build_array(i), jsonb_build_object('tags', jsonb_build_array('t' || (i % 3))), CASE WHEN i % 2 = 0 THEN now() END
  FROM generate_series(1, 300) i;
INSERT INTO public.que_lockers VALUES (100, 2, '{10,20}', 7, 'zync-que-1', '{default}', true, 2);
INSERT INTO public.que_values VALUES ('version', '{"v": 7}');
`

// everySchema holds one of every object kind a DBA expects a restore to
// bring back, with a comment on each, and with creation order unlike
// dependency order (a view re-pointed at a table created after it).
const everySchema = `
CREATE EXTENSION IF NOT EXISTS citext;
CREATE SCHEMA app;
COMMENT ON SCHEMA app IS 'application objects';
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
COMMENT ON TYPE app.mood IS 'an enum';
CREATE TYPE app.money_pair AS (amount numeric(12,2), currency char(3));
COMMENT ON TYPE app.money_pair IS 'a composite type';
CREATE TYPE app.floatrange AS RANGE (subtype = float8, subtype_diff = float8mi);
COMMENT ON TYPE app.floatrange IS 'a range type';
CREATE FUNCTION app.is_even(i integer) RETURNS boolean LANGUAGE sql IMMUTABLE AS $f$ SELECT i % 2 = 0 $f$;
COMMENT ON FUNCTION app.is_even(integer) IS 'used by a domain';
CREATE DOMAIN app.even_int AS integer CONSTRAINT even CHECK (app.is_even(VALUE));
COMMENT ON DOMAIN app.even_int IS 'a domain whose CHECK calls a function';
CREATE FUNCTION app.join_step(acc text, v text) RETURNS text LANGUAGE sql IMMUTABLE AS $f$ SELECT CASE WHEN acc IS NULL THEN v ELSE acc || ',' || v END $f$;
CREATE AGGREGATE app.join_all(text) (SFUNC = app.join_step, STYPE = text);
COMMENT ON AGGREGATE app.join_all(text) IS 'a user aggregate';
CREATE OPERATOR app.=~= (LEFTARG = text, RIGHTARG = text, FUNCTION = texticlike);
COMMENT ON OPERATOR app.=~= (text, text) IS 'an operator';

CREATE VIEW app.v_first AS SELECT 1::bigint AS id, 'none'::text AS name;
CREATE VIEW app.v_second AS SELECT id, name FROM app.v_first WHERE id > 0;
COMMENT ON VIEW app.v_second IS 'depends on v_first';

CREATE SEQUENCE app.ticket_seq START 100 INCREMENT 10;
COMMENT ON SEQUENCE app.ticket_seq IS 'owned by tickets.id';
CREATE TABLE app.customers (
  id bigint GENERATED ALWAYS AS IDENTITY (START WITH 7 INCREMENT BY 3) PRIMARY KEY,
  name text NOT NULL,
  email citext UNIQUE,
  mood app.mood DEFAULT 'ok',
  wallet app.money_pair,
  lucky app.even_int,
  span app.floatrange,
  doc jsonb NOT NULL DEFAULT '{}',
  name_upper text GENERATED ALWAYS AS (upper(name)) STORED,
  CONSTRAINT no_overlap EXCLUDE USING gist (span WITH &&)
) WITH (fillfactor = 80, autovacuum_enabled = false);
COMMENT ON TABLE app.customers IS 'identity, generated, composite, domain, range columns';
COMMENT ON COLUMN app.customers.name_upper IS 'generated';
COMMENT ON CONSTRAINT no_overlap ON app.customers IS 'exclusion';
CREATE FUNCTION app.customer_label(c app.customers) RETURNS text LANGUAGE sql STABLE AS $f$ SELECT c.name || ' <' || coalesce(c.email::text, '?') || '>' $f$;
COMMENT ON FUNCTION app.customer_label(app.customers) IS 'takes the row type';
CREATE TABLE app.addresses (street text, city text);
CREATE TABLE app.shipments (id integer PRIMARY KEY, dest app.addresses, label text CONSTRAINT label_even CHECK (label IS NULL OR NOT app.is_even(length(label))));
COMMENT ON TABLE app.shipments IS 'a column of a table row type';
CREATE TABLE app.tickets (
  id integer DEFAULT nextval('app.ticket_seq') PRIMARY KEY,
  customer_id bigint REFERENCES app.customers (id) DEFERRABLE INITIALLY DEFERRED,
  title text,
  owner_name text NOT NULL DEFAULT current_user
);
ALTER SEQUENCE app.ticket_seq OWNED BY app.tickets.id;
ALTER TABLE app.tickets ADD CONSTRAINT title_len CHECK (length(title) < 200) NOT VALID;
COMMENT ON CONSTRAINT title_len ON app.tickets IS 'not valid';
CREATE UNIQUE INDEX tickets_title_partial ON app.tickets (title) WHERE customer_id IS NOT NULL;
COMMENT ON INDEX app.tickets_title_partial IS 'partial';
CREATE INDEX customers_doc_idx ON app.customers USING gin (doc jsonb_path_ops);
CREATE INDEX customers_lower_name ON app.customers (lower(name));
CREATE INDEX customers_name_hash ON app.customers USING hash (name);
CREATE INDEX tickets_id_brin ON app.tickets USING brin (id);
ALTER TABLE app.tickets ENABLE ROW LEVEL SECURITY;
ALTER TABLE app.tickets FORCE ROW LEVEL SECURITY;
CREATE POLICY tickets_titled ON app.tickets USING (title IS NOT NULL) WITH CHECK (length(title) > 0);
COMMENT ON POLICY tickets_titled ON app.tickets IS 'row-level security';
CREATE TABLE app.serials (id serial PRIMARY KEY, note text);
CREATE TABLE app.audit (at timestamptz NOT NULL DEFAULT now(), what text);
CREATE RULE log_serials AS ON INSERT TO app.serials DO ALSO INSERT INTO app.audit (what) VALUES (NEW.note);
COMMENT ON RULE log_serials ON app.serials IS 'a rule';
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN NEW.doc := NEW.doc || '{"touched": true}'; RETURN NEW; END $f$;
CREATE TRIGGER customers_touch BEFORE UPDATE ON app.customers FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION app.touch();
COMMENT ON TRIGGER customers_touch ON app.customers IS 'a trigger';
CREATE FUNCTION app.on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $f$ BEGIN RAISE NOTICE 'ddl %', tg_tag; END $f$;
CREATE EVENT TRIGGER app_ddl ON ddl_command_end WHEN TAG IN ('CREATE TABLE') EXECUTE FUNCTION app.on_ddl();
COMMENT ON EVENT TRIGGER app_ddl IS 'an event trigger';
CREATE PROCEDURE app.rename_all(suffix text) LANGUAGE plpgsql AS $f$ BEGIN UPDATE app.serials SET note = note || suffix; END $f$;
COMMENT ON PROCEDURE app.rename_all(text) IS 'a procedure';

CREATE TABLE app.events (id bigint NOT NULL, at date NOT NULL, kind text NOT NULL, PRIMARY KEY (id, at, kind)) PARTITION BY RANGE (at);
COMMENT ON TABLE app.events IS 'declaratively partitioned';
CREATE TABLE app.events_2024 PARTITION OF app.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE app.events_2025 PARTITION OF app.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01') PARTITION BY LIST (kind);
CREATE TABLE app.events_2025_a PARTITION OF app.events_2025 FOR VALUES IN ('a');
CREATE TABLE app.events_2025_rest PARTITION OF app.events_2025 DEFAULT;
CREATE INDEX events_kind_idx ON app.events (kind);
CREATE TABLE app.base_log (id integer, msg text);
CREATE TABLE app.child_log (extra integer) INHERITS (app.base_log);
COMMENT ON TABLE app.child_log IS 'inheritance';

-- Re-point the early views at a table created after them.
CREATE OR REPLACE VIEW app.v_first AS SELECT c.id, c.name FROM app.customers c;
CREATE VIEW app.v_pleased WITH (security_barrier) AS SELECT id, name, mood FROM app.customers WHERE mood <> 'sad';
CREATE VIEW app.v_happy AS SELECT id, name, mood FROM app.v_pleased WHERE mood = 'happy' WITH CASCADED CHECK OPTION;
COMMENT ON VIEW app.v_happy IS 'cascaded check option';
CREATE VIEW app.v_names AS SELECT app.join_all(name ORDER BY name) AS names FROM app.customers;
CREATE MATERIALIZED VIEW app.mv_moods AS SELECT mood, count(*) AS n FROM app.customers GROUP BY mood WITH NO DATA;
CREATE UNIQUE INDEX mv_moods_mood ON app.mv_moods (mood);
COMMENT ON MATERIALIZED VIEW app.mv_moods IS 'refreshed after data';
CREATE MATERIALIZED VIEW app.mv_never AS SELECT 1 AS x WITH NO DATA;
COMMENT ON MATERIALIZED VIEW app.mv_never IS 'never populated';
`

const everyData = `
INSERT INTO app.customers (name, email, mood, wallet, lucky, span, doc) VALUES
  ('ann', 'Ann@Example.com', 'happy', ROW(12.50, 'EUR'), 2, '[1,2)', '{"a": 1}'),
  ('bob', 'bob@example.com', 'sad', NULL, NULL, '[3,4)', '{}'),
  ('cid', NULL, 'ok', ROW(-1, 'USD'), 8, NULL, '{"tags": ["x"]}');
INSERT INTO app.shipments VALUES (1, ROW('Main St 1', 'Springfield'), 'box'), (2, NULL, NULL);
INSERT INTO app.tickets (customer_id, title) VALUES (7, 'first'), (10, 'second'), (NULL, 'third');
INSERT INTO app.tickets (customer_id, title) VALUES (NULL, NULL);
INSERT INTO app.serials (note) VALUES ('one'), ('two');
INSERT INTO app.events VALUES (1, '2024-03-01', 'a'), (2, '2025-02-01', 'a'), (3, '2025-05-05', 'z');
INSERT INTO app.base_log VALUES (1, 'parent');
INSERT INTO app.child_log VALUES (2, 'child', 9);
REFRESH MATERIALIZED VIEW app.mv_moods;
SELECT lo_from_bytea(424242, convert_to('a large object', 'UTF8'));
SELECT lo_from_bytea(424243, ''::bytea);
COMMENT ON LARGE OBJECT 424242 IS 'a large object';
`
