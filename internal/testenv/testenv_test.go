package testenv

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/redis/go-redis/v9"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// TestEnvironment proves every server of the environment answers and that
// each helper hands out a working, isolated piece of it.
func TestEnvironment(t *testing.T) {
	ctx := context.Background()
	t.Run("mysql", func(t *testing.T) {
		d := MySQL(t)
		db, err := sql.Open("mysql", d.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var name string
		if err := db.QueryRow("SELECT DATABASE()").Scan(&name); err != nil || name != d.Name {
			t.Fatalf("DATABASE() = %q, %v; want %q", name, err, d.Name)
		}
		if !strings.HasPrefix(d.URL, "mysql2://root:") {
			t.Fatalf("URL form: %q", d.URL)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		d := Postgres(t)
		c, err := pgx.Connect(ctx, d.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		var name string
		if err := c.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil || name != d.Name {
			t.Fatalf("current_database() = %q, %v", name, err)
		}
	})
	t.Run("redis-restart-keeps-aof-data", func(t *testing.T) {
		r := StartRedis(t, RedisOptions{AppendOnly: true})
		opt, _ := redis.ParseURL(r.URL)
		c := redis.NewClient(opt)
		if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		c.Close()
		r.Restart()
		c = redis.NewClient(opt)
		defer c.Close()
		if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
			t.Fatalf("after restart: %q, %v", v, err)
		}
		if _, err := os.Stat(filepath.Join(r.Dir, "appendonlydir")); err != nil {
			t.Fatalf("no AOF directory: %v", err)
		}
	})
	t.Run("s3", func(t *testing.T) {
		c, bucket := S3(t)
		if _, err := c.PutObject(ctx, bucket, "a/b", strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("kube-crds", func(t *testing.T) {
		ns := Namespace(t)
		dyn := dynamic.NewForConfigOrDie(KubeConfig(t))
		for _, gvr := range []schema.GroupVersionResource{
			{Group: "apps.openshift.io", Version: "v1", Resource: "deploymentconfigs"},
			{Group: "route.openshift.io", Version: "v1", Resource: "routes"},
			{Group: "apps.3scale.net", Version: "v1alpha1", Resource: "apimanagers"},
		} {
			if _, err := dyn.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{}); err != nil {
				t.Errorf("%s: %v", gvr.Resource, err)
			}
		}
	})
}
