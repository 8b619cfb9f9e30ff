package repo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config locates a repository in an S3 bucket.
type S3Config struct {
	Endpoint  string // host[:port]
	Bucket    string
	Prefix    string // "" or a path inside the bucket
	Region    string // "" = $AWS_REGION / $AWS_DEFAULT_REGION / auto
	Insecure  bool   // plain http
	PartSize  uint64 // multipart part size: the upload buffer per stream (default 16 MiB)
	AccessKey string // empty: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws/credentials, then IAM
	SecretKey string
}

// S3 is a Backend in an S3 bucket (minio-go). Objects are uploaded as
// multipart streams with one bounded part buffer each; an upload that
// fails or is cancelled is aborted and never becomes visible.
type S3 struct {
	c        *minio.Client
	bucket   string
	prefix   string // "" or ends with "/"
	partSize uint64
	endpoint string

	retainMode string        // object lock: GOVERNANCE or COMPLIANCE
	retainFor  time.Duration // object lock: retention of snapshot objects (0: none)
}

// DefaultS3PartSize bounds the memory of one upload (and, with S3's limit
// of 10,000 parts, the object size to 156 GiB).
const DefaultS3PartSize = 16 << 20

// NewS3 connects to the bucket; it does not create it.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	var creds *credentials.Credentials
	if cfg.AccessKey != "" {
		creds = credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, "")
	} else {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{}, &credentials.EnvMinio{},
			&credentials.FileAWSCredentials{}, &credentials.IAM{},
		})
	}
	region := cfg.Region
	if region == "" {
		region = os.Getenv("AWS_REGION")
	}
	if region == "" {
		region = os.Getenv("AWS_DEFAULT_REGION")
	}
	c, err := minio.New(cfg.Endpoint, &minio.Options{Creds: creds, Secure: !cfg.Insecure, Region: region})
	if err != nil {
		return nil, fmt.Errorf("S3 endpoint %s: %w", cfg.Endpoint, err)
	}
	prefix := strings.Trim(cfg.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	ps := cfg.PartSize
	if ps == 0 {
		ps = DefaultS3PartSize
	}
	return &S3{c: c, bucket: cfg.Bucket, prefix: prefix, partSize: ps, endpoint: cfg.Endpoint}, nil
}

func (s *S3) Location() string {
	return "s3://" + s.endpoint + "/" + s.bucket + "/" + strings.TrimSuffix(s.prefix, "/")
}

func (s *S3) key(name string) (string, error) {
	if err := cleanName(name); err != nil {
		return "", err
	}
	return s.prefix + name, nil
}

func (s *S3) wrap(op, name string, err error) error {
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		switch er.Code {
		case "NoSuchKey":
			return fmt.Errorf("%s: %w", name, ErrNotFound)
		case "NoSuchBucket":
			return fmt.Errorf("%s %s: bucket %q does not exist in %s; create it first", op, name, s.bucket, s.endpoint)
		case "AccessDenied":
			if op == "upload" || op == "delete" {
				return fmt.Errorf("%s %s in %s: %s: %w (check the bucket policy)", op, name, s.Location(), er.Code, ErrReadOnly)
			}
			return fmt.Errorf("%s %s in %s: %s (check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and the bucket policy)", op, name, s.Location(), er.Code)
		case "InvalidAccessKeyId", "SignatureDoesNotMatch":
			return fmt.Errorf("%s %s in %s: %s (check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and the bucket policy)", op, name, s.Location(), er.Code)
		}
	}
	return fmt.Errorf("%s %s in %s: %w", op, name, s.Location(), err)
}

func (s *S3) Put(ctx context.Context, name string, r io.Reader) error {
	k, err := s.key(name)
	if err != nil {
		return err
	}
	_, err = s.c.PutObject(ctx, s.bucket, k, r, -1, s.putOptions(name, minio.PutObjectOptions{
		PartSize: s.partSize, ContentType: "application/octet-stream",
	}))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return s.wrap("upload", name, err)
	}
	return nil
}

func (s *S3) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	k, err := s.key(name)
	if err != nil {
		return nil, err
	}
	o, err := s.c.GetObject(ctx, s.bucket, k, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.wrap("download", name, err)
	}
	if _, err := o.Stat(); err != nil {
		o.Close()
		return nil, s.wrap("download", name, err)
	}
	return o, nil
}

func (s *S3) Stat(ctx context.Context, name string) (ObjectInfo, error) {
	k, err := s.key(name)
	if err != nil {
		return ObjectInfo{}, err
	}
	st, err := s.c.StatObject(ctx, s.bucket, k, minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, s.wrap("stat", name, err)
	}
	return ObjectInfo{Name: name, Size: st.Size}, nil
}

func (s *S3) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	var out []ObjectInfo
	for o := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, s.wrap("list", prefix+"*", o.Err)
		}
		out = append(out, ObjectInfo{Name: strings.TrimPrefix(o.Key, s.prefix), Size: o.Size})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *S3) Delete(ctx context.Context, name string) error {
	k, err := s.key(name)
	if err != nil {
		return err
	}
	if err := s.c.RemoveObject(ctx, s.bucket, k, minio.RemoveObjectOptions{}); err != nil {
		if errors.Is(s.wrap("delete", name, err), ErrNotFound) {
			return nil
		}
		return s.wrap("delete", name, err)
	}
	return nil
}
