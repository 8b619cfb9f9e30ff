package config

import (
	"context"
	"maps"
	"testing"
)

// The keys a restore into servers given by flags sets: the URL as given,
// the credentials it carries in the keys kept beside it, an emptied
// Sentinel list, the message bus URL of the same server, and only the TLS
// pieces a flag gave.
func TestTargetKeys(t *testing.T) {
	ov := Overrides{SystemDB: "mysql2://admin:newpw@newdb:3307/porta", ZyncDB: "postgresql://zync:zpw@newpg/zync_production",
		BackendRedis: "redis://newredis:6380/4", BackendRedisQueues: "redis://newredis:6380/5", SystemRedis: "redis://u:spw@newsys:6379/1"}
	c, err := Resolve(context.Background(), nil, "", ov)
	if err != nil {
		t.Fatal(err)
	}
	secret := func(kv map[string]string) Lookup {
		return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
	}
	cases := []struct {
		comp string
		cur  map[string]string
		want map[string]string
	}{
		{SystemDB, map[string]string{"URL": "mysql2://root:old@system-mysql/system", "DB_USER": "root", "DB_PASSWORD": "old"},
			map[string]string{"URL": ov.SystemDB, "DB_USER": "admin", "DB_PASSWORD": "newpw"}},
		{SystemDB, map[string]string{"URL": "mysql2://root:old@system-mysql/system", "DB_NAME": "system", "DB_SSL_CA": "PEM"},
			map[string]string{"URL": ov.SystemDB, "DB_NAME": "porta"}},
		{ZyncDB, map[string]string{"DATABASE_URL": "postgresql://zync:old@zync-database/zync_production", "ZYNC_DATABASE_PASSWORD": "old", "SECRET_KEY_BASE": "k"},
			map[string]string{"DATABASE_URL": ov.ZyncDB, "ZYNC_DATABASE_PASSWORD": "zpw"}},
		{BackendRedis, map[string]string{"REDIS_STORAGE_URL": "redis://backend-master/0", "REDIS_STORAGE_SENTINEL_HOSTS": "redis://s1:26379", "REDIS_STORAGE_PASSWORD": "old"},
			map[string]string{"REDIS_STORAGE_URL": ov.BackendRedis, "REDIS_STORAGE_SENTINEL_HOSTS": "", "REDIS_STORAGE_PASSWORD": ""}},
		{BackendRedisQueues, map[string]string{"REDIS_QUEUES_URL": "redis://backend-redis:6379/1", "REDIS_QUEUES_SENTINEL_HOSTS": ""},
			map[string]string{"REDIS_QUEUES_URL": ov.BackendRedisQueues}},
		{SystemRedis, map[string]string{"URL": "redis://system-redis:6379/1", "MESSAGE_BUS_URL": "redis://system-redis:6379/8", "REDIS_PASSWORD": ""},
			map[string]string{"URL": ov.SystemRedis, "MESSAGE_BUS_URL": "redis://u:spw@newsys:6379/8", "REDIS_PASSWORD": "spw"}},
		{SystemRedis, map[string]string{"URL": "redis://system-redis:6379/1", "MESSAGE_BUS_URL": "redis://elsewhere:6379/8"},
			map[string]string{"URL": ov.SystemRedis}},
	}
	for _, tc := range cases {
		if got := c.TargetKeys(tc.comp, ov, secret(tc.cur)); !maps.Equal(got, tc.want) {
			t.Errorf("%s with %v:\n got %v\nwant %v", tc.comp, tc.cur, got, tc.want)
		}
		if o := c.Origin(tc.comp); o != OriginFlag {
			t.Errorf("%s: origin %q", tc.comp, o)
		}
	}
	for _, comp := range []string{SystemDB, ZyncDB, BackendRedis, BackendRedisQueues, SystemRedis} {
		keys := ConnectionKeys(comp)
		if ConnectionSecret(comp) == "" || len(keys) < 4 {
			t.Errorf("%s: secret %q keys %v", comp, ConnectionSecret(comp), keys)
		}
	}
}
