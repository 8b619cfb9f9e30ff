package e2e

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/e2e/fixture"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/minio/minio-go/v7"
)

// TestRestoreS3StorageIntoOtherBucketRewritesAWSAuth: an operator install
// keeps system-storage in an S3 bucket (MinIO; secret aws-auth,
// FILE_UPLOAD_STORAGE=s3). Its restore into another bucket given by
// --system-storage warns, in the plan, that aws-auth's AWS_BUCKET would
// still name the old one; with --rewrite-connections the restored aws-auth
// names the new bucket (every other key as backed up) and the new bucket
// holds the files.
func TestRestoreS3StorageIntoOtherBucketRewritesAWSAuth(t *testing.T) {
	src := newInstall(t)
	rep := src.seed(t)
	mc, bucketA := testenv.S3(t)
	_, bucketB := testenv.S3(t)
	e := testenv.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	files := map[string]string{"provider-name/2026/logo.png": "\x89PNG fake logo", "provider-name/2026/spec.json": `{"openapi":"3.0.0"}`}
	for k, v := range files {
		if _, err := mc.PutObject(ctx, bucketA, k, strings.NewReader(v), int64(len(v)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	c := newCluster(t)
	if _, err := fixture.Install(ctx, c.KC, c.NS, fixture.Options{Kind: fixture.Operator, Dataset: rep, Conns: src.conns(func(c *fixture.Conns) {
		c.S3 = &fixture.S3{Endpoint: e.S3Endpoint, Bucket: bucketA, Region: "us-east-1", AccessKey: e.S3AccessKey, SecretKey: e.S3SecretKey, Insecure: true}
	})}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "workloads settled", func() bool { return c.Sim.Reconcile(ctx) == nil })
	before := c.secrets(t)
	r := localRepo(t)
	r.Env = append(r.Env, "AWS_ACCESS_KEY_ID="+e.S3AccessKey, "AWS_SECRET_ACCESS_KEY="+e.S3SecretKey)
	var flags []string
	for i, f := range c.flags(src) {
		if f == "--system-storage" || (i > 0 && c.flags(src)[i-1] == "--system-storage") {
			continue // from the namespace: FILE_UPLOAD_STORAGE=s3 and aws-auth
		}
		flags = append(flags, f)
	}
	id := strings.TrimSpace(mustRun(t, r, append(flags, "backup")...).Stdout)

	into := append(flags, "--system-storage", "s3://"+e.S3Endpoint+"/"+bucketB+"?insecure=1")
	plan := mustRun(t, r, append(into, "restore", id, "--components", "secrets,system-storage", "--dry-run")...).Stdout
	if w := warnedKeys(t, plan); strings.Join(w["aws-auth"], ",") != "AWS_BUCKET" {
		t.Fatalf("the plan warns about aws-auth keys %v, want AWS_BUCKET:\n%s", w["aws-auth"], plan)
	}
	res := run(t, r, append(into, "restore", id, "--components", "secrets,system-storage", "--rewrite-connections", "--yes", "--no-verify", "--timeout", "2m")...)
	if res.Code != 0 || !strings.Contains(res.Stdout, "aws-auth: data.AWS_BUCKET set to the restore's targets") {
		t.Fatalf("restore of system-storage into another bucket with --rewrite-connections:\n%s", res)
	}
	requireSecrets(t, "secrets after the restore into another bucket", c.secrets(t), before, map[string]map[string]string{"aws-auth": {"AWS_BUCKET": bucketB}})
	for k, v := range files {
		o, err := mc.GetObject(ctx, bucketB, k, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(o)
		if err != nil || !bytes.Equal(got, []byte(v)) {
			t.Errorf("bucket %s object %s = %q, %v; want the backed-up file", bucketB, k, got, err)
		}
	}
}
