package seed

import (
	"fmt"
	"strings"
)

// porta DDL: the subset of Porta's db/schema.rb (MySQL) that 3scale-ops
// touches, with Porta's column names, types and index names.
var portaTables = []string{
	`CREATE TABLE accounts (
  id bigint NOT NULL AUTO_INCREMENT, org_name varchar(255) NOT NULL DEFAULT '', org_legaladdress varchar(255) DEFAULT '',
  domain varchar(255) DEFAULT NULL, self_domain varchar(255) DEFAULT NULL, provider tinyint(1) DEFAULT 0, buyer tinyint(1) DEFAULT 0,
  master tinyint(1) DEFAULT NULL, provider_account_id bigint DEFAULT NULL, default_service_id bigint DEFAULT NULL, state varchar(255) DEFAULT NULL,
  s3_prefix varchar(255) DEFAULT NULL, extra_fields text, created_at datetime DEFAULT NULL, updated_at datetime DEFAULT NULL,
  state_changed_at datetime DEFAULT NULL, tenant_id bigint DEFAULT NULL, PRIMARY KEY (id),
  UNIQUE KEY index_accounts_on_master (master), UNIQUE KEY index_accounts_on_domain (domain), UNIQUE KEY index_accounts_on_self_domain (self_domain),
  KEY index_accounts_on_provider_account_id (provider_account_id), KEY index_accounts_on_state (state))`,
	`CREATE TABLE users (
  id bigint NOT NULL AUTO_INCREMENT, account_id bigint DEFAULT NULL, username varchar(40) DEFAULT NULL, email varchar(255) DEFAULT NULL,
  first_name varchar(255) DEFAULT NULL, last_name varchar(255) DEFAULT NULL, role varchar(255) DEFAULT '', state varchar(255) NOT NULL,
  password_digest varchar(255) DEFAULT NULL, created_at datetime DEFAULT NULL, updated_at datetime DEFAULT NULL, tenant_id bigint DEFAULT NULL,
  PRIMARY KEY (id), KEY index_users_on_account_id (account_id), UNIQUE KEY index_users_on_account_id_and_username (account_id, username))`,
	`CREATE TABLE access_tokens (
  id bigint NOT NULL AUTO_INCREMENT, owner_id bigint NOT NULL, scopes text, value varchar(255) NOT NULL, name varchar(255) NOT NULL,
  permission varchar(255) NOT NULL, created_at datetime DEFAULT NULL, updated_at datetime DEFAULT NULL, expires_at datetime DEFAULT NULL, tenant_id bigint DEFAULT NULL,
  PRIMARY KEY (id), KEY index_access_tokens_on_owner_id (owner_id), UNIQUE KEY index_access_tokens_on_value_and_owner_id (value, owner_id))`,
	`CREATE TABLE services (
  id bigint NOT NULL AUTO_INCREMENT, account_id bigint DEFAULT NULL, name varchar(255) DEFAULT '', description text, created_at datetime DEFAULT NULL,
  updated_at datetime DEFAULT NULL, state varchar(255) NOT NULL, system_name varchar(255) NOT NULL, backend_version varchar(255) NOT NULL DEFAULT '1',
  mandatory_app_key tinyint(1) DEFAULT 1, referrer_filters_required tinyint(1) DEFAULT 0, deployment_option varchar(255) DEFAULT 'hosted',
  default_application_plan_id bigint DEFAULT NULL, default_service_plan_id bigint DEFAULT NULL, notification_settings text, tenant_id bigint DEFAULT NULL,
  PRIMARY KEY (id), KEY index_services_on_account_id_and_state (account_id, state), UNIQUE KEY index_services_on_system_name_and_account_id_and_deleted_at (system_name, account_id))`,
	`CREATE TABLE proxies (
  id bigint NOT NULL AUTO_INCREMENT, service_id bigint DEFAULT NULL, endpoint varchar(255) DEFAULT NULL, sandbox_endpoint varchar(255) DEFAULT NULL,
  auth_app_key varchar(255) DEFAULT 'app_key', auth_app_id varchar(255) DEFAULT 'app_id', auth_user_key varchar(255) DEFAULT 'user_key',
  credentials_location varchar(255) NOT NULL DEFAULT 'query',
  error_auth_failed varchar(255) DEFAULT 'Authentication failed', error_auth_missing varchar(255) DEFAULT 'Authentication parameters missing',
  error_status_auth_failed int NOT NULL DEFAULT 403, error_headers_auth_failed varchar(255) NOT NULL DEFAULT 'text/plain; charset=us-ascii',
  error_status_auth_missing int NOT NULL DEFAULT 403, error_headers_auth_missing varchar(255) NOT NULL DEFAULT 'text/plain; charset=us-ascii',
  error_no_match varchar(255) NOT NULL DEFAULT 'No Mapping Rule matched', error_status_no_match int NOT NULL DEFAULT 404,
  error_headers_no_match varchar(255) NOT NULL DEFAULT 'text/plain; charset=us-ascii', error_limits_exceeded varchar(255) NOT NULL DEFAULT 'Usage limit exceeded',
  error_status_limits_exceeded int NOT NULL DEFAULT 429, error_headers_limits_exceeded varchar(255) NOT NULL DEFAULT 'text/plain; charset=us-ascii',
  secret_token varchar(255) NOT NULL, hostname_rewrite varchar(255) DEFAULT NULL, oidc_issuer_endpoint varchar(255) DEFAULT NULL,
  oidc_issuer_type varchar(255) DEFAULT 'keycloak', authentication_method varchar(255) DEFAULT NULL, policies_config mediumtext,
  apicast_configuration_driven tinyint(1) NOT NULL DEFAULT 1, lock_version bigint NOT NULL DEFAULT 0, api_test_path varchar(8192) DEFAULT '/',
  staging_domain varchar(255) DEFAULT NULL, production_domain varchar(255) DEFAULT NULL, created_at datetime DEFAULT NULL, updated_at datetime DEFAULT NULL,
  tenant_id bigint DEFAULT NULL, PRIMARY KEY (id), KEY index_proxies_on_service_id (service_id),
  KEY index_proxies_on_staging_domain_and_production_domain (staging_domain, production_domain))`,
	`CREATE TABLE backend_apis (
  id bigint NOT NULL AUTO_INCREMENT, name varchar(511) DEFAULT NULL, system_name varchar(255) NOT NULL, description mediumtext,
  private_endpoint varchar(255) DEFAULT NULL, account_id bigint DEFAULT NULL, created_at datetime DEFAULT NULL, updated_at datetime DEFAULT NULL,
  tenant_id bigint DEFAULT NULL, state varchar(255) NOT NULL DEFAULT 'published', PRIMARY KEY (id),
  UNIQUE KEY index_backend_apis_on_account_id_and_system_name (account_id, system_name), KEY index_backend_apis_on_state (state))`,
	`CREATE TABLE backend_api_configs (
  id bigint NOT NULL AUTO_INCREMENT, path varchar(255) DEFAULT '', service_id bigint DEFAULT NULL, backend_api_id bigint DEFAULT NULL,
  tenant_id bigint DEFAULT NULL, created_at datetime DEFAULT NULL, updated_at datetime DEFAULT NULL, PRIMARY KEY (id),
  UNIQUE KEY index_backend_api_configs_on_backend_api_id_and_service_id (backend_api_id, service_id),
  UNIQUE KEY index_backend_api_configs_on_path_and_service_id (path, service_id))`,
	`CREATE TABLE plans (
  id bigint NOT NULL AUTO_INCREMENT, issuer_id bigint NOT NULL, name varchar(255) DEFAULT NULL, rights text, full_legal text, cost_per_month decimal(20,4) NOT NULL DEFAULT 0.0000,
  trial_period_days int DEFAULT NULL, created_at datetime DEFAULT NULL, updated_at datetime DEFAULT NULL, position int DEFAULT 0, state varchar(255) NOT NULL,
  cancellation_period int NOT NULL DEFAULT 0, cost_per_month_setup_fee decimal(20,4) DEFAULT 0.0000, master tinyint(1) DEFAULT 0,
  original_id bigint NOT NULL DEFAULT 0, type varchar(255) NOT NULL, issuer_type varchar(255) NOT NULL, description text, approval_required tinyint(1) NOT NULL DEFAULT 0,
  setup_fee decimal(20,4) NOT NULL DEFAULT 0.0000, system_name varchar(255) NOT NULL, partner_id bigint DEFAULT NULL, tenant_id bigint DEFAULT NULL,
  PRIMARY KEY (id), KEY idx_plans_issuer_type_original (issuer_id, issuer_type, type, original_id))`,
	`CREATE TABLE metrics (
  id bigint NOT NULL AUTO_INCREMENT, system_name varchar(255) DEFAULT NULL, description text, unit varchar(255) DEFAULT NULL,
  created_at datetime DEFAULT NULL, updated_at datetime DEFAULT NULL, service_id bigint DEFAULT NULL, friendly_name varchar(255) DEFAULT NULL,
  parent_id bigint DEFAULT NULL, tenant_id bigint DEFAULT NULL, owner_id bigint DEFAULT NULL, owner_type varchar(255) DEFAULT NULL, PRIMARY KEY (id),
  UNIQUE KEY index_metrics_on_owner_type_and_owner_id_and_system_name (owner_type, owner_id, system_name), KEY index_metrics_on_parent_id (parent_id),
  UNIQUE KEY index_metrics_on_service_id_and_system_name (service_id, system_name), KEY index_metrics_on_owner_type_and_owner_id (owner_type, owner_id))`,
	`CREATE TABLE usage_limits (
  id bigint NOT NULL AUTO_INCREMENT, metric_id bigint DEFAULT NULL, period varchar(255) DEFAULT NULL, value bigint unsigned DEFAULT '0',
  created_at datetime DEFAULT NULL, updated_at datetime DEFAULT NULL, plan_id bigint DEFAULT NULL, plan_type varchar(255) NOT NULL, tenant_id bigint DEFAULT NULL,
  PRIMARY KEY (id), UNIQUE KEY index_usage_limits_on_metric_id_and_plan_id_and_period (metric_id, plan_id, period), KEY index_usage_limits_on_plan_id (plan_id))`,
	`CREATE TABLE cinstances (
  id bigint NOT NULL AUTO_INCREMENT, plan_id bigint NOT NULL, user_account_id bigint DEFAULT NULL, user_key varchar(256) DEFAULT NULL,
  provider_public_key varchar(255) DEFAULT NULL, created_at datetime DEFAULT NULL, updated_at datetime DEFAULT NULL, state varchar(255) NOT NULL,
  description text, paid_until datetime DEFAULT NULL, application_id varchar(255) DEFAULT NULL, name varchar(255) DEFAULT NULL,
  trial_period_expires_at datetime DEFAULT NULL, setup_fee decimal(20,2) DEFAULT 0.00, type varchar(255) NOT NULL DEFAULT 'Cinstance',
  redirect_url text, variable_cost_paid_until datetime DEFAULT NULL, extra_fields text, tenant_id bigint DEFAULT NULL,
  create_origin varchar(255) DEFAULT NULL, first_traffic_at datetime DEFAULT NULL, first_daily_traffic_at datetime DEFAULT NULL,
  service_id bigint DEFAULT NULL, accepted_at datetime DEFAULT NULL, PRIMARY KEY (id),
  KEY index_cinstances_on_application_id (application_id), KEY index_cinstances_on_plan_id (plan_id),
  KEY index_cinstances_on_type_and_service_id_and_plan_id (type, service_id, plan_id), KEY index_cinstances_on_user_account_id (user_account_id),
  KEY index_cinstances_on_user_key (user_key(255)))`,
	`CREATE TABLE application_keys (
  id bigint NOT NULL AUTO_INCREMENT, application_id bigint NOT NULL, value varchar(255) NOT NULL, created_at datetime DEFAULT NULL,
  updated_at datetime DEFAULT NULL, tenant_id bigint DEFAULT NULL, PRIMARY KEY (id),
  UNIQUE KEY index_application_keys_on_application_id_and_value (application_id, value))`,
	`CREATE TABLE referrer_filters (
  id bigint NOT NULL AUTO_INCREMENT, application_id bigint NOT NULL, value varchar(255) NOT NULL, created_at datetime DEFAULT NULL,
  updated_at datetime DEFAULT NULL, tenant_id bigint DEFAULT NULL, PRIMARY KEY (id), KEY index_referrer_filters_on_application_id (application_id))`,
	`CREATE TABLE proxy_rules (
  id bigint NOT NULL AUTO_INCREMENT, proxy_id bigint DEFAULT NULL, http_method varchar(255) DEFAULT NULL, pattern varchar(255) DEFAULT NULL,
  metric_id bigint DEFAULT NULL, metric_system_name varchar(255) DEFAULT NULL, delta int DEFAULT NULL, tenant_id bigint DEFAULT NULL,
  created_at datetime DEFAULT NULL, updated_at datetime DEFAULT NULL, redirect_url varchar(10000) DEFAULT NULL, position int DEFAULT NULL,
  last tinyint(1) DEFAULT 0, owner_id bigint DEFAULT NULL, owner_type varchar(255) DEFAULT NULL, PRIMARY KEY (id),
  KEY index_proxy_rules_on_owner_type_and_owner_id (owner_type, owner_id))`,
	`CREATE TABLE proxy_configs (
  id bigint NOT NULL AUTO_INCREMENT, proxy_id bigint NOT NULL, user_id bigint DEFAULT NULL, version int NOT NULL DEFAULT 0,
  tenant_id bigint DEFAULT NULL, environment varchar(255) NOT NULL, content mediumtext NOT NULL, created_at datetime NOT NULL,
  updated_at datetime NOT NULL, hosts varchar(8192) DEFAULT NULL, PRIMARY KEY (id),
  KEY index_proxy_configs_on_proxy_id_and_environment_and_version (proxy_id, environment, version), KEY index_proxy_configs_on_user_id (user_id))`,
	`CREATE TABLE service_tokens (
  id bigint NOT NULL AUTO_INCREMENT, service_id bigint DEFAULT NULL, value varchar(255) DEFAULT NULL, created_at datetime DEFAULT NULL,
  updated_at datetime DEFAULT NULL, tenant_id bigint DEFAULT NULL, PRIMARY KEY (id), KEY index_service_tokens_on_service_id (service_id))`,
	`CREATE TABLE alerts (
  id bigint NOT NULL AUTO_INCREMENT, account_id bigint NOT NULL, timestamp datetime NOT NULL, state varchar(255) NOT NULL,
  cinstance_id bigint NOT NULL, utilization decimal(6,2) NOT NULL, level int NOT NULL, alert_id bigint NOT NULL, message text,
  tenant_id bigint DEFAULT NULL, service_id bigint DEFAULT NULL, PRIMARY KEY (id),
  KEY index_alerts_with_service_id (account_id, service_id, state, cinstance_id), UNIQUE KEY index_alerts_on_alert_id_and_account_id (alert_id, account_id),
  KEY index_alerts_on_cinstance_id (cinstance_id), KEY index_alerts_on_timestamp (timestamp))`,
	`CREATE TABLE audits (
  id bigint NOT NULL AUTO_INCREMENT, auditable_id bigint DEFAULT NULL, auditable_type varchar(255) DEFAULT NULL, user_id bigint DEFAULT NULL,
  user_type varchar(255) DEFAULT NULL, username varchar(255) DEFAULT NULL, action varchar(255) DEFAULT NULL, version int DEFAULT 0,
  created_at datetime DEFAULT NULL, tenant_id bigint DEFAULT NULL, provider_id bigint DEFAULT NULL, kind varchar(255) DEFAULT NULL,
  audited_changes mediumtext, comment varchar(255) DEFAULT NULL, associated_id bigint DEFAULT NULL, associated_type varchar(255) DEFAULT NULL,
  remote_address varchar(255) DEFAULT NULL, request_uuid varchar(255) DEFAULT NULL, PRIMARY KEY (id),
  KEY auditable_index (auditable_id, auditable_type, version), KEY index_audits_on_created_at (created_at), KEY index_audits_on_provider_id (provider_id))`,
	`CREATE TABLE log_entries (
  id bigint NOT NULL AUTO_INCREMENT, tenant_id bigint DEFAULT NULL, provider_id bigint DEFAULT NULL, buyer_id bigint DEFAULT NULL,
  level int DEFAULT 10, description text, created_at datetime DEFAULT NULL, updated_at datetime DEFAULT NULL, PRIMARY KEY (id),
  KEY index_log_entries_on_provider_id (provider_id), KEY index_log_entries_on_created_at (created_at))`,
	`CREATE TABLE user_sessions (
  id bigint NOT NULL AUTO_INCREMENT, user_id bigint DEFAULT NULL, ` + "`key`" + ` varchar(255) DEFAULT NULL, accessed_at datetime DEFAULT NULL,
  revoked_at datetime DEFAULT NULL, ip varchar(255) DEFAULT NULL, user_agent varchar(255) DEFAULT NULL, sso_authorization_id bigint DEFAULT NULL,
  secured_until datetime DEFAULT NULL, PRIMARY KEY (id), UNIQUE KEY idx_key (` + "`key`" + `), KEY idx_user_id (user_id),
  KEY index_user_sessions_on_accessed_at (accessed_at))`,
	`CREATE TABLE event_store_events (
  id bigint NOT NULL AUTO_INCREMENT, event_type varchar(255) NOT NULL, event_id varchar(255) NOT NULL, stream varchar(255) NOT NULL,
  data mediumtext NOT NULL, metadata mediumtext, provider_id bigint DEFAULT NULL, tenant_id bigint DEFAULT NULL, created_at datetime NOT NULL,
  PRIMARY KEY (id), UNIQUE KEY index_event_store_events_on_event_id (event_id), KEY index_event_store_events_on_stream (stream),
  KEY index_event_store_events_on_created_at (created_at), KEY index_event_store_events_on_provider_id (provider_id))`,
	`CREATE TABLE invoices (
  id bigint NOT NULL AUTO_INCREMENT, provider_account_id bigint DEFAULT NULL, buyer_account_id bigint DEFAULT NULL,
  paid_at datetime DEFAULT NULL, created_at datetime DEFAULT NULL, updated_at datetime DEFAULT NULL, due_on date DEFAULT NULL,
  period date DEFAULT NULL, issued_on date DEFAULT NULL, state varchar(255) NOT NULL DEFAULT 'open', friendly_id varchar(255) NOT NULL DEFAULT 'fix',
  tenant_id bigint DEFAULT NULL, currency varchar(4) DEFAULT NULL, PRIMARY KEY (id),
  KEY index_invoices_on_buyer_account_id (buyer_account_id), KEY index_invoices_on_provider_account_id (provider_account_id),
  UNIQUE KEY index_invoices_on_provider_account_id_and_friendly_id (provider_account_id, friendly_id))`,
	`CREATE TABLE invoice_counters (
  id bigint NOT NULL AUTO_INCREMENT, provider_account_id bigint NOT NULL, invoice_prefix varchar(255) NOT NULL,
  invoice_count int DEFAULT 0, created_at datetime NOT NULL, updated_at datetime NOT NULL, PRIMARY KEY (id),
  UNIQUE KEY index_invoice_counters_provider_prefix (provider_account_id, invoice_prefix))`,
}

// tenantParent says how each table's tenant_id trigger finds the tenant
// when a row arrives without one: the SELECT that returns it from NEW.
var tenantParent = map[string]string{
	"accounts":            "SELECT tenant_id FROM accounts WHERE id = NEW.provider_account_id AND tenant_id <> %[1]d",
	"users":               "SELECT tenant_id FROM accounts WHERE id = NEW.account_id AND tenant_id <> %[1]d",
	"access_tokens":       "SELECT tenant_id FROM users WHERE id = NEW.owner_id AND tenant_id <> %[1]d",
	"services":            "SELECT tenant_id FROM accounts WHERE id = NEW.account_id AND tenant_id <> %[1]d",
	"proxies":             "SELECT tenant_id FROM services WHERE id = NEW.service_id AND tenant_id <> %[1]d",
	"backend_apis":        "SELECT tenant_id FROM accounts WHERE id = NEW.account_id AND tenant_id <> %[1]d",
	"backend_api_configs": "SELECT tenant_id FROM services WHERE id = NEW.service_id AND tenant_id <> %[1]d",
	"plans":               "SELECT tenant_id FROM services WHERE id = NEW.issuer_id AND NEW.issuer_type = 'Service' AND tenant_id <> %[1]d UNION SELECT tenant_id FROM accounts WHERE id = NEW.issuer_id AND NEW.issuer_type = 'Account' AND tenant_id <> %[1]d LIMIT 1",
	"metrics":             "SELECT tenant_id FROM services WHERE id = NEW.service_id AND tenant_id <> %[1]d UNION SELECT tenant_id FROM backend_apis WHERE id = NEW.owner_id AND NEW.owner_type = 'BackendApi' AND tenant_id <> %[1]d LIMIT 1",
	"usage_limits":        "SELECT tenant_id FROM metrics WHERE id = NEW.metric_id AND tenant_id <> %[1]d",
	"cinstances":          "SELECT tenant_id FROM plans WHERE id = NEW.plan_id AND tenant_id <> %[1]d",
	"application_keys":    "SELECT tenant_id FROM cinstances WHERE id = NEW.application_id AND tenant_id <> %[1]d",
	"referrer_filters":    "SELECT tenant_id FROM cinstances WHERE id = NEW.application_id AND tenant_id <> %[1]d",
	"proxy_rules":         "SELECT tenant_id FROM proxies WHERE id = NEW.proxy_id AND tenant_id <> %[1]d",
	"proxy_configs":       "SELECT tenant_id FROM proxies WHERE id = NEW.proxy_id AND tenant_id <> %[1]d",
	"service_tokens":      "SELECT tenant_id FROM services WHERE id = NEW.service_id AND tenant_id <> %[1]d",
	"alerts":              "SELECT tenant_id FROM accounts WHERE id = NEW.account_id AND tenant_id <> %[1]d",
	"audits":              "SELECT NEW.provider_id FROM DUAL WHERE NEW.provider_id <> %[1]d",
	"log_entries":         "SELECT NEW.provider_id FROM DUAL WHERE NEW.provider_id <> %[1]d",
	"event_store_events":  "SELECT NEW.provider_id FROM DUAL WHERE NEW.provider_id <> %[1]d",
	"invoices":            "SELECT tenant_id FROM accounts WHERE id = NEW.provider_account_id AND tenant_id <> %[1]d",
}

// triggerDDL returns the {table}_tenant_id BEFORE INSERT triggers, with the
// master id baked in as Porta does.
func triggerDDL(masterID int64) []string {
	var out []string
	for _, t := range sortedKeys(tenantParent) {
		q := fmt.Sprintf(tenantParent[t], masterID)
		out = append(out, fmt.Sprintf("CREATE TRIGGER %[1]s_tenant_id BEFORE INSERT ON %[1]s FOR EACH ROW\nBEGIN\n"+
			"  IF @disable_triggers IS NULL THEN\n    IF NEW.tenant_id IS NULL THEN\n      SET NEW.tenant_id = (%[2]s);\n    END IF;\n  END IF;\nEND", t, q))
	}
	return out
}

// procedureDDL is sp_invoices_friendly_id: it numbers an invoice within
// its provider and billing period (prefix YYYY-MM) through invoice_counters.
const procedureDDL = `CREATE PROCEDURE sp_invoices_friendly_id(IN invoice_id bigint)
BEGIN
  DECLARE v_provider bigint;
  DECLARE v_prefix varchar(255);
  DECLARE v_count int;
  SELECT provider_account_id, DATE_FORMAT(COALESCE(period, created_at), '%Y-%m') INTO v_provider, v_prefix FROM invoices WHERE id = invoice_id;
  INSERT INTO invoice_counters (provider_account_id, invoice_prefix, invoice_count, created_at, updated_at)
    VALUES (v_provider, v_prefix, 1, UTC_TIMESTAMP(), UTC_TIMESTAMP())
    ON DUPLICATE KEY UPDATE invoice_count = invoice_count + 1, updated_at = UTC_TIMESTAMP();
  SELECT invoice_count INTO v_count FROM invoice_counters WHERE provider_account_id = v_provider AND invoice_prefix = v_prefix;
  UPDATE invoices SET friendly_id = CONCAT(v_prefix, '-', LPAD(v_count, 8, '0')) WHERE id = invoice_id;
END`

// tableName returns the name in a CREATE TABLE statement.
func tableName(ddl string) string {
	f := strings.Fields(ddl)
	return f[2]
}

// splitSecondaryKeys returns ddl without its secondary keys (KEY and
// UNIQUE KEY items; the primary key stays) and the ALTER TABLE that adds
// them back, in their order, or "" when there are none. Loading into a
// table with only its primary key and then building each secondary index
// from sorted rows costs the server far less than inserting every row
// into every index, and leaves the same table (SHOW CREATE TABLE lists
// the keys in the same order).
func splitSecondaryKeys(ddl string) (create, alter string) {
	open := strings.IndexByte(ddl, '(')
	closing := strings.LastIndexByte(ddl, ')')
	var keep, keys []string
	depth, start := 0, open+1
	for i := open + 1; i <= closing; i++ {
		switch c := ddl[i]; {
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case (c == ',' && depth == 0) || i == closing:
			item := strings.TrimSpace(ddl[start:i])
			if strings.HasPrefix(item, "KEY ") || strings.HasPrefix(item, "UNIQUE KEY ") {
				keys = append(keys, "ADD "+item)
			} else {
				keep = append(keep, item)
			}
			start = i + 1
		}
	}
	create = ddl[:open+1] + strings.Join(keep, ", ") + ddl[closing:]
	if len(keys) > 0 {
		alter = "ALTER TABLE " + tableName(ddl) + " " + strings.Join(keys, ", ")
	}
	return create, alter
}
