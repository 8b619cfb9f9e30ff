package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// lockedBucket creates a bucket with object lock on the test MinIO; its
// retained versions are removed with the governance bypass at the end.
func lockedBucket(t *testing.T) (*minio.Client, string) {
	t.Helper()
	e := testenv.Get(t)
	c, err := minio.New(e.S3Endpoint, &minio.Options{Creds: credentials.NewStaticV4(e.S3AccessKey, e.S3SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	bucket := testenv.Unique("lock-")
	ctx := context.Background()
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{ObjectLocking: true}); err != nil {
		t.Fatalf("create an object-locked bucket: %v", err)
	}
	t.Cleanup(func() {
		for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true, WithVersions: true}) {
			if o.Err == nil {
				_ = c.RemoveObject(ctx, bucket, o.Key, minio.RemoveObjectOptions{VersionID: o.VersionID, GovernanceBypass: true})
			}
		}
		_ = c.RemoveBucket(ctx, bucket)
	})
	return c, bucket
}

// init --object-lock: every snapshot object is retained; a client with
// delete rights cannot remove it early; prune says what retention keeps
// and exits 0; a restore from the bucket with read-only credentials works.
func TestObjectLockedRepository(t *testing.T) {
	e := testenv.Get(t)
	ctx := context.Background()
	useS3(t, e.S3AccessKey, e.S3SecretKey, "")
	_, plainBucket := testenv.S3(t)
	plain := []string{"--local", "--s3-insecure", "-r", "s3://" + e.S3Endpoint + "/" + plainBucket + "/3scale"}
	if _, stderr, code := runCLI(t, append(plain, "init", "--object-lock", "1h")...); code != 2 || !strings.Contains(stderr, "object lock enabled") {
		t.Fatalf("init --object-lock on a bucket without object lock: exit %d\n%s", code, stderr)
	}

	mc, bucket := lockedBucket(t)
	src := storageTree(t)
	flags := []string{"--local", "--s3-insecure", "-r", "s3://" + e.S3Endpoint + "/" + bucket + "/3scale", "--system-storage", "dir://" + src}
	out, stderr, code := runCLI(t, append(flags, "init", "--object-lock", "1h")...)
	if code != 0 || !strings.Contains(out, "object lock GOVERNANCE") {
		t.Fatalf("init --object-lock: exit %d\n%s%s", code, out, stderr)
	}
	var ids []string
	for i := 0; i < 2; i++ {
		out, stderr, code := runCLI(t, append(flags, "backup", "--components", "system-storage")...)
		if code != 0 {
			t.Fatalf("backup into an object-locked bucket: exit %d\n%s", code, stderr)
		}
		ids = append(ids, strings.TrimSpace(out))
	}
	n := 0
	for o := range mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true, WithVersions: true, Prefix: "3scale/snapshots/" + ids[0] + "/"}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		n++
		mode, until, err := mc.GetObjectRetention(ctx, bucket, o.Key, o.VersionID)
		if err != nil || mode == nil || *mode != minio.Governance || until == nil {
			t.Fatalf("%s: retention %v %v %v, want GOVERNANCE", o.Key, mode, until, err)
		}
		// Delete rights are not enough: the retained version stays.
		if err := mc.RemoveObject(ctx, bucket, o.Key, minio.RemoveObjectOptions{VersionID: o.VersionID}); err == nil {
			t.Fatalf("%s: a retained version was deleted before its retention ended", o.Key)
		}
	}
	if n == 0 {
		t.Fatal("the snapshot has no objects")
	}
	if _, err := mc.StatObject(ctx, bucket, "3scale/locks/", minio.StatObjectOptions{}); err == nil {
		t.Fatal("unexpected lock object")
	}

	// The dry run says what prune will do: the retained snapshot is
	// protected, not "would remove", in the table and in -o json.
	out, stderr, code = runCLI(t, append(flags, "backups", "prune", "--keep-last", "1", "--dry-run")...)
	if code != 0 || !strings.Contains(out, "protected") || strings.Contains(out, "would remove") || !strings.Contains(out, "object lock retention until") {
		t.Fatalf("prune --dry-run of a retained snapshot: exit %d, want 0 reporting it protected\n%s%s", code, out, stderr)
	}
	out, stderr, code = runCLI(t, append(flags, "-o", "json", "backups", "prune", "--keep-last", "1", "--dry-run")...)
	var dry struct {
		DryRun    bool `json:"dry_run"`
		Protected []struct {
			ID string `json:"id"`
		} `json:"protected"`
		Removed []string `json:"removed"`
	}
	if err := json.Unmarshal([]byte(out), &dry); code != 0 || err != nil || !dry.DryRun || len(dry.Protected) != 1 || dry.Protected[0].ID != ids[0] || len(dry.Removed) != 0 {
		t.Fatalf("prune --dry-run -o json: exit %d, %v: %+v\n%s%s", code, err, dry, out, stderr)
	}
	out, stderr, code = runCLI(t, append(flags, "backups", "prune", "--keep-last", "1")...)
	if code != 0 || !strings.Contains(out, "protected") || !strings.Contains(out, ids[0]) || !strings.Contains(out, "object lock retention until") {
		t.Fatalf("prune of a retained snapshot: exit %d, want 0 reporting it protected\n%s%s", code, out, stderr)
	}
	out, _, _ = runCLI(t, append(flags, "backups", "list")...)
	if !strings.Contains(out, ids[0]) {
		t.Fatalf("the retained snapshot is gone from the list after prune:\n%s", out)
	}

	v := readOnlyS3(t)
	useS3(t, v.AccessKeyID, v.SecretAccessKey, v.SessionToken)
	dst := t.TempDir()
	ro := []string{"--local", "--s3-insecure", "-r", flags[3], "--system-storage", "dir://" + dst, "--state-dir", t.TempDir()}
	if _, stderr, code := runCLI(t, append(ro, "restore", ids[0], "--yes", "--no-verify")...); code != 0 {
		t.Fatalf("restore from the object-locked bucket with read-only credentials: exit %d\n%s", code, stderr)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "provider/attachments/a.pdf")); err != nil || string(b) != "%PDF-1.4 hello" {
		t.Fatalf("restored file: %q %v", b, err)
	}
}
