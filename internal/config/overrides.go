package config

// Overrides are connection settings given on the command line or in the
// environment; they win over the namespace's secrets.
type Overrides struct {
	SystemDB           string
	ZyncDB             string
	BackendRedis       string
	BackendRedisQueues string
	SystemRedis        string
	SystemStorage      string

	// TLS pieces and Sentinel settings, per connection component name
	// (SystemDB, ZyncDB, BackendRedis, BackendRedisQueues, SystemRedis).
	// Each set piece replaces the same piece of the secret.
	TLS      map[string]TLSOverride
	Sentinel map[string]SentinelOverride
}

// TLSOverride replaces pieces of a connection's TLS settings. The files
// are read once, into memory.
type TLSOverride struct {
	Mode     string // the engine's SSL mode spelling
	CAFile   string
	CertFile string
	KeyFile  string
}

// SentinelOverride replaces a Redis connection's Sentinel settings.
type SentinelOverride struct {
	Hosts    string // comma-separated host:port or redis(s):// list
	Username string
	Password string // from the environment only, never a flag
}

// FlagPrefix is the flag stem of a connection component: --PREFIX-tls-ca
// and so on.
func FlagPrefix(component string) string {
	switch component {
	case SystemDB:
		return "system-db"
	case ZyncDB:
		return "zync-db"
	}
	return component
}

// TLSComponents are the connections that can use TLS, in display order.
var TLSComponents = []string{SystemDB, ZyncDB, BackendRedis, BackendRedisQueues, SystemRedis}

// RedisComponents are the Redis connections.
var RedisComponents = []string{BackendRedis, BackendRedisQueues, SystemRedis}
