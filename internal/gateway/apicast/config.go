// Package apicast is an APIcast-compatible gateway: it routes requests to
// a service by host (or path), maps them to usage with the service's
// mapping rules, authorizes them with a Service Management API (authrep,
// with the caching policy's strict/resilient/allow/none modes and batched
// reporting of cached hits) and proxies them to the private base URL.
// It is driven by the proxy configuration JSON that 3scale's System
// serves. It must never print, and never pass a request upstream that the
// backend did not authorize (or, in resilient/allow modes, the cache).
package apicast

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is a gateway configuration: the services of THREESCALE_CONFIG_FILE
// ({"services": [...]}), or of System's proxy_configs endpoints.
type Config struct {
	Services []Service `json:"services"`
}

// Service is one proxy config "content" (a Porta services row + proxy).
type Service struct {
	ID                         flexString `json:"id"`
	SystemName                 string     `json:"system_name"`
	BackendVersion             flexString `json:"backend_version"`
	BackendAuthenticationType  string     `json:"backend_authentication_type"`
	BackendAuthenticationValue string     `json:"backend_authentication_value"`
	Proxy                      Proxy      `json:"proxy"`
}

// Proxy is the nested proxy object of a service.
type Proxy struct {
	Hosts                      []string `json:"hosts"`
	APIBackend                 string   `json:"api_backend"`
	CredentialsLocation        string   `json:"credentials_location"`
	AuthUserKey                string   `json:"auth_user_key"`
	AuthAppID                  string   `json:"auth_app_id"`
	AuthAppKey                 string   `json:"auth_app_key"`
	SecretToken                string   `json:"secret_token"`
	HostnameRewrite            string   `json:"hostname_rewrite"`
	AuthenticationMethod       string   `json:"authentication_method"`
	ErrorAuthFailed            string   `json:"error_auth_failed"`
	ErrorStatusAuthFailed      flexInt  `json:"error_status_auth_failed"`
	ErrorHeadersAuthFailed     string   `json:"error_headers_auth_failed"`
	ErrorAuthMissing           string   `json:"error_auth_missing"`
	ErrorStatusAuthMissing     flexInt  `json:"error_status_auth_missing"`
	ErrorHeadersAuthMissing    string   `json:"error_headers_auth_missing"`
	ErrorNoMatch               string   `json:"error_no_match"`
	ErrorStatusNoMatch         flexInt  `json:"error_status_no_match"`
	ErrorHeadersNoMatch        string   `json:"error_headers_no_match"`
	ErrorLimitsExceeded        string   `json:"error_limits_exceeded"`
	ErrorStatusLimitsExceeded  flexInt  `json:"error_status_limits_exceeded"`
	ErrorHeadersLimitsExceeded string   `json:"error_headers_limits_exceeded"`
	PolicyChain                []Policy `json:"policy_chain"`
	ProxyRules                 []Rule   `json:"proxy_rules"`
}

// Policy is one policy_chain entry.
type Policy struct {
	Name          string          `json:"name"`
	Version       string          `json:"version"`
	Configuration json.RawMessage `json:"configuration"`
}

// Rule is one mapping rule (proxy_rules element).
type Rule struct {
	HTTPMethod            string            `json:"http_method"`
	Pattern               string            `json:"pattern"`
	MetricSystemName      string            `json:"metric_system_name"`
	Delta                 flexInt           `json:"delta"`
	Last                  flexBool          `json:"last"`
	QuerystringParameters map[string]string `json:"querystring_parameters"`
}

// flexString accepts a JSON string or number.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexString(n.String())
	return nil
}

// flexInt accepts a JSON number or a numeric string.
type flexInt int

func (f *flexInt) UnmarshalJSON(b []byte) error {
	var s flexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	if s == "" {
		return nil
	}
	n, err := strconv.Atoi(string(s))
	if err != nil {
		return fmt.Errorf("not a number: %s", b)
	}
	*f = flexInt(n)
	return nil
}

// flexBool accepts true/false or "true"/"false".
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	*f = flexBool(s == "true" || s == "1")
	return nil
}

// ParseConfig accepts every shape System and APIcast use: {"services":
// [...]}, {"proxy_configs": [{"proxy_config": {"content": …}}]}, a single
// {"proxy_config": {"content": …}}, or one service object.
func ParseConfig(b []byte) (*Config, error) {
	var probe struct {
		Services     json.RawMessage `json:"services"`
		ProxyConfigs []struct {
			ProxyConfig struct {
				Content json.RawMessage `json:"content"`
			} `json:"proxy_config"`
		} `json:"proxy_configs"`
		ProxyConfig *struct {
			Content json.RawMessage `json:"content"`
		} `json:"proxy_config"`
		Proxy json.RawMessage `json:"proxy"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("proxy configuration is not valid JSON: %w", err)
	}
	cfg := &Config{}
	add := func(raw json.RawMessage) error {
		var s Service
		// content is sometimes a JSON string holding the JSON
		var str string
		if json.Unmarshal(raw, &str) == nil {
			raw = json.RawMessage(str)
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("service configuration: %w", err)
		}
		cfg.Services = append(cfg.Services, s)
		return nil
	}
	switch {
	case probe.Services != nil:
		if err := json.Unmarshal(probe.Services, &cfg.Services); err != nil {
			return nil, fmt.Errorf("services: %w", err)
		}
	case probe.ProxyConfigs != nil:
		for _, pc := range probe.ProxyConfigs {
			if err := add(pc.ProxyConfig.Content); err != nil {
				return nil, err
			}
		}
	case probe.ProxyConfig != nil:
		if err := add(probe.ProxyConfig.Content); err != nil {
			return nil, err
		}
	case probe.Proxy != nil:
		if err := add(b); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("proxy configuration has no services (expected \"services\", \"proxy_configs\" or \"proxy_config\")")
	}
	for i, s := range cfg.Services {
		if s.ID == "" {
			return nil, fmt.Errorf("service #%d of the proxy configuration has no id", i+1)
		}
	}
	return cfg, nil
}

// LoadFile reads a configuration file.
func LoadFile(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// LoadURL fetches a configuration from System (e.g.
// https://TOKEN@admin.example.com/admin/api/account/proxy_configs/production.json,
// or the master PROXY_CONFIGS_ENDPOINT); user info becomes the access_token.
func LoadURL(ctx context.Context, client *http.Client, rawURL string) (*Config, error) {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	if u := req.URL.User; u != nil {
		tok := u.Username()
		if p, ok := u.Password(); ok && tok == "" {
			tok = p
		}
		q := req.URL.Query()
		q.Set("access_token", tok)
		req.URL.RawQuery = q.Encode()
		req.URL.User = nil
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch proxy configuration from %s: %w", req.URL.Host, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch proxy configuration from %s%s: HTTP %d", req.URL.Host, req.URL.Path, resp.StatusCode)
	}
	return ParseConfig(body)
}

// LoadSystemDB reads, for every proxy, the latest proxy_configs.content of
// environment env ("production" or "sandbox") from the system database.
// A row that cannot be parsed is an error naming its service.
func LoadSystemDB(ctx context.Context, db *sql.DB, env string) (*Config, error) {
	cfg, bad, err := LoadSystemDBRows(ctx, db, env)
	if err != nil {
		return nil, err
	}
	if len(bad) > 0 {
		return nil, bad[0]
	}
	if len(cfg.Services) == 0 {
		return nil, fmt.Errorf("the system database has no %s proxy configuration; promote the configuration in the admin portal first", env)
	}
	return cfg, nil
}

// RowError is a proxy_configs row that cannot be used.
type RowError struct {
	ProxyID   int64
	ServiceID string // "" when the proxy row is gone too
	Err       error
}

func (e *RowError) Error() string {
	return fmt.Sprintf("service %s: latest proxy configuration (proxy_configs of proxy %d) cannot be used: %v; promote the configuration again in the admin portal", e.ServiceID, e.ProxyID, e.Err)
}

func (e *RowError) Unwrap() error { return e.Err }

// LoadSystemDBRows is LoadSystemDB that keeps going: the services whose
// configuration parses and compiles, and one RowError per proxy whose
// latest row does not. An empty configuration is not an error here.
func LoadSystemDBRows(ctx context.Context, db *sql.DB, env string) (*Config, []*RowError, error) {
	// The system database is MySQL or PostgreSQL, whose placeholders
	// differ: env is one of two known words, written as a literal.
	if env != "production" && env != "sandbox" {
		return nil, nil, fmt.Errorf("proxy configuration environment %q: want production or sandbox", env)
	}
	rows, err := db.QueryContext(ctx, `SELECT pc.proxy_id, COALESCE(p.service_id, 0), pc.content FROM proxy_configs pc
 JOIN (SELECT proxy_id, MAX(version) AS v FROM proxy_configs WHERE environment = '`+env+`' GROUP BY proxy_id) latest
   ON latest.proxy_id = pc.proxy_id AND latest.v = pc.version
 LEFT JOIN proxies p ON p.id = pc.proxy_id
 WHERE pc.environment = '`+env+`' ORDER BY pc.proxy_id`)
	if err != nil {
		return nil, nil, fmt.Errorf("read proxy_configs from the system database: %w", err)
	}
	defer rows.Close()
	cfg := &Config{}
	var bad []*RowError
	for rows.Next() {
		var proxyID, serviceID int64
		var content string
		if err := rows.Scan(&proxyID, &serviceID, &content); err != nil {
			return nil, nil, err
		}
		sid := ""
		if serviceID != 0 {
			sid = strconv.FormatInt(serviceID, 10)
		}
		one, err := ParseConfig([]byte(content))
		if err == nil {
			for _, s := range one.Services {
				if err = CheckService(s); err != nil {
					break
				}
			}
		}
		if err != nil {
			bad = append(bad, &RowError{ProxyID: proxyID, ServiceID: sid, Err: err})
			continue
		}
		cfg.Services = append(cfg.Services, one.Services...)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	return cfg, bad, nil
}
