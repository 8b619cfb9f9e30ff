package config

import (
	"net/url"
	"strings"
)

// Where a resolved connection was found (Connections.Origin).
const (
	OriginFlag      = "flag"      // a --*-url flag or its environment variable
	OriginNamespace = "namespace" // the namespace's own secret (or 3scale's default beside it)
	OriginSnapshot  = "snapshot"  // the snapshot's copy of a secret the namespace lacks
)

// fromSnapshotNote marks a Source read from the snapshot's secrets.
const fromSnapshotNote = " (from the snapshot: missing in the namespace)"

// Origin says where the connection of component (SystemDB, ZyncDB,
// BackendRedis, BackendRedisQueues, SystemRedis) was found; "" when it
// did not resolve.
func (c *Connections) Origin(component string) string {
	if c.Errs[component] != nil {
		return ""
	}
	var src string
	switch component {
	case SystemDB:
		src = c.SystemDB.Source
	case ZyncDB:
		src = c.ZyncDB.Source
	default:
		r := c.redis(component)
		if r == nil {
			return ""
		}
		src = r.Source
	}
	switch {
	case strings.HasPrefix(src, "flag "):
		return OriginFlag
	case strings.HasSuffix(src, fromSnapshotNote):
		return OriginSnapshot
	}
	return OriginNamespace
}

// connLayout is where 3scale reads one connection: its secret and the keys
// that name the server (3scale operator pkg/3scale/amp/component, the
// 2.16 TLS and ACL keys; internals reference §6.1). Empty names: the
// connection has no such key.
type connLayout struct {
	secret, url, user, password, dbName                         string
	sentinelHosts, sentinelRole, sentinelUser, sentinelPassword string
	tlsMode                                                     string
	ca, cert, key                                               []string
	// others are further URL keys that name the same server (older
	// releases' message bus), rewritten host by host.
	others []string
}

var connLayouts = map[string]connLayout{
	SystemDB: {secret: "system-database", url: "URL", user: "DB_USER", password: "DB_PASSWORD", dbName: "DB_NAME",
		tlsMode: dbTLSKeys.mode, ca: dbTLSKeys.ca, cert: dbTLSKeys.cert, key: dbTLSKeys.key},
	ZyncDB: {secret: "zync", url: "DATABASE_URL", password: "ZYNC_DATABASE_PASSWORD",
		tlsMode: dbTLSKeys.mode, ca: dbTLSKeys.ca, cert: dbTLSKeys.cert, key: dbTLSKeys.key},
	BackendRedis: {secret: "backend-redis", url: "REDIS_STORAGE_URL", user: "REDIS_STORAGE_USERNAME", password: "REDIS_STORAGE_PASSWORD",
		sentinelHosts: "REDIS_STORAGE_SENTINEL_HOSTS", sentinelRole: storageKeys.sentinelRole, sentinelUser: storageKeys.sentinelUser, sentinelPassword: storageKeys.sentinelPass,
		ca: storageKeys.ca, cert: storageKeys.cert, key: storageKeys.key},
	BackendRedisQueues: {secret: "backend-redis", url: "REDIS_QUEUES_URL", user: "REDIS_QUEUES_USERNAME", password: "REDIS_QUEUES_PASSWORD",
		sentinelHosts: "REDIS_QUEUES_SENTINEL_HOSTS", sentinelRole: queuesKeys.sentinelRole, sentinelUser: queuesKeys.sentinelUser, sentinelPassword: queuesKeys.sentinelPass,
		ca: queuesKeys.ca, cert: queuesKeys.cert, key: queuesKeys.key},
	SystemRedis: {secret: "system-redis", url: "URL", user: "REDIS_USERNAME", password: "REDIS_PASSWORD",
		sentinelHosts: "SENTINEL_HOSTS", sentinelRole: systemRedisKeys.sentinelRole, sentinelUser: systemRedisKeys.sentinelUser, sentinelPassword: systemRedisKeys.sentinelPass,
		ca: systemRedisKeys.ca, cert: systemRedisKeys.cert, key: systemRedisKeys.key,
		others: []string{"MESSAGE_BUS_URL"}},
}

// ConnectionSecret is the secret 3scale reads the connection of component
// from ("" for none).
func ConnectionSecret(component string) string { return connLayouts[component].secret }

// ConnectionKeys lists every key of ConnectionSecret(component) that names
// the server: URL, credentials, Sentinel settings, TLS material.
func ConnectionKeys(component string) []string {
	l, ok := connLayouts[component]
	if !ok {
		return nil
	}
	var out []string
	for _, k := range []string{l.url, l.user, l.password, l.dbName, l.sentinelHosts, l.sentinelRole, l.sentinelUser, l.sentinelPassword, l.tlsMode} {
		if k != "" {
			out = append(out, k)
		}
	}
	out = append(out, l.ca...)
	out = append(out, l.cert...)
	out = append(out, l.key...)
	out = append(out, l.others...)
	if component == SystemRedis {
		out = append(out, "MESSAGE_BUS_SENTINEL_HOSTS", "MESSAGE_BUS_SENTINEL_ROLE")
	}
	return out
}

// Lookup returns a key of a secret as it is (or will be); ok is false when
// the key is absent.
type Lookup func(key string) (value string, ok bool)

// TargetKeys returns the values the keys of ConnectionSecret(component)
// must hold for 3scale to reach the server c resolved for component, the
// way the restore reached it: the URL as given, the credentials it
// carries in the keys kept beside it, the Sentinel list (emptied for a
// plain server), the database name, and the TLS pieces and mode given by
// flags (other TLS keys are left as they are). Keys the secret does not
// have (cur) are added only for the URL and for what a flag gave.
func (c *Connections) TargetKeys(component string, ov Overrides, cur Lookup) map[string]string {
	l, ok := connLayouts[component]
	if !ok || c.Errs[component] != nil {
		return nil
	}
	out := map[string]string{}
	has := func(k string) bool {
		_, ok := cur(k)
		return k != "" && ok
	}
	setIfHas := func(k, v string) {
		if has(k) {
			out[k] = v
		}
	}
	var rawURL string
	switch component {
	case SystemDB, ZyncDB:
		d := c.SystemDB
		if component == ZyncDB {
			d = c.ZyncDB
		}
		rawURL = d.URL
		setIfHas(l.user, d.User)
		setIfHas(l.password, d.Password)
		setIfHas(l.dbName, d.Database)
	default:
		r := c.redis(component)
		rawURL = r.URL
		setIfHas(l.user, r.Username)
		setIfHas(l.password, r.Password)
		sov := ov.Sentinel[component]
		if len(r.SentinelAddrs) > 0 {
			out[l.sentinelHosts] = sov.Hosts
		} else if v, ok := cur(l.sentinelHosts); ok && strings.TrimSpace(v) != "" {
			out[l.sentinelHosts] = ""
		}
		if sov.Username != "" {
			out[l.sentinelUser] = sov.Username
		}
		if sov.Password != "" {
			out[l.sentinelPassword] = sov.Password
		}
	}
	old, _ := cur(l.url)
	out[l.url] = strings.TrimSpace(rawURL)
	for _, k := range l.others {
		if v, ok := cur(k); ok && strings.TrimSpace(v) != "" {
			if nv, ok := sameServer(v, old, rawURL); ok {
				out[k] = nv
			}
		}
	}
	tov := ov.TLS[component]
	t := c.tlsOf(component)
	for _, p := range []struct {
		file string
		keys []string
		pem  []byte
	}{{tov.CAFile, l.ca, t.CA}, {tov.CertFile, l.cert, t.Cert}, {tov.KeyFile, l.key, t.Key}} {
		if p.file == "" || len(p.keys) == 0 {
			continue
		}
		k := p.keys[0]
		for _, cand := range p.keys {
			if has(cand) {
				k = cand
				break
			}
		}
		out[k] = string(p.pem)
	}
	if tov.Mode != "" && l.tlsMode != "" {
		out[l.tlsMode] = tov.Mode
	}
	return out
}

func (c *Connections) tlsOf(component string) TLS {
	switch component {
	case SystemDB:
		return c.SystemDB.TLS
	case ZyncDB:
		return c.ZyncDB.TLS
	}
	if r := c.redis(component); r != nil {
		return r.TLS
	}
	return TLS{}
}

// sameServer rewrites raw, a URL of the server oldURL names, to the server
// newURL names (scheme, credentials, host and port), keeping its own path
// (a Redis db); ok is false when raw names another server.
func sameServer(raw, oldURL, newURL string) (string, bool) {
	u, err := url.Parse(strings.TrimSpace(raw))
	o, err2 := url.Parse(strings.TrimSpace(oldURL))
	n, err3 := url.Parse(strings.TrimSpace(newURL))
	if err != nil || err2 != nil || err3 != nil || u.Host == "" || !strings.EqualFold(u.Host, o.Host) {
		return "", false
	}
	u.Scheme, u.User, u.Host = n.Scheme, n.User, n.Host
	return u.String(), true
}
