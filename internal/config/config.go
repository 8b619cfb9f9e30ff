// Package config finds every connection of a 3scale installation: the
// system database, zync's database, backend-redis (storage and queues),
// system-redis and system-storage. Each is taken, in order, from a flag or
// environment override, from the namespace's 3scale secrets (read with
// client-go), or from 3scale's documented default. It never connects to
// the data servers except in Check, and never reveals a password: every
// secret it reads is registered with package redact.
package config

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/component"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/redact"
	"github.com/3scale-ops/3scale-ops/internal/storage"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Component names of the connections (the table is package component).
const (
	SystemDB           = component.SystemMySQL
	ZyncDB             = component.ZyncPostgres
	BackendRedis       = component.BackendRedis
	BackendRedisQueues = component.BackendRedisQueues
	SystemRedis        = component.SystemRedis
	SystemStorage      = component.SystemStorage
)

// Storage is where system-storage lives (the storage engine's type).
type Storage = storage.Location

// S3Location is an S3 bucket and prefix with its credentials.
type S3Location = storage.S3Location

// PodStoragePath is where system-app mounts the system-storage PVC.
const PodStoragePath = storage.PodPath

// Connections is the resolved set. A connection that could not be
// resolved has its error in Errs; Require reports it only when a command
// needs that component.
type Connections struct {
	Namespace          string
	SystemDB           DB
	ZyncDB             DB
	BackendRedis       Redis
	BackendRedisQueues Redis
	SystemRedis        Redis
	SystemStorage      Storage
	Errs               map[string]error
}

// Require returns the resolution errors of the named components, joined.
func (c *Connections) Require(components ...string) error {
	var all []error
	for _, n := range components {
		if err := c.Errs[n]; err != nil {
			all = append(all, err)
		}
	}
	switch len(all) {
	case 0:
		return nil
	case 1:
		return all[0]
	default:
		return errs.Wrap(errs.Code(all[0]), errors.Join(all...), errs.Hint(all[0]))
	}
}

// Resolve resolves every connection. kc is nil in --local mode, where only
// overrides count. A missing secret or key becomes an error naming the
// secret, the key and the flag that overrides it, recorded per component.
func Resolve(ctx context.Context, kc *kube.Clients, namespace string, ov Overrides) (*Connections, error) {
	return ResolveWithFallback(ctx, kc, namespace, ov, nil)
}

// ResolveWithFallback is Resolve for a namespace that may have lost its
// secrets: a secret missing from the namespace is taken from fallback (a
// snapshot's secrets, which the restore is about to re-create), and the
// connection's Source says so. Flags still win over both.
func ResolveWithFallback(ctx context.Context, kc *kube.Clients, namespace string, ov Overrides, fallback []corev1.Secret) (*Connections, error) {
	c := &Connections{Namespace: namespace, Errs: map[string]error{}}
	sec := &secrets{ctx: ctx, kc: kc, ns: namespace, cache: map[string]*corev1.Secret{}, fallback: map[string]*corev1.Secret{}}
	for i := range fallback {
		sec.fallback[fallback[i].Name] = &fallback[i]
	}
	if kc != nil {
		// One cheap call first, so that a wrong kubeconfig, namespace or
		// permission is one clear error instead of five.
		if _, err := kc.Typed.CoreV1().Secrets(namespace).List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
			return nil, kubeError(err, namespace)
		}
	}

	c.SystemDB, c.Errs[SystemDB] = resolveDB(sec, SystemDB, ov.SystemDB, ov.TLS[SystemDB], "--system-db-url", "system-database", "URL", "DB_USER", "DB_PASSWORD")
	c.ZyncDB, c.Errs[ZyncDB] = resolveDB(sec, ZyncDB, ov.ZyncDB, ov.TLS[ZyncDB], "--zync-db-url", "zync", "DATABASE_URL", "", "ZYNC_DATABASE_PASSWORD")
	c.BackendRedis, c.Errs[BackendRedis] = resolveRedis(sec, BackendRedis, ov.BackendRedis, ov, "--backend-redis-url", "backend-redis",
		"REDIS_STORAGE_URL", "REDIS_STORAGE_SENTINEL_HOSTS", "REDIS_STORAGE_USERNAME", "REDIS_STORAGE_PASSWORD", "redis://backend-redis:6379/0", storageKeys)
	c.BackendRedisQueues, c.Errs[BackendRedisQueues] = resolveRedis(sec, BackendRedisQueues, ov.BackendRedisQueues, ov, "--backend-redis-queues-url", "backend-redis",
		"REDIS_QUEUES_URL", "REDIS_QUEUES_SENTINEL_HOSTS", "REDIS_QUEUES_USERNAME", "REDIS_QUEUES_PASSWORD", "redis://backend-redis:6379/1", queuesKeys)
	c.SystemRedis, c.Errs[SystemRedis] = resolveRedis(sec, SystemRedis, ov.SystemRedis, ov, "--system-redis-url", "system-redis",
		"URL", "SENTINEL_HOSTS", "REDIS_USERNAME", "REDIS_PASSWORD", "redis://system-redis:6379/1", systemRedisKeys)
	c.SystemStorage, c.Errs[SystemStorage] = resolveStorage(sec, ov.SystemStorage)
	for k, v := range c.Errs {
		if v == nil {
			delete(c.Errs, k)
		}
	}
	return c, nil
}

func kubeError(err error, ns string) error {
	switch {
	case apierrors.IsForbidden(err):
		return errs.Wrap(errs.Failure, fmt.Errorf("listing secrets in namespace %q is forbidden: %w", ns, err),
			"grant the Role from `3scale-ops manifests rbac`, or use --local with connection flags")
	case apierrors.IsUnauthorized(err):
		return errs.Wrap(errs.Usage, fmt.Errorf("the Kubernetes API server rejected the credentials: %w", err),
			"log in again (oc login) or pass a valid --kubeconfig/--context")
	default:
		return errs.Wrap(errs.Failure, fmt.Errorf("cannot reach the Kubernetes API server: %w", err),
			"check --kubeconfig/--context and the network, or use --local with connection flags")
	}
}

// secrets reads (and caches) the namespace's secrets.
type secrets struct {
	ctx          context.Context
	kc           *kube.Clients
	ns           string
	cache        map[string]*corev1.Secret
	fallback     map[string]*corev1.Secret // used when the namespace lacks a secret
	fromSnapshot map[string]bool
}

var errNoKube = errors.New("no Kubernetes in --local mode")

// ErrNotConfigured is errs.ErrNotConfigured, wrapped by resolution errors
// that mean "this installation does not have that component here".
var ErrNotConfigured = errs.ErrNotConfigured

func (s *secrets) get(name string) (*corev1.Secret, error) {
	if s.kc == nil {
		return nil, errNoKube
	}
	if sec, ok := s.cache[name]; ok {
		return sec, nil
	}
	sec, err := s.kc.Typed.CoreV1().Secrets(s.ns).Get(s.ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && s.fallback[name] != nil {
		sec, err = s.fallback[name], nil
		if s.fromSnapshot == nil {
			s.fromSnapshot = map[string]bool{}
		}
		s.fromSnapshot[name] = true
	}
	if err != nil {
		return nil, err
	}
	redact.SecretData(sec.Data)
	s.cache[name] = sec
	return sec, nil
}

// value returns key of secret name; ok is false when the key is absent.
func (s *secrets) value(name, key string) (string, bool, error) {
	sec, err := s.get(name)
	if err != nil {
		return "", false, err
	}
	v, ok := sec.Data[key]
	return strings.TrimSpace(string(v)), ok && len(v) > 0, nil
}

// source describes where a value came from.
func (s *secrets) source(secret, key string) string {
	src := "secret " + secret + " key " + key
	if s.fromSnapshot[secret] {
		src += fromSnapshotNote
	}
	return src
}

func missing(flag, secret, key string, err error, ns string) error {
	if errors.Is(err, errNoKube) {
		return errs.Wrap(errs.Usage, fmt.Errorf("%s is not set: %w", flag, ErrNotConfigured), fmt.Sprintf("pass %s (or its environment variable); --local reads no secrets", flag))
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return errs.Wrap(errs.Failure, fmt.Errorf("reading secret %s/%s: %w", ns, secret, err), "check access to secrets in the namespace, or pass "+flag)
	}
	if err != nil {
		return errs.Wrap(errs.Usage, fmt.Errorf("secret %q not found in namespace %q: %w", secret, ns, ErrNotConfigured),
			fmt.Sprintf("create the secret, check -n/--namespace, or pass %s", flag))
	}
	return errs.UsageError(fmt.Sprintf("add key %s to secret %s, or pass %s", key, secret, flag), "secret %s/%s has no key %s", ns, secret, key)
}

func resolveDB(s *secrets, component, override string, tov TLSOverride, flag, secret, urlKey, userKey, pwKey string) (DB, error) {
	var d DB
	var err error
	fromSecret := override == ""
	if override != "" {
		if d, err = ParseDB(override); err != nil {
			return DB{}, errs.Wrap(errs.Usage, err, "fix "+flag)
		}
		d.Source = "flag " + flag
	} else {
		raw, ok, err := s.value(secret, urlKey)
		if err != nil || !ok {
			return DB{}, missing(flag, secret, urlKey, err, s.ns)
		}
		if d, err = ParseDB(raw); err != nil {
			return DB{}, errs.Wrap(errs.Usage, fmt.Errorf("secret %s key %s: %w", secret, urlKey, err), "fix the secret or pass "+flag)
		}
		d.Source = s.source(secret, urlKey)
		// Credentials kept beside the URL fill what the URL leaves out.
		if d.User == "" && userKey != "" {
			if v, ok, _ := s.value(secret, userKey); ok {
				d.User = v
			}
		}
		if d.Password == "" && pwKey != "" {
			if v, ok, _ := s.value(secret, pwKey); ok {
				d.Password = v
			}
		}
	}
	mode, modeSrc, err := urlSSLMode(&d)
	if err != nil {
		return DB{}, errs.UsageError("fix the sslmode parameter of "+d.Source, "%s: %s: %v", component, d.Source, err)
	}
	// In --local mode no secret is read; with a URL from a flag the
	// secret's TLS keys would describe another server.
	fromSecret = fromSecret && s.kc != nil
	if d.Kind == "oracle" {
		return d, nil
	}
	if d.TLS, err = resolveTLS(s, component, secret, d.Kind, dbTLSKeys, tov, mode, modeSrc, fromSecret); err != nil {
		return DB{}, err
	}
	return d, nil
}

func resolveRedis(s *secrets, component, override string, ov Overrides, flag, secret, urlKey, sentinelKey, userKey, pwKey, def string, keys tlsKeys) (Redis, error) {
	sov := ov.Sentinel[component]
	var r Redis
	var err error
	fromSecret := override == "" && s.kc != nil
	if override != "" {
		if r, err = ParseRedis(override, sov.Hosts); err != nil {
			return Redis{}, errs.Wrap(errs.Usage, err, "fix "+flag)
		}
		r.Source = "flag " + flag
	} else {
		raw, ok, err := s.value(secret, urlKey)
		if err != nil {
			return Redis{}, missing(flag, secret, urlKey, err, s.ns)
		}
		src := s.source(secret, urlKey)
		if !ok {
			raw, src = def, "default (secret "+secret+" has no "+urlKey+")"
		}
		sentinels := sov.Hosts
		if sentinels == "" {
			sentinels, _, _ = s.value(secret, sentinelKey)
		}
		if r, err = ParseRedis(raw, sentinels); err != nil {
			return Redis{}, errs.Wrap(errs.Usage, fmt.Errorf("secret %s key %s: %w", secret, urlKey, err), "fix the secret or pass "+flag)
		}
		r.Source = src
		if v, ok, _ := s.value(secret, userKey); ok && r.Username == "" {
			r.Username = v
		}
		if v, ok, _ := s.value(secret, pwKey); ok && r.Password == "" {
			r.Password = v
		}
		if v, ok, _ := s.value(secret, keys.sentinelUser); ok && r.SentinelUsername == "" {
			r.SentinelUsername = v
		}
		if v, ok, _ := s.value(secret, keys.sentinelPass); ok && r.SentinelPassword == "" {
			r.SentinelPassword = v
		}
		r.SentinelRole, _, _ = s.value(secret, keys.sentinelRole)
	}
	if sov.Username != "" {
		r.SentinelUsername = sov.Username
	}
	if sov.Password != "" {
		redact.Add(sov.Password)
		r.SentinelPassword = sov.Password
	}
	r.component = component
	scheme := r.TLS
	tov := ov.TLS[component]
	if r.TLS, err = resolveTLS(s, component, secret, "redis", keys, tov, scheme.Mode, scheme.ModeSource, fromSecret); err != nil {
		return Redis{}, err
	}
	return r, nil
}

// ParseStorage parses dir:///path, a plain absolute path, s3://HOST[:PORT]/BUCKET/PREFIX
// (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; ?insecure=1 for
// http) or "pod".
//
// Credentials never come from the URL: one with user information is
// refused, and no error shows it (user and password are masked).
func ParseStorage(raw string) (Storage, error) {
	raw = strings.TrimSpace(raw)
	shown := redact.Userinfo(raw)
	if scheme, rest, ok := strings.Cut(raw, "://"); ok {
		// Masked from the same "://" the check below splits at:
		// redact.Userinfo starts at the first "//", which in
		// "//://user@" is not that one.
		shown = redact.String(scheme + "://" + strings.TrimPrefix(redact.Userinfo("//"+rest), "//"))
		if end := strings.IndexAny(rest, "/?#"); end >= 0 {
			rest = rest[:end]
		}
		if strings.Contains(rest, "@") {
			return Storage{}, fmt.Errorf("system storage %s: user information in the URL is not used (%s://USER@… is refused so that it is never shown): for S3 set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", shown, redact.Userinfo(scheme))
		}
	}
	switch {
	case raw == "pod" || raw == "pod:":
		return Storage{Kind: "pod", Path: PodStoragePath}, nil
	case strings.HasPrefix(raw, "dir://"):
		p := strings.TrimPrefix(raw, "dir://")
		if p == "" || !strings.HasPrefix(p, "/") {
			return Storage{}, fmt.Errorf("system storage %s: want dir:///ABSOLUTE/PATH", shown)
		}
		return Storage{Kind: "dir", Path: p}, nil
	case strings.HasPrefix(raw, "/"):
		return Storage{Kind: "dir", Path: raw}, nil
	case strings.HasPrefix(raw, "s3://"):
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return Storage{}, fmt.Errorf("system storage %s: want s3://HOST[:PORT]/BUCKET/PREFIX", shown)
		}
		bucket, prefix, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
		if bucket == "" {
			return Storage{}, fmt.Errorf("system storage %s names no bucket: want s3://HOST[:PORT]/BUCKET/PREFIX", shown)
		}
		ins := u.Query().Get("insecure")
		loc := S3Location{Endpoint: u.Host, Bucket: bucket, Prefix: prefix,
			AccessKey: os.Getenv("AWS_ACCESS_KEY_ID"), SecretKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
			Region: os.Getenv("AWS_REGION"), Insecure: ins == "1" || ins == "true", PathStyle: true}
		redact.Add(loc.SecretKey)
		return Storage{Kind: "s3", S3: loc}, nil
	}
	return Storage{}, fmt.Errorf("system storage %s: want dir:///path, s3://HOST/BUCKET/PREFIX or pod", shown)
}

func resolveStorage(s *secrets, override string) (Storage, error) {
	if override != "" {
		st, err := ParseStorage(override)
		if err != nil {
			return Storage{}, errs.Wrap(errs.Usage, err, "fix --system-storage")
		}
		st.Source = "flag --system-storage"
		return st, nil
	}
	if s.kc == nil {
		return Storage{}, errs.Wrap(errs.Usage, fmt.Errorf("--system-storage is not set: %w", ErrNotConfigured),
			"pass --system-storage dir:///PATH or s3://HOST/BUCKET/PREFIX; --local cannot reach the system-app pod")
	}
	// FILE_UPLOAD_STORAGE=s3 in system-environment moves files to a bucket
	// whose settings are in a secret holding AWS_BUCKET.
	cm, err := s.kc.Typed.CoreV1().ConfigMaps(s.ns).Get(s.ctx, "system-environment", metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		// Guessing "pod" here could back up an empty volume of an
		// installation that keeps its files in S3.
		return Storage{}, errs.Wrap(errs.Failure, fmt.Errorf("read ConfigMap %s/system-environment to find where system-storage lives: %w", s.ns, err),
			"check access to configmaps, or pass --system-storage")
	}
	if err == nil && strings.EqualFold(cm.Data["FILE_UPLOAD_STORAGE"], "s3") {
		list, err := s.kc.Typed.CoreV1().Secrets(s.ns).List(s.ctx, metav1.ListOptions{})
		if err != nil {
			return Storage{}, missing("--system-storage", "(secret with AWS_BUCKET)", "AWS_BUCKET", err, s.ns)
		}
		for i := range list.Items {
			sec := &list.Items[i]
			if len(sec.Data["AWS_BUCKET"]) == 0 {
				continue
			}
			redact.SecretData(sec.Data)
			d := func(k string) string { return strings.TrimSpace(string(sec.Data[k])) }
			endpoint := d("AWS_HOSTNAME")
			if endpoint == "" {
				region := d("AWS_REGION")
				if region == "" {
					region = "us-east-1"
				}
				endpoint = "s3." + region + ".amazonaws.com"
			}
			return Storage{Kind: "s3", Source: "secret " + sec.Name + " (FILE_UPLOAD_STORAGE=s3)", S3: S3Location{
				Endpoint: endpoint, Bucket: d("AWS_BUCKET"), AccessKey: d("AWS_ACCESS_KEY_ID"), SecretKey: d("AWS_SECRET_ACCESS_KEY"),
				Region: d("AWS_REGION"), Insecure: strings.EqualFold(d("AWS_PROTOCOL"), "http"), PathStyle: strings.EqualFold(d("AWS_PATH_STYLE"), "true"),
			}}, nil
		}
		return Storage{}, errs.UsageError("create the S3 secret (AWS_BUCKET, AWS_ACCESS_KEY_ID, …) or pass --system-storage s3://…",
			"system-environment sets FILE_UPLOAD_STORAGE=s3 but no secret in namespace %q has AWS_BUCKET", s.ns)
	}
	return Storage{Kind: "pod", Path: PodStoragePath, Source: "default (system-storage volume of the system-app pod)"}, nil
}
