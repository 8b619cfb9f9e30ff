package repo

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/minio/minio-go/v7"
)

// ObjectLock is config.json's object_lock: every object of a snapshot is
// written with this retention (S3 Object Lock), so that nobody — the
// backup job's credentials included — can delete or replace it before it
// expires. Locks and restore journals are written without it.
type ObjectLock struct {
	Mode string        `json:"mode"` // GOVERNANCE or COMPLIANCE
	For  time.Duration `json:"retain_ns"`
}

// ParseRetention parses "30d", "12h" or any Go duration.
func ParseRetention(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 {
			return 0, errs.UsageError("give days as 30d, or a duration as 720h", "bad retention %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return 0, errs.UsageError("give days as 30d, or a duration as 720h", "bad retention %q", s)
	}
	return v, nil
}

// retainer is a backend that can write objects under retention (S3).
type retainer interface {
	ObjectLockEnabled(ctx context.Context) (bool, error)
	SetRetention(mode string, d time.Duration)
	RetainedUntil(ctx context.Context, name string) (time.Time, error)
}

func (s *S3) ObjectLockEnabled(ctx context.Context) (bool, error) {
	st, _, _, _, err := s.c.GetObjectLockConfig(ctx, s.bucket)
	if err != nil {
		var er minio.ErrorResponse
		if errors.As(err, &er) && (er.Code == "ObjectLockConfigurationNotFoundError" || er.Code == "ObjectLockConfigurationNotFound") {
			return false, nil
		}
		return false, s.wrap("read object lock configuration of", s.bucket, err)
	}
	return st == "Enabled", nil
}

func (s *S3) SetRetention(mode string, d time.Duration) { s.retainMode, s.retainFor = mode, d }

// RetainedUntil is the retention date of the object (zero: none).
func (s *S3) RetainedUntil(ctx context.Context, name string) (time.Time, error) {
	k, err := s.key(name)
	if err != nil {
		return time.Time{}, err
	}
	_, until, err := s.c.GetObjectRetention(ctx, s.bucket, k, "")
	if err != nil {
		var er minio.ErrorResponse
		if errors.As(err, &er) && (er.Code == "NoSuchObjectLockConfiguration" || er.Code == "InvalidRequest") {
			return time.Time{}, nil
		}
		return time.Time{}, s.wrap("read retention of", name, err)
	}
	if until == nil {
		return time.Time{}, nil
	}
	return *until, nil
}

// putOptions adds the retention to uploads of snapshot objects.
func (s *S3) putOptions(name string, o minio.PutObjectOptions) minio.PutObjectOptions {
	if s.retainFor > 0 && strings.HasPrefix(name, snapshotsDir) {
		o.Mode = minio.RetentionMode(s.retainMode)
		o.RetainUntilDate = time.Now().Add(s.retainFor).UTC()
		o.SendContentMd5 = true // S3 requires a checksum on object-locked uploads
	}
	return o
}

// initObjectLock checks the bucket and records the retention in cfg.
func initObjectLock(ctx context.Context, be Backend, cfg *Config, mode string, d time.Duration) error {
	rb, ok := be.(retainer)
	if !ok {
		return errs.UsageError("use an S3 repository in a bucket created with object lock", "--object-lock needs S3 object lock; %s is not S3", be.Location())
	}
	on, err := rb.ObjectLockEnabled(ctx)
	if err != nil {
		return err
	}
	if !on {
		return errs.UsageError("create the bucket with object lock enabled (`mc mb --with-lock`, or ObjectLockEnabledForBucket), then init again",
			"bucket of %s does not have object lock enabled", be.Location())
	}
	mode = strings.ToUpper(mode)
	if mode == "" {
		mode = "GOVERNANCE"
	}
	if mode != "GOVERNANCE" && mode != "COMPLIANCE" {
		return errs.UsageError("use --object-lock-mode governance or compliance", "unknown object lock mode %q", mode)
	}
	cfg.ObjectLock = &ObjectLock{Mode: mode, For: d}
	return nil
}

// protectedUntil says until when object lock keeps the snapshot's manifest
// (and so the snapshot) from being deleted; zero when nothing protects it.
func (r *Repository) protectedUntil(ctx context.Context, id string) (time.Time, error) {
	rb, ok := r.be.(retainer)
	if !ok || r.cfg.ObjectLock == nil {
		return time.Time{}, nil
	}
	objs, err := r.be.List(ctx, snapshotsDir+id+"/")
	if err != nil {
		return time.Time{}, err
	}
	var latest time.Time
	for _, o := range objs {
		u, err := rb.RetainedUntil(ctx, o.Name)
		if err != nil {
			return time.Time{}, err
		}
		if u.After(latest) {
			latest = u
		}
	}
	if latest.Before(r.opts.now()) {
		return time.Time{}, nil
	}
	return latest, nil
}
