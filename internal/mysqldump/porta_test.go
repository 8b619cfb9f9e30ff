package mysqldump

import (
	"fmt"
	"strings"
)

// portaSchema is a Porta-shaped slice of system-mysql: the tables the
// tool cares about with Porta's indexes, the {table}_tenant_id triggers
// (created with a DEFINER account that does not exist, as after a move
// between servers), sp_invoices_friendly_id, a function and a view.
// master is the master account id baked into the triggers.
func portaSchema(definer string) string {
	tables := `
CREATE TABLE accounts (
  id bigint NOT NULL AUTO_INCREMENT, org_name varchar(255) NOT NULL DEFAULT '', domain varchar(255), self_domain varchar(255),
  provider tinyint(1) DEFAULT 0, buyer tinyint(1) DEFAULT 0, master tinyint(1), provider_account_id bigint,
  tenant_id bigint, state varchar(255), created_at datetime, updated_at datetime,
  PRIMARY KEY (id), UNIQUE KEY index_accounts_on_domain (domain), UNIQUE KEY index_accounts_on_self_domain (self_domain),
  UNIQUE KEY index_accounts_on_master (master), KEY index_accounts_on_provider_account_id (provider_account_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE services (
  id bigint NOT NULL AUTO_INCREMENT, account_id bigint NOT NULL, name varchar(255) DEFAULT '', system_name varchar(255),
  backend_version varchar(255) NOT NULL DEFAULT '1', state varchar(255), deployment_option varchar(255) DEFAULT 'hosted',
  notification_settings text, tenant_id bigint,
  PRIMARY KEY (id), KEY idx_account_id (account_id), UNIQUE KEY index_services_on_system_name_and_account_id (system_name, account_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE plans (
  id bigint NOT NULL AUTO_INCREMENT, issuer_id bigint NOT NULL, issuer_type varchar(255) NOT NULL, type varchar(255) NOT NULL,
  name varchar(255), system_name varchar(255) NOT NULL, tenant_id bigint,
  PRIMARY KEY (id), KEY index_plans_on_issuer_id_and_issuer_type_and_type (issuer_id, issuer_type, type)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE cinstances (
  id bigint NOT NULL AUTO_INCREMENT, plan_id bigint NOT NULL, user_account_id bigint, user_key varchar(256),
  application_id varchar(255), state varchar(255) NOT NULL, service_id bigint, type varchar(255) NOT NULL DEFAULT 'Cinstance',
  name varchar(255), description text, first_traffic_at datetime, created_at datetime, tenant_id bigint,
  PRIMARY KEY (id), KEY index_cinstances_on_application_id (application_id), KEY index_cinstances_on_plan_id (plan_id),
  KEY index_cinstances_on_user_key (user_key(255))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE application_keys (
  id bigint NOT NULL AUTO_INCREMENT, application_id bigint NOT NULL, value varchar(255) NOT NULL, created_at datetime, tenant_id bigint,
  PRIMARY KEY (id), UNIQUE KEY index_application_keys_on_application_id_and_value (application_id, value)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE alerts (
  id bigint NOT NULL AUTO_INCREMENT, account_id bigint NOT NULL, timestamp datetime NOT NULL, state varchar(255) NOT NULL,
  cinstance_id bigint NOT NULL, utilization decimal(6,2) NOT NULL, level int NOT NULL, alert_id bigint NOT NULL,
  message text, tenant_id bigint, service_id bigint,
  PRIMARY KEY (id), KEY index_alerts_with_service_id (account_id, service_id, state, cinstance_id),
  UNIQUE KEY index_alerts_on_alert_id_and_account_id (alert_id, account_id),
  KEY index_alerts_on_cinstance_id (cinstance_id), KEY index_alerts_on_timestamp (timestamp)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE audits (
  id bigint NOT NULL AUTO_INCREMENT, auditable_id bigint, auditable_type varchar(255), action varchar(255),
  audited_changes mediumtext, version int DEFAULT 0, created_at datetime, tenant_id bigint, request_uuid varchar(255),
  metadata json,
  PRIMARY KEY (id), KEY auditable_index (auditable_type, auditable_id, version), KEY index_audits_on_created_at (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE invoices (
  id bigint NOT NULL AUTO_INCREMENT, provider_account_id bigint, buyer_account_id bigint, friendly_id varchar(255) NOT NULL DEFAULT 'fix',
  period date, tenant_id bigint, PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE invoice_counters (
  id bigint NOT NULL AUTO_INCREMENT, provider_account_id bigint NOT NULL, invoice_prefix varchar(255) NOT NULL,
  invoice_count int DEFAULT 0, PRIMARY KEY (id),
  UNIQUE KEY index_invoice_counters_provider_prefix (provider_account_id, invoice_prefix)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE odd_values (
  id int NOT NULL, bin varbinary(64), blob_col longblob, txt mediumtext, zero_dt datetime, zero_d date,
  emoji varchar(100), cjk text, nul_vs_empty varchar(10), bitcol bit(3), dbl double, dec_col decimal(20,6),
  enum_col enum('a','b','c'), ts timestamp NULL DEFAULT NULL, latin varchar(50) CHARACTER SET latin1,
  uns bigint unsigned, tm time, fixed_bin binary(4), yr year, fl float, gen_col int AS (id * 2) VIRTUAL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE schema_migrations (version varchar(255) NOT NULL, UNIQUE KEY unique_schema_migrations (version)) ENGINE=InnoDB;
CREATE TABLE nopk_log (a int, b varchar(20)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE VIEW provider_services AS SELECT s.id AS service_id, s.name AS service_name, a.org_name AS provider FROM services s JOIN accounts a ON a.id = s.account_id;
CREATE VIEW provider_service_count AS SELECT provider, COUNT(*) AS n FROM provider_services GROUP BY provider;
`
	var trig strings.Builder
	trig.WriteString("DELIMITER ;;\n")
	parent := map[string]string{
		"accounts":         "SELECT tenant_id FROM accounts WHERE id = NEW.provider_account_id AND tenant_id <> 1",
		"services":         "SELECT tenant_id FROM accounts WHERE id = NEW.account_id AND tenant_id <> 1",
		"plans":            "SELECT tenant_id FROM services WHERE id = NEW.issuer_id",
		"cinstances":       "SELECT tenant_id FROM plans WHERE id = NEW.plan_id",
		"application_keys": "SELECT tenant_id FROM cinstances WHERE id = NEW.application_id",
		"alerts":           "SELECT tenant_id FROM accounts WHERE id = NEW.account_id AND tenant_id <> 1",
		"audits":           "SELECT NULL",
		"invoices":         "SELECT tenant_id FROM accounts WHERE id = NEW.provider_account_id AND tenant_id <> 1",
	}
	for _, tb := range []string{"accounts", "services", "plans", "cinstances", "application_keys", "alerts", "audits", "invoices"} {
		fmt.Fprintf(&trig, `CREATE DEFINER=%s TRIGGER %s_tenant_id BEFORE INSERT ON %s FOR EACH ROW
BEGIN
  IF @disable_triggers IS NULL THEN
    IF NEW.tenant_id IS NULL THEN
      SET NEW.tenant_id = (%s);
    END IF;
  END IF;
END;;
`, definer, tb, tb, parent[tb])
	}
	fmt.Fprintf(&trig, `CREATE DEFINER=%s PROCEDURE sp_invoices_friendly_id(invoice_id BIGINT)
BEGIN
  DECLARE v_provider_account_id BIGINT;
  DECLARE v_period DATE;
  DECLARE v_numbering_period VARCHAR(255) DEFAULT 'monthly';
  DECLARE v_invoice_prefix_format VARCHAR(255);
  DECLARE v_invoice_prefix VARCHAR(255);
  DECLARE v_invoice_count INT;

  SELECT provider_account_id, period INTO v_provider_account_id, v_period FROM invoices WHERE id = invoice_id;
  IF v_numbering_period = 'monthly' THEN SET v_invoice_prefix_format = '%%Y-%%m'; ELSE SET v_invoice_prefix_format = '%%Y'; END IF;
  SELECT DATE_FORMAT(v_period, v_invoice_prefix_format) INTO v_invoice_prefix;
  INSERT INTO invoice_counters (provider_account_id, invoice_prefix, invoice_count)
    VALUES (v_provider_account_id, v_invoice_prefix, 1)
    ON DUPLICATE KEY UPDATE invoice_count = invoice_count + 1;
  SELECT invoice_count INTO v_invoice_count FROM invoice_counters
    WHERE provider_account_id = v_provider_account_id AND invoice_prefix = v_invoice_prefix;
  UPDATE invoices SET friendly_id = CONCAT(v_invoice_prefix, '-', LPAD(v_invoice_count, 8, '0')) WHERE id = invoice_id;
END;;
CREATE DEFINER=%s FUNCTION tenant_of(acc BIGINT) RETURNS bigint(20) READS SQL DATA
  RETURN (SELECT tenant_id FROM accounts WHERE id = acc);;
DELIMITER ;
`, definer, definer)
	return tables + trig.String()
}

// portaData fills the schema: a master, providers, buyers (tenant_id set
// by the triggers), services, plans, applications, keys, alerts, audits
// with JSON, invoices, and rows with awkward values.
func portaData(scale int) []string {
	n := func(k int) int { return k * scale }
	return []string{
		"SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO'",
		"INSERT INTO accounts (id, org_name, domain, self_domain, provider, buyer, master, tenant_id, state, created_at) VALUES (1, 'Master', 'master.example.com', 'master.example.com', 0, 0, 1, 1, 'approved', '2020-01-01 00:00:00')",
		`INSERT INTO accounts (id, org_name, domain, self_domain, provider, master, provider_account_id, tenant_id, state, created_at)
		 SELECT seq + 1, CONCAT('Provider ', seq), CONCAT('p', seq, '.example.com'), CONCAT('p', seq, '-admin.example.com'), 1, NULL, 1, seq + 1, 'approved', '2021-02-03 04:05:06' FROM seq_1_to_5`,
		fmt.Sprintf(`INSERT INTO accounts (org_name, domain, buyer, provider_account_id, state, created_at)
		 SELECT CONCAT('Buyer ', seq, ' – Ünïcødé 😀 株式会社'), CONCAT('b', seq, '.example.com'), 1, 2 + seq %% 5, IF(seq %% 7 = 0, 'pending', 'approved'), '2022-05-06 07:08:09' + INTERVAL seq MINUTE FROM seq_1_to_%d`, n(200)),
		`INSERT INTO services (account_id, name, system_name, notification_settings)
		 SELECT 2 + seq % 5, CONCAT('API ', seq), CONCAT('api_', seq), '---\nweb_provider: [50, 80, 90, 100]\n' FROM seq_1_to_20`,
		`INSERT INTO plans (issuer_id, issuer_type, type, name, system_name) SELECT s.id, 'Service', 'ApplicationPlan', CONCAT('Plan ', s.id), CONCAT('plan_', s.id) FROM services s`,
		fmt.Sprintf(`INSERT INTO cinstances (plan_id, user_account_id, user_key, application_id, state, service_id, name, description, first_traffic_at, created_at)
		 SELECT 1 + seq %% 20, 7 + seq %% %d, SHA2(CONCAT('key', seq), 256), LEFT(MD5(seq), 8), IF(seq %% 11 = 0, 'suspended', 'live'), 1 + seq %% 20,
		 CONCAT('App ', seq), IF(seq %% 3 = 0, NULL, IF(seq %% 3 = 1, '', CONCAT('line1\nline2\ttab ''quote'' "dq" \\\\ back', CHAR(0), CHAR(26)))),
		 IF(seq %% 4 = 0, NULL, '2023-01-01 00:00:00'), '2023-01-01 00:00:00' FROM seq_1_to_%d`, n(200), n(600)),
		`INSERT INTO application_keys (application_id, value, created_at) SELECT c.id, MD5(CONCAT('k', c.id, k.seq)), '2023-02-02' FROM cinstances c JOIN seq_1_to_2 k`,
		fmt.Sprintf(`INSERT INTO alerts (account_id, timestamp, state, cinstance_id, utilization, level, alert_id, message, service_id)
		 SELECT 7 + seq %% %d, '2024-01-01 00:00:00' + INTERVAL seq MINUTE, 'unread', 1 + seq %% 600, (seq %% 300) / 100, 100, seq, CONCAT('hits per day: ', seq, '/100'), 1 + seq %% 20 FROM seq_1_to_%d`, n(200), n(1500)),
		fmt.Sprintf(`INSERT INTO audits (auditable_id, auditable_type, action, audited_changes, version, created_at, request_uuid, metadata)
		 SELECT seq, 'Cinstance', 'update', CONCAT('---\nstate:\n- pending\n- live\n', REPEAT('x', seq %% 500)), seq %% 5, '2024-03-01 12:00:00',
		 UUID(), JSON_OBJECT('seq', seq, 'emoji', '🚀', 'nested', JSON_ARRAY(1, 2.5, NULL, 'ü')) FROM seq_1_to_%d`, n(800)),
		"INSERT INTO invoices (provider_account_id, buyer_account_id, period) SELECT 2 + seq % 5, 7 + seq, '2024-02-01' FROM seq_1_to_30",
		`INSERT INTO odd_values (id, bin, blob_col, txt, zero_dt, zero_d, emoji, cjk, nul_vs_empty, bitcol, dbl, dec_col, enum_col, ts, latin, uns, tm, fixed_bin, yr, fl) VALUES
		 (0, X'00FF0A0D5C27221A', X'', '', '0000-00-00 00:00:00', '0000-00-00', '😀👍🏽', '日本語テキスト 中文 한국어', '', b'101', 1.0000000000000002, -12345678901234.123456, 'b', '2024-06-30 23:59:59', 'Ça été très bien', 18446744073709551615, '-838:59:59', X'00000000', 2155, 3.14159),
		 (1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
		 (2, '', X'00', 'NULL', '2024-02-29 12:34:56', '1000-01-01', 'a\\b', '\\N', 'NULL', b'000', -0.0, 0, 'a', '1970-01-01 00:00:01', '', 0, '00:00:00', 'ab\0c', 1901, -1.5e-10)`,
		"INSERT INTO odd_values (id, blob_col, txt) VALUES (3, REPEAT(X'DEADBEEF00', 700000), REPEAT('long row ', 300000))",
		"INSERT INTO schema_migrations VALUES ('20200101000000'), ('20240101000000')",
		"INSERT INTO nopk_log VALUES (1, 'a'), (1, 'a'), (NULL, NULL), (2, '')",
		"CALL sp_invoices_friendly_id(1)",
		"CALL sp_invoices_friendly_id(2)",
	}
}
