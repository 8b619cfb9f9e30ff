package storage_test

import (
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/3scale-ops/3scale-ops/internal/engines"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/kube/kubetest"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/storage"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/minio/minio-go/v7"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func s3Loc(t *testing.T, bucket, prefix string) config.Storage {
	e := testenv.Get(t)
	return config.Storage{Kind: "s3", S3: config.S3Location{Endpoint: e.S3Endpoint, Bucket: bucket, Prefix: prefix,
		AccessKey: e.S3AccessKey, SecretKey: e.S3SecretKey, Insecure: true, PathStyle: true}}
}

type object struct{ data, contentType string }

func listObjects(t *testing.T, c *minio.Client, bucket, prefix string) map[string]object {
	t.Helper()
	ctx := context.Background()
	out := map[string]object{}
	for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		obj, err := c.GetObject(ctx, bucket, o.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(obj)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := obj.Stat()
		obj.Close()
		out[strings.TrimPrefix(o.Key, prefix)] = object{string(b), st.ContentType}
	}
	return out
}

func TestS3RoundTrip(t *testing.T) {
	c, bucket := testenv.S3(t)
	ctx := context.Background()
	objects := map[string]object{
		"provider-name/2024/logo.png":      {strings.Repeat("png", 7000), "image/png"},
		"provider-name/docs/guide.pdf":     {"%PDF-1.4", "application/pdf"},
		"日本語/ファイル.txt":                     {"unicode", "text/plain"},
		"provider-name/empty":              {"", "application/octet-stream"},
		"provider-name/deep/a/b/c/d/e.css": {"body{}", "text/css"},
	}
	for k, o := range objects {
		if _, err := c.PutObject(ctx, bucket, "system/"+k, strings.NewReader(o.data), int64(len(o.data)), minio.PutObjectOptions{ContentType: o.contentType}); err != nil {
			t.Fatal(err)
		}
	}
	// Outside the prefix: must not be taken.
	if _, err := c.PutObject(ctx, bucket, "other/x.txt", strings.NewReader("no"), 2, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}

	mem, meta := backup(t, storage.New(s3Loc(t, bucket, "system"), nil, "", storage.Options{}))
	if meta.Files != int64(len(objects)) || meta.Kind != "s3" || strings.Contains(meta.Source, testenv.Get(t).S3SecretKey) {
		t.Fatalf("meta = %+v", meta)
	}

	// Back into a fresh prefix of the same server.
	dst := storage.New(s3Loc(t, bucket, "restored/system/"), nil, "", storage.Options{})
	if err := dst.Preflight(ctx, mem); err != nil {
		t.Fatalf("preflight: %v", err)
	}
	if _, err := dst.Restore(ctx, mem, progress.NewTask("r")); err != nil {
		t.Fatalf("restore: %v", err)
	}
	got := listObjects(t, c, bucket, "restored/system/")
	if len(got) != len(objects) {
		t.Fatalf("restored %d objects, want %d: %v", len(got), len(objects), keys(got))
	}
	for k, o := range objects {
		if got[k] != o {
			t.Errorf("%s: got %+v, want %+v", k, got[k], o)
		}
	}
	// Not empty any more.
	if err := dst.Preflight(ctx, mem); err == nil || errs.Code(err) != errs.Usage {
		t.Fatalf("preflight on non-empty prefix: %v", err)
	}

	// The S3 snapshot also extracts to a directory.
	dir := t.TempDir()
	if _, err := storage.New(config.Storage{Kind: "dir", Path: dir}, nil, "", storage.Options{}).Restore(ctx, mem, nil); err != nil {
		t.Fatal(err)
	}
	b, err := exec.Command("cat", filepath.Join(dir, "provider-name/docs/guide.pdf")).Output()
	if err != nil || string(b) != "%PDF-1.4" {
		t.Fatalf("extracted file: %q %v", b, err)
	}
}

func TestS3MissingBucket(t *testing.T) {
	mem, _ := backup(t, dirEngine(makeTree(t), storage.Options{}))
	// The tree has symlinks, which S3 cannot hold, but the missing bucket is reported first.
	e := storage.New(s3Loc(t, "no-such-bucket-3scale", ""), nil, "", storage.Options{})
	err := e.Preflight(context.Background(), mem)
	if err == nil || !strings.Contains(err.Error(), "no-such-bucket-3scale") {
		t.Fatalf("err = %v", err)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// podEnv creates a Running system-app pod in a fresh namespace and a fake
// exec endpoint in front of the API server whose "pod filesystem" maps
// /opt/system/public/system to dir.
func podEnv(t *testing.T, dir string) (*kube.Clients, string, *kubetest.Server) {
	t.Helper()
	ns := testenv.Namespace(t)
	srv := kubetest.NewServer(t, testenv.KubeConfig(t), kubetest.LocalCommand(map[string]string{config.PodStoragePath: dir}))
	kc, err := kube.NewClients(srv.Config(), ns)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, err := kc.Typed.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "system-app-1-x7k2p", Labels: map[string]string{"deploymentConfig": "system-app"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "system-master", Image: "system"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status.Phase = corev1.PodRunning
	if _, err := kc.Typed.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return kc, ns, srv
}

func TestPodRoundTrip(t *testing.T) {
	src := makeTree(t)
	kc, ns, srv := podEnv(t, src)
	mem, meta := backup(t, storage.New(config.Storage{Kind: "pod"}, engines.StoragePods(kc, ns), ns, storage.Options{}))
	if meta.Files != 6 || meta.Symlinks != 2 || meta.Pod != "system-app-1-x7k2p" {
		t.Fatalf("meta = %+v", meta)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 || reqs[0].Pod != "system-app-1-x7k2p" || reqs[0].Container != "system-master" ||
		strings.Join(reqs[0].Command, " ") != "tar -C /opt/system/public/system -cf - ." {
		t.Fatalf("exec requests = %+v", reqs)
	}

	// Restore into another "pod" whose storage is an empty directory.
	dst := filepath.Join(t.TempDir(), "pvc")
	if err := exec.Command("mkdir", dst).Run(); err != nil {
		t.Fatal(err)
	}
	kc2, ns2, srv2 := podEnv(t, dst)
	e := storage.New(config.Storage{Kind: "pod"}, engines.StoragePods(kc2, ns2), ns2, storage.Options{})
	ctx := context.Background()
	if err := e.Preflight(ctx, mem); err != nil {
		t.Fatalf("preflight: %v", err)
	}
	if _, err := e.Restore(ctx, mem, nil); err != nil {
		t.Fatalf("restore: %v", err)
	}
	sameTreeUnit(t, src, dst, time.Second)
	if r := srv2.Requests(); len(r) != 2 || strings.Join(r[1].Command, " ") != "tar -xf - -C /opt/system/public/system" || !r[1].Stdin {
		t.Fatalf("exec requests = %+v", r)
	}
	// The pod's storage is no longer empty.
	if err := e.Preflight(ctx, mem); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("preflight on non-empty pod storage: %v", err)
	}
}

func TestPodTarFails(t *testing.T) {
	kc, ns, _ := podEnv(t, filepath.Join(t.TempDir(), "missing"))
	err := storage.New(config.Storage{Kind: "pod"}, engines.StoragePods(kc, ns), ns, storage.Options{}).Backup(context.Background(), artifact.NewMemory(), nil)
	var ee *kube.ExitError
	if err == nil || !strings.Contains(err.Error(), ns+"/system-app-1-x7k2p") || !strings.Contains(err.Error(), "code 2") ||
		!asExit(err, &ee) || errs.Hint(err) == "" {
		t.Fatalf("err = %v (hint %q)", err, errs.Hint(err))
	}
}

func TestPodRestoreRefusesUnsafeArchive(t *testing.T) {
	parent := t.TempDir()
	dst := filepath.Join(parent, "pvc")
	_ = exec.Command("mkdir", dst).Run()
	kc, ns, srv := podEnv(t, dst)
	data := makeTar(t, entry{name: "ok.txt", typ: '0', data: "fine"}, entry{name: "../evil.txt", typ: '0', data: "pwned"})
	_, err := storage.New(config.Storage{Kind: "pod"}, engines.StoragePods(kc, ns), ns, storage.Options{}).Restore(context.Background(), artifactWith(t, data, 1), nil)
	if err == nil || !strings.Contains(err.Error(), "refusing the archive") {
		t.Fatalf("err = %v", err)
	}
	if b, err := exec.Command("ls", "-A", parent).Output(); err != nil || strings.TrimSpace(string(b)) != "pvc" {
		t.Fatalf("parent holds %q (%v)", b, err)
	}
	if r := srv.Requests(); len(r) != 1 {
		t.Fatalf("exec requests = %+v", r)
	}
}

func asExit(err error, target **kube.ExitError) bool {
	for e := err; e != nil; {
		if x, ok := e.(*kube.ExitError); ok {
			*target = x
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}
