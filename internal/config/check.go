package config

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/redact"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/redis/go-redis/v9"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Status is the outcome of resolving and checking one connection.
type Status struct {
	Component string     `json:"component"`
	Target    string     `json:"target"` // redacted
	Source    string     `json:"source,omitempty"`
	Reachable bool       `json:"reachable"`
	Version   string     `json:"version,omitempty"`
	LatencyMS int64      `json:"latency_ms,omitempty"`
	Error     string     `json:"error,omitempty"` // redacted
	Hint      string     `json:"hint,omitempty"`  // what to do about Error
	Code      int        `json:"exit_code,omitempty"`
	TLS       *TLSStatus `json:"tls,omitempty"`
}

// TLSStatus is the transport security of one connection: as configured,
// and, after a check, as the handshake showed it.
type TLSStatus struct {
	Enabled        bool       `json:"enabled"`
	Mode           string     `json:"mode"`
	ModeSource     string     `json:"mode_source,omitempty"`
	CASource       string     `json:"ca_source,omitempty"`
	ClientCert     string     `json:"client_certificate_source,omitempty"`
	Handshake      bool       `json:"handshake"`             // a TLS handshake took place
	Verified       bool       `json:"verified"`              // the server certificate was verified
	ServerName     string     `json:"server_name,omitempty"` // the name it was verified for
	Subject        string     `json:"subject,omitempty"`     // of the server certificate
	NotAfter       *time.Time `json:"certificate_expiry,omitempty"`
	ClientCertSent bool       `json:"client_certificate_sent"`
	Sentinel       bool       `json:"sentinel,omitempty"`      // reached through Sentinel
	SentinelTLS    bool       `json:"sentinel_tls,omitempty"`  // TLS to the sentinels
	SentinelAuth   bool       `json:"sentinel_auth,omitempty"` // a sentinel password is configured
	ACLUser        string     `json:"acl_user,omitempty"`      // Redis ACL username
}

// Components lists every connection in display order.
var Components = []string{SystemDB, ZyncDB, BackendRedis, BackendRedisQueues, SystemRedis, SystemStorage}

// redis returns the Redis connection of a component name (nil for others).
func (c *Connections) redis(name string) *Redis {
	switch name {
	case BackendRedis:
		return &c.BackendRedis
	case BackendRedisQueues:
		return &c.BackendRedisQueues
	case SystemRedis:
		return &c.SystemRedis
	}
	return nil
}

// Target describes where a component lives (passwords masked) and where
// that came from; ok is false for names that are not connections.
func (c *Connections) Target(name string) (target, source string, ok bool) {
	switch name {
	case SystemDB:
		return c.SystemDB.Redacted(), c.SystemDB.Source, true
	case ZyncDB:
		return c.ZyncDB.Redacted(), c.ZyncDB.Source, true
	case SystemStorage:
		return c.SystemStorage.Redacted(), c.SystemStorage.Source, true
	}
	if r := c.redis(name); r != nil {
		return r.Redacted(), r.Source, true
	}
	return "", "", false
}

// Check connects to every resolved connection (when check is true) and
// reports version and latency. It never changes anything.
func Check(ctx context.Context, c *Connections, kc *kube.Clients, check bool) []Status {
	out := make([]Status, 0, len(Components))
	for _, name := range Components {
		st := Status{Component: name}
		if err := c.Errs[name]; err != nil {
			st.Error, st.Hint, st.Code = redact.String(firstLine(err.Error())), redact.String(errs.Hint(err)), errs.Code(err)
			out = append(out, st)
			continue
		}
		st.Target, st.Source, _ = c.Target(name)
		st.TLS = c.tlsStatus(name)
		if check {
			cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			start := time.Now()
			obs := &Observed{}
			v, err := probe(cctx, name, c, kc, obs)
			cancel()
			if err != nil && obs.VerifyErr != nil {
				err = obs.VerifyErr // the driver may have flattened it
			}
			st.LatencyMS = time.Since(start).Milliseconds()
			if st.TLS != nil {
				st.TLS.Handshake, st.TLS.Verified, st.TLS.ServerName, st.TLS.Subject = obs.Handshake, obs.Verified, obs.ServerName, obs.Subject
				st.TLS.ClientCertSent = obs.ClientCertSent
				if obs.Handshake {
					na := obs.NotAfter.UTC()
					st.TLS.NotAfter = &na
				}
			}
			if err != nil {
				st.Error, st.Hint, st.Code = redact.String(firstLine(err.Error())), redact.String(errs.Hint(err)), errs.Code(err)
			} else {
				st.Reachable, st.Version = true, v
			}
		}
		out = append(out, st)
	}
	return out
}

// firstLine keeps an error to one line (driver errors can span several).
func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// tlsStatus is the configured TLS state of a connection (nil for storage).
func (c *Connections) tlsStatus(name string) *TLSStatus {
	var t TLS
	st := &TLSStatus{}
	switch name {
	case SystemDB:
		t = c.SystemDB.TLS
	case ZyncDB:
		t = c.ZyncDB.TLS
	default:
		r := c.redis(name)
		if r == nil {
			return nil
		}
		t = r.TLS
		st.Sentinel, st.SentinelAuth, st.ACLUser = len(r.SentinelAddrs) > 0, r.SentinelPassword != "", r.Username
		st.SentinelTLS = st.Sentinel && (r.SentinelTLS || (!r.sentinelScheme && t.On()))
	}
	st.Enabled, st.Mode, st.ModeSource, st.CASource, st.ClientCert = t.On(), t.Mode, t.ModeSource, t.CASource, t.CertSource
	if st.Mode == "" {
		st.Mode = ModeOff
	}
	return st
}

func probe(ctx context.Context, name string, c *Connections, kc *kube.Clients, obs *Observed) (string, error) {
	switch name {
	case SystemDB, ZyncDB:
		d := c.SystemDB
		if name == ZyncDB {
			d = c.ZyncDB
		}
		v, err := probeDB(ctx, d, obs)
		return v, d.TLS.ExplainTLS(d.Addr(), err)
	case BackendRedis, BackendRedisQueues, SystemRedis:
		return probeRedis(ctx, *c.redis(name), obs)
	default:
		return probeStorage(ctx, c.SystemStorage, kc, c.Namespace)
	}
}

func probeDB(ctx context.Context, d DB, obs *Observed) (string, error) {
	switch d.Kind {
	case "mysql":
		mc, err := d.mysqlConfig(obs)
		if err != nil {
			return "", err
		}
		conn, err := mysql.NewConnector(mc)
		if err != nil {
			return "", err
		}
		db := sql.OpenDB(conn)
		defer db.Close()
		var v string
		if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v); err != nil {
			return "", fmt.Errorf("MySQL at %s: %w", d.Addr(), err)
		}
		return "MySQL " + v, nil
	case "postgresql":
		cfg, err := d.PostgresConfig(obs)
		if err != nil {
			return "", err
		}
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return "", fmt.Errorf("PostgreSQL at %s: %w", d.Addr(), err)
		}
		defer conn.Close(ctx)
		var v string
		if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&v); err != nil {
			return "", err
		}
		return "PostgreSQL " + v, nil
	default:
		return "", oracleError()
	}
}

func probeRedis(ctx context.Context, r Redis, obs *Observed) (string, error) {
	o, err := r.options(ctx, obs)
	if err != nil {
		return "", err
	}
	o.MaxRetries = -1
	cl := redis.NewClient(o)
	defer cl.Close()
	info, err := cl.Info(ctx, "server").Result()
	if err != nil {
		if e := r.TLS.ExplainTLS(o.Addr, err); e != err {
			return "", e
		}
		return "", fmt.Errorf("Redis at %s: %w", o.Addr, err)
	}
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "redis_version:"); ok {
			return "Redis " + v, nil
		}
	}
	return "Redis (version unknown)", nil
}

func probeStorage(ctx context.Context, s Storage, kc *kube.Clients, ns string) (string, error) {
	switch s.Kind {
	case "dir":
		fi, err := os.Stat(s.Path)
		if err != nil {
			return "", err
		}
		if !fi.IsDir() {
			return "", fmt.Errorf("%s is not a directory", s.Path)
		}
		return "local directory", nil
	case "s3":
		cl, err := minio.New(s.S3.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.S3.AccessKey, s.S3.SecretKey, ""),
			Secure: !s.S3.Insecure, Region: s.S3.Region})
		if err != nil {
			return "", err
		}
		ok, err := cl.BucketExists(ctx, s.S3.Bucket)
		if err != nil {
			return "", fmt.Errorf("S3 bucket %s at %s: %w", s.S3.Bucket, s.S3.Endpoint, err)
		}
		if !ok {
			return "", fmt.Errorf("S3 bucket %s does not exist at %s", s.S3.Bucket, s.S3.Endpoint)
		}
		return "S3 bucket", nil
	default:
		if kc == nil {
			return "", fmt.Errorf("pod storage needs Kubernetes")
		}
		for _, sel := range []string{"deploymentConfig=system-app", "deployment=system-app", "deploymentconfig=system-app"} {
			pods, err := kc.Typed.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
			if err != nil {
				return "", err
			}
			for _, p := range pods.Items {
				if p.Status.Phase == "Running" {
					return "pod " + p.Name, nil
				}
			}
		}
		return "", fmt.Errorf("no running system-app pod in namespace %q (labels deploymentConfig/deployment=system-app)", ns)
	}
}
