package redact

import "strings"

// publicKeys are Kubernetes secret keys of 3scale whose values are names,
// hosts or switches, not secrets: masking them would mask words like
// "system" or "root" everywhere.
var publicKeys = map[string]bool{
	"DB_USER": true, "MASTER_USER": true, "ADMIN_USER": true, "ADMIN_EMAIL": true, "MASTER_DOMAIN": true,
	"TENANT_NAME": true, "NAMESPACE": true, "MESSAGE_BUS_NAMESPACE": true, "username": true, "address": true,
	"port": true, "domain": true, "authentication": true, "openssl.verify.mode": true, "from_address": true,
	"SERVERS": true, "service_endpoint": true, "route_endpoint": true, "BASE_URL": true, "AWS_BUCKET": true,
	"AWS_REGION": true, "AWS_HOSTNAME": true, "AWS_PROTOCOL": true, "AWS_PATH_STYLE": true, "DATABASE_SSL_MODE": true,
	"USER_SESSION_TTL": true,
}

// SecretData registers the values of a Kubernetes secret. Values that are
// URLs or URL lists have only their passwords/tokens registered; names and
// switches (the keys above, *_ROLE, *_USERNAME) stay readable; multi-line
// values (keys, certificates) are registered whole and line by line.
func SecretData(data map[string][]byte) {
	for k, b := range data {
		val := strings.TrimSpace(string(b))
		switch {
		case publicKeys[k] || strings.HasSuffix(k, "_ROLE") || strings.HasSuffix(k, "_USERNAME"):
		case strings.Contains(val, "://"):
			for _, u := range strings.Split(val, ",") {
				AddURL(strings.TrimSpace(u))
			}
		default:
			Add(val)
			for _, line := range strings.Split(val, "\n") {
				Add(line)
			}
		}
	}
}
