package backup

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/repo"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// genComponent writes deterministic pseudo-random files. It stands for an
// engine in orchestration tests; the engines have their own tests against
// real servers.
type genComponent struct {
	name      string
	files     int
	size      int
	failAfter int           // fail after writing this many bytes (0: never)
	started   chan struct{} // closed once data is flowing (optional)
	hold      chan struct{} // wait for this before finishing (optional)
	throttle  time.Duration // sleep per 64 KiB written
}

func (g *genComponent) Name() string { return g.name }

func (g *genComponent) Backup(ctx context.Context, sink artifact.Sink, task *progress.Task) error {
	task.SetTotal(int64(g.files*g.size), int64(g.files))
	written := 0
	for i := 0; i < g.files; i++ {
		f, err := sink.Create(ctx, fmt.Sprintf("part-%d.bin", i), "bin")
		if err != nil {
			return err
		}
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		buf := make([]byte, 64<<10)
		for left := g.size; left > 0; {
			n := min(left, len(buf))
			for j := 0; j < n; j += 8 {
				v := rng.Uint64()
				for k := 0; k < 8 && j+k < n; k++ {
					buf[j+k] = byte(v >> (8 * k) & 0x3f) // compressible
				}
			}
			if _, err := f.Write(buf[:n]); err != nil {
				return err
			}
			task.AddBytes(int64(n))
			left -= n
			written += n
			if g.started != nil && written >= 64<<10 {
				select {
				case <-g.started:
				default:
					close(g.started)
				}
			}
			if g.failAfter > 0 && written >= g.failAfter {
				return errors.New("source connection reset by peer")
			}
			if g.throttle > 0 {
				select {
				case <-time.After(g.throttle):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		f.SetCount(1)
		if err := f.Close(); err != nil {
			return err
		}
		task.AddItems(1)
	}
	if g.hold != nil {
		select {
		case <-g.hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return sink.Set("generated", map[string]int{"files": g.files, "size": g.size})
}

func localRepo(t *testing.T, opts repo.Options) *repo.Repository {
	t.Helper()
	be, err := repo.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Init(context.Background(), be, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// minioProc is a private MinIO server, for tests that kill it.
type minioProc struct {
	t         *testing.T
	bin, dir  string
	addr      string
	user, key string
	cmd       *exec.Cmd
}

func startMinio(t *testing.T) *minioProc {
	t.Helper()
	home, _ := os.UserHomeDir()
	bins, _ := filepath.Glob(filepath.Join(home, ".cache/3scale-ops/bin/minio-*"))
	if len(bins) == 0 {
		t.Fatal("no MinIO binary in ~/.cache/3scale-ops/bin: run scripts/testenv.sh install")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	m := &minioProc{t: t, bin: bins[len(bins)-1], dir: t.TempDir(), addr: addr,
		user: "backup-test", key: strconv.FormatUint(rand.Uint64(), 16) + "x"}
	m.start()
	t.Cleanup(m.kill)
	c := m.client()
	if err := c.MakeBucket(context.Background(), "repo", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *minioProc) start() {
	m.t.Helper()
	console, _ := net.Listen("tcp", "127.0.0.1:0")
	caddr := console.Addr().String()
	console.Close()
	m.cmd = exec.Command(m.bin, "server", "--quiet", "--address", m.addr, "--console-address", caddr, m.dir)
	m.cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+m.user, "MINIO_ROOT_PASSWORD="+m.key, "MINIO_BROWSER=off")
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	// /minio/health/live answers before the object layer is up ("Server
	// not initialized yet" for a while after a restart on a loaded
	// machine): ready means an S3 request is served.
	deadline := time.Now().Add(60 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + m.addr + "/minio/health/live")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, last = m.client().ListBuckets(cctx)
				cancel()
				if last == nil {
					return
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	m.t.Fatalf("MinIO did not start: %v", last)
}

// kill stops the server at once (SIGKILL), like a crash.
func (m *minioProc) kill() {
	if m.cmd != nil && m.cmd.Process != nil {
		_ = m.cmd.Process.Kill()
		_ = m.cmd.Wait()
		m.cmd = nil
	}
}

func (m *minioProc) client() *minio.Client {
	c, err := minio.New(m.addr, &minio.Options{Creds: credentials.NewStaticV4(m.user, m.key, "")})
	if err != nil {
		m.t.Fatal(err)
	}
	return c
}

func (m *minioProc) backend() *repo.S3 {
	b, err := repo.NewS3(context.Background(), repo.S3Config{Endpoint: m.addr, Bucket: "repo", Prefix: "backups",
		Insecure: true, AccessKey: m.user, SecretKey: m.key, PartSize: 5 << 20})
	if err != nil {
		m.t.Fatal(err)
	}
	return b
}

// sharedS3Repo is a repository on the shared test MinIO.
func sharedS3Repo(t *testing.T, opts repo.Options) *repo.Repository {
	t.Helper()
	e := testenv.Get(t)
	_, bucket := testenv.S3(t)
	be, err := repo.NewS3(context.Background(), repo.S3Config{Endpoint: e.S3Endpoint, Bucket: bucket, Insecure: true,
		AccessKey: e.S3AccessKey, SecretKey: e.S3SecretKey, PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Init(context.Background(), be, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func sha(r io.Reader) string {
	h := sha256.New()
	_, _ = io.Copy(h, r)
	return fmt.Sprintf("%x", h.Sum(nil))
}
