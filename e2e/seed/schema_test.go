package seed

import "testing"

func TestSplitSecondaryKeys(t *testing.T) {
	ddl := "CREATE TABLE cinstances (\n  id bigint NOT NULL AUTO_INCREMENT, user_key varchar(256) DEFAULT NULL, price decimal(20,2) DEFAULT 0.00,\n" +
		"  PRIMARY KEY (id), KEY index_cinstances_on_user_key (user_key(255)),\n  UNIQUE KEY u (price, id))"
	create, alter := splitSecondaryKeys(ddl)
	if want := "CREATE TABLE cinstances (id bigint NOT NULL AUTO_INCREMENT, user_key varchar(256) DEFAULT NULL, price decimal(20,2) DEFAULT 0.00, PRIMARY KEY (id))"; create != want {
		t.Errorf("create:\n%s\nwant\n%s", create, want)
	}
	if want := "ALTER TABLE cinstances ADD KEY index_cinstances_on_user_key (user_key(255)), ADD UNIQUE KEY u (price, id)"; alter != want {
		t.Errorf("alter:\n%s\nwant\n%s", alter, want)
	}
	if _, alter := splitSecondaryKeys("CREATE TABLE t (id int NOT NULL, PRIMARY KEY (id))"); alter != "" {
		t.Errorf("a table without secondary keys: %q", alter)
	}
	for _, ddl := range portaTables {
		if create, _ := splitSecondaryKeys(ddl); create == ddl || len(create) == 0 {
			t.Errorf("%s: nothing split", tableName(ddl))
		}
	}
}
