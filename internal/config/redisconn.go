package config

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/redact"
	"github.com/redis/go-redis/v9"
)

// Redis is a resolved Redis connection (plain, TLS or through Sentinel).
type Redis struct {
	URL              string
	Addr             string // host:port; for Sentinel, resolved by Options
	DB               int
	Username         string
	Password         string
	TLS              TLS      // transport security of the data server (and of the sentinels)
	SentinelAddrs    []string // host:port of each sentinel; empty without Sentinel
	SentinelTLS      bool     // talk TLS to the sentinels
	sentinelScheme   bool     // a sentinel host said redis:// or rediss:// itself
	SentinelUsername string
	SentinelPassword string
	SentinelRole     string // as configured (master or slave); backups and restores always use the master
	MasterName       string // Sentinel master group name
	Source           string
	component        string
}

// ParseRedis parses redis:// and rediss:// URLs with an optional db number;
// sentinels (the REDIS_*_SENTINEL_HOSTS list) turn the URL host into the
// master group name.
//
// The passwords (and any token) of the URL and of the sentinel hosts are
// registered with redact, also when they do not parse.
func ParseRedis(raw, sentinels string) (Redis, error) {
	redact.AddURL(raw)
	for _, h := range strings.Split(sentinels, ",") {
		if h = strings.TrimSpace(h); strings.Contains(h, "://") {
			redact.AddURL(h)
		}
	}
	r, err := parseRedis(raw, sentinels)
	if err == nil {
		redact.Add(r.Password, r.SentinelPassword)
	}
	return r, err
}

// parseRedis is ParseRedis without registering anything: it changes no
// global state (the fuzz target runs it). Its errors are usage errors
// (exit 2) that never show a password.
func parseRedis(raw, sentinels string) (Redis, error) {
	r, err := parseRedisURL(raw, sentinels)
	return r, errs.Wrap(errs.Usage, err, "fix the Redis URL or the sentinel hosts (flag, environment or the namespace's secret)")
}

func parseRedisURL(raw, sentinels string) (Redis, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || !validHost(u) || (u.Port() != "" && !validPort(u.Port())) {
		return Redis{}, fmt.Errorf("malformed Redis URL (%s): want redis://[USER:PASSWORD@]HOST[:PORT][/DB]", shape(raw))
	}
	r := Redis{URL: raw}
	switch u.Scheme {
	case "redis":
	case "rediss":
		r.TLS.Mode, r.TLS.ModeSource = ModeVerifyFull, "URL scheme rediss://"
	default:
		return Redis{}, fmt.Errorf("unsupported Redis URL scheme %q in %s: want redis:// or rediss://", u.Scheme, redact.URL(raw))
	}
	if u.User != nil {
		r.Username = u.User.Username()
		r.Password, _ = u.User.Password()
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return Redis{}, fmt.Errorf("bad database number %q in Redis URL %s", p, redact.URL(raw))
		}
		r.DB = n
	}
	if s := strings.TrimSpace(sentinels); s != "" {
		r.MasterName = u.Hostname()
		for _, h := range strings.Split(s, ",") {
			h = strings.TrimSpace(h)
			if h == "" {
				continue
			}
			if strings.Contains(h, "://") {
				su, err := url.Parse(h)
				if err != nil || su.Host == "" {
					return Redis{}, fmt.Errorf("malformed sentinel host %q", redact.URL(h))
				}
				r.sentinelScheme = true
				if su.Scheme == "rediss" {
					r.SentinelTLS = true
				}
				if su.User != nil && r.SentinelPassword == "" {
					r.SentinelUsername = su.User.Username()
					r.SentinelPassword, _ = su.User.Password()
				}
				h = su.Host
			}
			if _, _, err := net.SplitHostPort(h); err != nil {
				h = net.JoinHostPort(h, "26379")
			}
			if host, port, err := net.SplitHostPort(h); err != nil || host == "" || !validPort(port) {
				return Redis{}, fmt.Errorf("malformed sentinel host %s in the sentinel list: want HOST[:PORT] or redis://[USER:PASSWORD@]HOST[:PORT]", redact.Userinfo(h))
			}
			r.SentinelAddrs = append(r.SentinelAddrs, h)
		}
		return r, nil
	}
	port := u.Port()
	if port == "" {
		port = "6379"
	}
	r.Addr = net.JoinHostPort(u.Hostname(), port)
	return r, nil
}

// Redacted is the URL with its password masked.
func (r Redis) Redacted() string {
	s := redact.URL(r.URL)
	if len(r.SentinelAddrs) > 0 {
		s += " via sentinels " + strings.Join(r.SentinelAddrs, ",")
	}
	return s
}

// Options returns go-redis options for the server; with Sentinel it asks
// the sentinels for the current master address first.
func (r Redis) Options() (*redis.Options, error) { return r.options(context.Background(), nil) }

// sentinelOptions are the options of a client to one sentinel.
func (r Redis) sentinelOptions(addr string, obs *Observed) (*redis.Options, error) {
	o := &redis.Options{Addr: addr, Username: r.SentinelUsername, Password: r.SentinelPassword, DialTimeout: 5 * time.Second,
		ReadTimeout: 5 * time.Second, MaxRetries: -1}
	if r.SentinelTLS || (!r.sentinelScheme && r.TLS.On()) {
		t := r.TLS
		if !t.On() {
			t.Mode = ModeVerifyFull
		}
		tc, err := t.Config(addr, obs)
		if err != nil {
			return nil, err
		}
		o.TLSConfig = tc
	}
	return o, nil
}

// MasterAddr asks the sentinels, in order, for the master of the group.
func (r Redis) MasterAddr(ctx context.Context) (string, error) {
	var lastErr error
	noMaster := 0
	for _, s := range r.SentinelAddrs {
		so, err := r.sentinelOptions(s, nil)
		if err != nil {
			return "", err
		}
		sc := redis.NewSentinelClient(so)
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		addr, err := sc.GetMasterAddrByName(cctx, r.MasterName).Result()
		cancel()
		sc.Close()
		if err == nil && len(addr) == 2 {
			return net.JoinHostPort(addr[0], addr[1]), nil
		}
		if err == redis.Nil {
			noMaster++
			err = fmt.Errorf("sentinel %s names no master %q", s, r.MasterName)
		}
		lastErr = r.TLS.ExplainTLS(s, err)
	}
	if noMaster == len(r.SentinelAddrs) {
		return "", errs.UsageError(fmt.Sprintf("put the master group name the sentinels monitor as the host of %s (`SENTINEL MASTERS` lists them)", r.Source),
			"%s: no sentinel (%s) monitors a master named %q (the host of %s)", r.component, strings.Join(r.SentinelAddrs, ","), r.MasterName, r.Source)
	}
	return "", errs.Wrap(errs.Failure, fmt.Errorf("%s: no sentinel (%s) knows master %q: %s", r.component, strings.Join(r.SentinelAddrs, ","),
		r.MasterName, redact.String(fmt.Sprint(lastErr))),
		"check the master group name (the host of the URL) and the sentinel hosts, username and password in the secret")
}

func (r Redis) options(ctx context.Context, obs *Observed) (*redis.Options, error) {
	o := &redis.Options{Addr: r.Addr, DB: r.DB, Username: r.Username, Password: r.Password,
		DialTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second, WriteTimeout: 60 * time.Second}
	if len(r.SentinelAddrs) > 0 {
		addr, err := r.MasterAddr(ctx)
		if err != nil {
			return nil, err
		}
		o.Addr = addr
	}
	tc, err := r.TLS.Config(o.Addr, obs)
	if err != nil {
		return nil, err
	}
	o.TLSConfig = tc
	return o, nil
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n > 0 && n <= 65535
}
