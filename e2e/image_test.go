package e2e

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/schedule"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
)

// `make image` writes an OCI image layout whose config runs the binary as a
// non-root user, carries the labels, is named like the manifests' image,
// and whose binary runs `version` (read with the standard library only,
// as any OCI tool would).
func TestMakeImage(t *testing.T) {
	out := t.TempDir()
	mk := exec.Command("make", "image", "IMAGE_OUT="+out, "VERSION=v0.0.0-imagetest")
	mk.Dir = testenv.RepoRoot()
	if b, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make image: %v\n%s", err, b)
	}
	dir := filepath.Join(out, "image")
	blob := func(digest string, v any) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, "blobs", strings.Replace(digest, ":", "/", 1)))
		if err != nil {
			t.Fatal(err)
		}
		if v != nil {
			if err := json.Unmarshal(b, v); err != nil {
				t.Fatalf("%s: %v", digest, err)
			}
		}
		return b
	}
	var index struct {
		Manifests []struct {
			MediaType   string
			Digest      string
			Annotations map[string]string
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil || json.Unmarshal(b, &index) != nil || len(index.Manifests) != 1 {
		t.Fatalf("index.json: %v %s", err, b)
	}
	m := index.Manifests[0]
	if m.MediaType != "application/vnd.oci.image.manifest.v1+json" || m.Annotations["org.opencontainers.image.ref.name"] != schedule.DefaultImage {
		t.Errorf("index entry = %+v, want an OCI manifest named %s (the manifests' image)", m, schedule.DefaultImage)
	}
	var manifest struct {
		Config struct{ Digest string }
		Layers []struct{ MediaType, Digest string }
	}
	blob(m.Digest, &manifest)
	var config struct {
		OS, Architecture string
		Config           struct {
			Entrypoint []string
			User       string
			Env        []string
			Labels     map[string]string
		}
	}
	blob(manifest.Config.Digest, &config)
	c := config.Config
	if !slices.Equal(c.Entrypoint, []string{"/usr/local/bin/3scale-ops"}) || c.User != "65532:65532" || config.OS != "linux" {
		t.Errorf("config = %+v", config)
	}
	if c.Labels["org.opencontainers.image.version"] != "v0.0.0-imagetest" || c.Labels["org.opencontainers.image.title"] != "3scale-ops" || c.Labels["org.opencontainers.image.revision"] == "" {
		t.Errorf("labels = %v", c.Labels)
	}
	if len(manifest.Layers) != 1 || manifest.Layers[0].MediaType != "application/vnd.oci.image.layer.v1.tar+gzip" {
		t.Fatalf("layers = %+v", manifest.Layers)
	}
	// Unpack the layer; the binary in it runs on its own (static) and has the CA bundle next to it.
	f, err := os.Open(filepath.Join(dir, "blobs", strings.Replace(manifest.Layers[0].Digest, ":", "/", 1)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	files := map[string]int64{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = h.Mode
		if h.Typeflag != tar.TypeReg {
			continue
		}
		p := filepath.Join(root, filepath.FromSlash(h.Name))
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		w, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, os.FileMode(h.Mode))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, tr); err != nil {
			t.Fatal(err)
		}
		w.Close()
	}
	if files["etc/ssl/certs/ca-certificates.crt"] == 0 || files["usr/local/bin/3scale-ops"] != 0o755 || files["tmp/"] != 0o1777 {
		t.Errorf("layer files = %v", files)
	}
	v, err := exec.Command(filepath.Join(root, "usr/local/bin/3scale-ops"), "version").CombinedOutput()
	if err != nil || !strings.Contains(string(v), "v0.0.0-imagetest") {
		t.Fatalf("the binary in the image: %v: %s", err, v)
	}
	if _, err := os.Stat(filepath.Join(out, "3scale-ops-image.tar")); err != nil {
		t.Errorf("no image tarball: %v", err)
	}

	// The image has no pg_dump, and says so: its environment marks it
	// minimal, and a zync-postgres backup run with that environment (and
	// no pg_dump to be found, as in the image) fails before any data is
	// read, naming the image that has one.
	if !slices.Contains(c.Env, "THREESCALE_OPS_IMAGE=minimal") {
		t.Errorf("env = %v, want THREESCALE_OPS_IMAGE=minimal", c.Env)
	}
	for name := range files {
		if strings.HasSuffix(name, "/pg_dump") {
			t.Errorf("the minimal image has %s; the docs say it has no pg_dump", name)
		}
	}
	pg := testenv.Postgres(t)
	backup := exec.Command(filepath.Join(root, "usr/local/bin/3scale-ops"), "--no-progress", "-r", filepath.Join(t.TempDir(), "repo"),
		"--local", "--zync-db-url", pg.URL, "backup", "--components", "zync-postgres")
	backup.Env = append(slices.Clone(c.Env), "KUBECONFIG=/nonexistent", "HOME="+t.TempDir(),
		"THREESCALE_OPS_PG_DUMP="+filepath.Join(root, "usr/bin/pg_dump")) // where a client would be: absent
	msg, err := backup.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(msg), "minimal image of `make image`, which has no pg_dump") ||
		!strings.Contains(string(msg), "docker build") {
		t.Errorf("a zync-postgres backup from the minimal image: %v\n%s", err, msg)
	}
}
