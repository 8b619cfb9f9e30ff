package storage

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

func (e *Engine) backupDir(ctx context.Context, w io.Writer, task *progress.Task, meta *Meta) error {
	// A first, metadata-only walk gives the totals for rate and ETA.
	var bytes, items int64
	_ = filepath.WalkDir(e.loc.Path, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && ctx.Err() == nil {
			items++
			if d.Type().IsRegular() {
				if fi, err := d.Info(); err == nil {
					bytes += fi.Size()
				}
			}
		}
		return ctx.Err()
	})
	task.SetTotal(bytes, items-1)
	st, err := WriteTree(ctx, e.loc.Path, w, task)
	if err != nil {
		return err
	}
	if st.Skipped > 0 {
		e.log.Warn("system-storage: special files (sockets, devices, fifos) skipped", "count", st.Skipped, "dir", e.loc.Path)
	}
	meta.setStats(st)
	return nil
}

func (m *Meta) setStats(st Stats) {
	m.Files, m.Dirs, m.Symlinks, m.Bytes, m.Skipped = st.Files, st.Dirs, st.Symlinks, st.Bytes, st.Skipped
}

// contentTypeRecord keeps an S3 object's Content-Type in the tar (PAX
// xattr record: GNU tar --xattrs and bsdtar understand it, others ignore it).
const contentTypeRecord = "SCHILY.xattr.user.mime_type"

func (e *Engine) s3() (*minio.Client, string, error) {
	l := e.loc.S3
	opts := &minio.Options{Creds: credentials.NewStaticV4(l.AccessKey, l.SecretKey, ""), Secure: !l.Insecure, Region: l.Region}
	if l.PathStyle {
		opts.BucketLookup = minio.BucketLookupPath
	}
	c, err := minio.New(l.Endpoint, opts)
	if err != nil {
		return nil, "", errs.Wrap(errs.Usage, fmt.Errorf("system-storage: S3 endpoint %s: %w", l.Endpoint, err), "check --system-storage s3://HOST[:PORT]/BUCKET/PREFIX")
	}
	prefix := strings.Trim(l.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return c, prefix, nil
}

func (e *Engine) s3Err(op string, err error) error {
	return errs.Wrap(errs.Failure, fmt.Errorf("system-storage: %s S3 bucket %s at %s: %w", op, e.loc.S3.Bucket, e.loc.S3.Endpoint, err),
		"check the bucket, the endpoint and the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the storage secret)")
}

// backupS3 streams every object under the prefix into the tar, one at a
// time, with its key (minus the prefix) as the path, its size, its
// Last-Modified time and its Content-Type. Keys ending in "/" become
// directories.
func (e *Engine) backupS3(ctx context.Context, w io.Writer, task *progress.Task, meta *Meta) error {
	c, prefix, err := e.s3()
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	buf := make([]byte, 1<<20)
	var st Stats
	for obj := range c.ListObjects(ctx, e.loc.S3.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			return e.s3Err("list", obj.Err)
		}
		name := strings.TrimPrefix(obj.Key, prefix)
		if name == "" {
			continue
		}
		if _, err := cleanName(name); err != nil {
			e.log.Warn("system-storage: S3 object with an unsafe name skipped", "key", obj.Key)
			st.Skipped++
			continue
		}
		hdr := &tar.Header{Name: name, ModTime: obj.LastModified, Format: tar.FormatPAX, Mode: 0o644, Typeflag: tar.TypeReg, Size: obj.Size}
		if strings.HasSuffix(name, "/") {
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeDir, 0o755, 0
			if err := tw.WriteHeader(hdr); err != nil {
				return fmt.Errorf("system-storage: archive %s: %w", obj.Key, err)
			}
			st.add(hdr)
			task.AddItems(1)
			continue
		}
		o, err := c.GetObject(ctx, e.loc.S3.Bucket, obj.Key, minio.GetObjectOptions{})
		if err != nil {
			return e.s3Err("read "+obj.Key+" from", err)
		}
		oi, err := o.Stat()
		if err != nil {
			o.Close()
			return e.s3Err("read "+obj.Key+" from", err)
		}
		hdr.Size = oi.Size
		if oi.ContentType != "" {
			hdr.PAXRecords = map[string]string{contentTypeRecord: oi.ContentType}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			o.Close()
			return fmt.Errorf("system-storage: archive %s: %w", obj.Key, err)
		}
		n, err := io.CopyBuffer(progress.Writer{W: tw, Task: task}, o, buf)
		o.Close()
		if err != nil {
			return e.s3Err("read "+obj.Key+" from", err)
		}
		if n != hdr.Size {
			return e.s3Err("read "+obj.Key+" from", fmt.Errorf("got %d bytes, expected %d", n, hdr.Size))
		}
		st.add(hdr)
		task.AddItems(1)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("system-storage: finish tar: %w", err)
	}
	meta.setStats(st)
	return nil
}

func (e *Engine) s3Empty(ctx context.Context) (bool, error) {
	c, prefix, err := e.s3()
	if err != nil {
		return false, err
	}
	ok, err := c.BucketExists(ctx, e.loc.S3.Bucket)
	if err != nil {
		return false, e.s3Err("reach", err)
	}
	if !ok {
		return false, errs.New(errs.Usage, "create the bucket first, or fix --system-storage", "system-storage: S3 bucket %s does not exist at %s", e.loc.S3.Bucket, e.loc.S3.Endpoint)
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	obj, any := <-c.ListObjects(lctx, e.loc.S3.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true, MaxKeys: 1})
	if !any {
		return true, nil
	}
	if obj.Err != nil {
		return false, e.s3Err("list", obj.Err)
	}
	return false, nil
}

// restoreS3 uploads every regular file of the tar as an object (streamed,
// multipart when large), with its Content-Type when the backup recorded
// one. S3 has no directories, modes or links: directories become "name/"
// markers, and a link in the archive is refused (it cannot be stored).
func (e *Engine) restoreS3(ctx context.Context, r io.Reader, task *progress.Task) error {
	c, prefix, err := e.s3()
	if err != nil {
		return err
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return readErr(err)
		}
		name, err := checkHeader(h)
		if err != nil {
			return unsafeErr(err)
		}
		switch h.Typeflag {
		case tar.TypeReg:
			opts := minio.PutObjectOptions{ContentType: h.PAXRecords[contentTypeRecord]}
			if opts.ContentType == "" {
				opts.ContentType = "application/octet-stream"
			}
			if _, err := c.PutObject(ctx, e.loc.S3.Bucket, prefix+name, progress.Reader{R: tr, Task: task}, h.Size, opts); err != nil {
				if errors.Is(err, io.ErrUnexpectedEOF) {
					return readErr(err)
				}
				return e.s3Err("upload "+prefix+name+" to", err)
			}
		case tar.TypeDir:
			if name == "" {
				continue
			}
			if _, err := c.PutObject(ctx, e.loc.S3.Bucket, prefix+name+"/", strings.NewReader(""), 0, minio.PutObjectOptions{}); err != nil {
				return e.s3Err("upload "+prefix+name+"/ to", err)
			}
		case tar.TypeSymlink, tar.TypeLink:
			return errs.New(errs.Usage, "extract the snapshot to a directory (3scale-ops backups export ID system-storage | tar x) and upload it by hand",
				"system-storage: %s is a link, which an S3 bucket cannot hold", h.Name)
		default:
			continue
		}
		task.AddItems(1)
	}
}
