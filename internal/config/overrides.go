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
}
