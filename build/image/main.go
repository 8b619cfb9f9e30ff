// Command image writes the 3scale-ops container image without a container
// engine: one layer holding the static binary and the CA certificates,
// running as a non-root user, written as an OCI image layout (a directory)
// and as a tarball that `crane push`, `skopeo copy` or `docker load` take.
// It is run by `make image`; it never pushes anything itself.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	binPath = "/usr/local/bin/3scale-ops"
	caPath  = "/etc/ssl/certs/ca-certificates.crt"
	user    = "65532:65532"
)

func main() {
	bin := flag.String("binary", "bin/3scale-ops-linux-amd64", "static linux binary to put in the image")
	ca := flag.String("ca", "/etc/ssl/certs/ca-certificates.crt", "CA certificate bundle to put in the image")
	ref := flag.String("name", "quay.io/3scale-ops/3scale-ops:latest", "image name (as in the manifests)")
	version := flag.String("version", "dev", "version label")
	revision := flag.String("revision", "unknown", "revision label (git commit)")
	arch := flag.String("arch", "amd64", "architecture of the binary")
	out := flag.String("layout", "bin/image", "OCI image layout directory to write")
	tarOut := flag.String("tar", "bin/3scale-ops-image.tar", "image tarball to write")
	flag.Parse()
	if err := run(*bin, *ca, *ref, *version, *revision, *arch, *out, *tarOut); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(bin, ca, ref, version, revision, arch, out, tarOut string) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("image name %q: %w", ref, err)
	}
	layer, err := rootfs(bin, ca)
	if err != nil {
		return err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: types.OCILayer})
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()} // reproducible
	cf.Config.Entrypoint = []string{binPath}
	cf.Config.User = user
	cf.Config.WorkingDir = "/"
	// THREESCALE_OPS_IMAGE=minimal: no pg_dump here; the binary's error
	// for a zync-postgres backup says which image has one.
	cf.Config.Env = []string{"TMPDIR=/tmp", "SSL_CERT_FILE=" + caPath, "THREESCALE_OPS_IMAGE=minimal"}
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.title":       "3scale-ops",
		"org.opencontainers.image.description": "Backup, restore and operations for Red Hat 3scale API Management",
		"org.opencontainers.image.version":     version,
		"org.opencontainers.image.revision":    revision,
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	p, err := layout.Write(out, empty.Index)
	if err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag.String()})); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := tarball.WriteToFile(tarOut, tag, img); err != nil {
		return fmt.Errorf("write %s: %w", tarOut, err)
	}
	d, _ := img.Digest()
	fmt.Printf("%s %s\nOCI layout: %s\ntarball: %s\n", tag, d, out, tarOut)
	return nil
}

// rootfs is the image's only layer: the binary, the CA bundle and a
// world-writable /tmp, owned by root and readable by the non-root user.
func rootfs(bin, ca string) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0).UTC()
	for _, d := range []struct {
		name string
		mode int64
	}{{"etc/", 0o755}, {"etc/ssl/", 0o755}, {"etc/ssl/certs/", 0o755}, {"usr/", 0o755}, {"usr/local/", 0o755}, {"usr/local/bin/", 0o755}, {"tmp/", 0o1777}} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d.name, Mode: d.mode, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct {
		src, dst string
		mode     int64
	}{{bin, binPath[1:], 0o755}, {ca, caPath[1:], 0o644}} {
		if err := addFile(tw, f.src, f.dst, f.mode, epoch); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }, tarball.WithMediaType(types.OCILayer))
}

func addFile(tw *tar.Writer, src, dst string, mode int64, t time.Time) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: dst, Mode: mode, Size: st.Size(), ModTime: t}); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}
