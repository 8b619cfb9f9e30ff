// Command storage-bench measures a system-storage backup through the
// 3scale-ops repository pipeline (tar stream → sha256 → zstd → repository,
// here a local directory or the test environment's S3) against
// `tar c | zstd -T0` and `tar c | gzip` on the same generated tree in the
// same run, and prints a markdown table with throughput and the peak RSS
// of each (our pipeline runs in a child process so that its RSS is its
// own; for the shell pipelines, the largest process of the pipeline).
//
// Encrypted repositories are measured with a passphrase (age scrypt) and
// with an age recipient key (no scrypt), against restic when installed.
//
//	go run ./bench/storage -sizes 100,2000          # MB of files
//	go run ./bench/storage -sizes 100 -s3           # also our pipeline into S3
//	go run ./bench/storage -sizes 100 -profile DIR  # CPU and heap profiles of ours
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"filippo.io/age"
	"github.com/3scale-ops/3scale-ops/bench/internal/benchsum"
	"github.com/3scale-ops/3scale-ops/internal/backup"
	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/3scale-ops/3scale-ops/internal/repo"
	"github.com/3scale-ops/3scale-ops/internal/storage"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

func main() {
	sizes := flag.String("sizes", "100,2000", "tree sizes in MB, comma-separated")
	useS3 := flag.Bool("s3", false, "also back up into the test environment's S3 (make testenv-up)")
	child := flag.String("child", "", "internal: local|s3")
	src := flag.String("src", "", "internal: source tree")
	dst := flag.String("dst", "", "internal: repository location")
	profile := flag.String("profile", "", "write CPU and heap profiles of each of our backups into this directory (go tool pprof)")
	flag.Parse()
	if *child != "" {
		if err := runChild(*src, *dst, *profile); err != nil {
			log.Fatal(err)
		}
		return
	}
	work, err := os.MkdirTemp("", "storage-bench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)

	type row struct {
		size, tool               string
		secs, mbps, outMB, rssMB float64
	}
	var rows []row
	for _, s := range strings.Split(*sizes, ",") {
		mb, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			log.Fatalf("-sizes: %v", err)
		}
		tree := filepath.Join(work, "tree")
		total, files := generate(tree, int64(mb)<<20)
		label := fmt.Sprintf("%d MB (%d files)", mb, files)
		add := func(tool string, d time.Duration, out int64, rss int64) {
			rows = append(rows, row{label, tool, d.Seconds(), float64(total) / (1 << 20) / d.Seconds(), float64(out) / (1 << 20), float64(rss) / 1024})
		}
		dropCaches(tree)

		repoDir := filepath.Join(work, "repo")
		runSelf := func(mode, src, dst, name string) (time.Duration, int64) {
			return runChild1(mode, src, dst, *profile, fmt.Sprintf("%dmb-%s", mb, name))
		}
		d, rss := runSelf("local", tree, repoDir, "plain")
		add("3scale-ops backup → local repo (zstd)", d, dirSize(repoDir), rss)
		os.RemoveAll(repoDir)
		// Encrypted with a passphrase, into a fresh repository: init wraps
		// the repository key with age scrypt (work factor 18: 256 MiB by
		// the algorithm's definition, 128·r·N bytes).
		os.Setenv("BENCH_PASSPHRASE", "bench passphrase, not secret")
		d, rss = runSelf("local", tree, repoDir, "pass-new")
		add("3scale-ops backup → new encrypted local repo (passphrase: scrypt at init)", d, dirSize(repoDir), rss)
		// The same into the now existing repository: one scrypt to open it.
		d, rss = runSelf("local", tree, repoDir, "pass-existing")
		add("3scale-ops backup → existing encrypted local repo (passphrase: scrypt to open)", d, dirSize(repoDir)/2, rss)
		os.RemoveAll(repoDir)
		// The same at --kdf-work-factor 16 (64 MiB), for a job with a
		// small memory limit.
		os.Setenv("BENCH_KDF_WORK_FACTOR", "16")
		d, rss = runSelf("local", tree, repoDir, "pass16-new")
		add("3scale-ops backup → new encrypted local repo (passphrase, --kdf-work-factor 16)", d, dirSize(repoDir), rss)
		os.Unsetenv("BENCH_KDF_WORK_FACTOR")
		os.Unsetenv("BENCH_PASSPHRASE")
		os.RemoveAll(repoDir)
		// Encrypted to an age recipient and opened with its identity (an
		// X25519 key, no scrypt): what a backup job with a key file pays.
		id, err := age.GenerateX25519Identity()
		if err != nil {
			log.Fatal(err)
		}
		os.Setenv("BENCH_IDENTITY", id.String())
		d, rss = runSelf("local", tree, repoDir, "key-new")
		add("3scale-ops backup → new encrypted local repo (age recipient key, no scrypt)", d, dirSize(repoDir), rss)
		d, rss = runSelf("local", tree, repoDir, "key-existing")
		add("3scale-ops backup → existing encrypted local repo (age recipient key, no scrypt)", d, dirSize(repoDir)/2, rss)
		os.Unsetenv("BENCH_IDENTITY")
		os.RemoveAll(repoDir)
		if _, err := exec.LookPath("restic"); err == nil {
			os.Setenv("RESTIC_PASSWORD", "bench passphrase, not secret")
			d, rss = runShell(fmt.Sprintf("restic -q -r %q init >/dev/null && restic -q -r %q backup %q >/dev/null", repoDir, repoDir, tree))
			add("restic init + backup → new local repo (encrypted, zstd auto)", d, dirSize(repoDir), rss)
			d, rss = runShell(fmt.Sprintf("restic -q -r %q backup --force %q >/dev/null", repoDir, tree))
			add("restic backup --force → existing local repo (re-reads every file)", d, dirSize(repoDir)/2, rss)
			os.Unsetenv("RESTIC_PASSWORD")
			os.RemoveAll(repoDir)
		}

		if *useS3 {
			loc, cleanup := s3Location()
			d, rss := runSelf("s3", tree, loc, "s3")
			add("3scale-ops backup → S3 repo (zstd)", d, s3Size(loc), rss)
			cleanup()
		}

		out := filepath.Join(work, "out")
		d, rss = runShell(fmt.Sprintf("tar c -C %q . | zstd -q -T0 -3 > %q", tree, out))
		add("tar c \\| zstd -T0 -3", d, fileSize(out), rss)
		d, rss = runShell(fmt.Sprintf("tar c -C %q . | gzip -6 > %q", tree, out))
		add("tar c \\| gzip -6", d, fileSize(out), rss)
		os.Remove(out)
		os.RemoveAll(tree)
	}
	for _, r := range rows {
		if strings.HasPrefix(r.tool, "3scale-ops") {
			for _, b := range rows {
				if b.size == r.size && (strings.HasPrefix(b.tool, "restic init") && strings.Contains(r.tool, "new encrypted") ||
					strings.HasPrefix(b.tool, "restic backup --force") && strings.Contains(r.tool, "existing encrypted") ||
					strings.HasPrefix(b.tool, "tar c \\| zstd") && strings.Contains(r.tool, "local repo (zstd)")) {
					benchsum.Row("system-storage backup "+strings.TrimPrefix(r.tool, "3scale-ops backup "), r.size, r.secs, b.secs, "`"+b.tool+"`", fmt.Sprintf("%.0f MiB", r.rssMB), fmt.Sprintf("%.0f MiB", b.rssMB))
				}
			}
		}
	}
	fmt.Printf("\nstorage backup, %d CPUs (GOMAXPROCS %d)\n\n", runtime.NumCPU(), runtime.GOMAXPROCS(0))
	fmt.Println("| data | tool | time (s) | throughput (MB/s) | output (MB) | peak RSS (MB) |")
	fmt.Println("|---|---|---:|---:|---:|---:|")
	for _, r := range rows {
		fmt.Printf("| %s | %s | %.2f | %.1f | %.1f | %.1f |\n", r.size, r.tool, r.secs, r.mbps, r.outMB, r.rssMB)
	}
}

// generate writes a tree like system-storage: many small attachments and
// some larger ones; half of each file incompressible (images, PDFs), half
// text. It returns the bytes and files written.
func generate(root string, total int64) (int64, int) {
	rng := rand.New(rand.NewPCG(1, 2))
	var written int64
	files := 0
	buf := make([]byte, 8<<20)
	text := []byte(strings.Repeat("account 42 plan gold invoice line item amount 19.99 EUR\n", 200))
	for written < total {
		size := int64(16<<10 + rng.IntN(512<<10))
		if rng.IntN(20) == 0 {
			size = int64(1<<20 + rng.IntN(7<<20))
		}
		size = min(size, total-written)
		dir := filepath.Join(root, "provider", strconv.Itoa(files/200), "attachments")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			log.Fatal(err)
		}
		b := buf[:size]
		half := int(size / 2)
		for i := 0; i+8 <= half; i += 8 {
			v := rng.Uint64()
			for k := 0; k < 8; k++ {
				b[i+k] = byte(v >> (8 * k))
			}
		}
		for i := half; i < int(size); i += len(text) {
			copy(b[i:], text)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("file-%d.bin", files)), b, 0o644); err != nil {
			log.Fatal(err)
		}
		written += size
		files++
	}
	return written, files
}

// dropCaches only syncs: the runs read a tree that is equally warm for each tool.
func dropCaches(string) { syscall.Sync() }

func runChild1(mode, src, dst, profDir, name string) (time.Duration, int64) {
	args := []string{"-child", mode, "-src", src, "-dst", dst}
	if profDir != "" {
		args = append(args, "-profile", filepath.Join(profDir, name))
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		log.Fatalf("our backup (%s): %v", mode, err)
	}
	return time.Since(start), cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
}

func runShell(script string) (time.Duration, int64) {
	cmd := exec.Command("sh", "-c", "set -e; "+script)
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		log.Fatalf("%s: %v", script, err)
	}
	// wait4's rusage covers the shell's waited-for children: the largest
	// process of the pipeline.
	return time.Since(start), cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
}

func runChild(src, dst, profile string) error {
	ctx := context.Background()
	if profile != "" {
		// Sampled every 4 KiB, so that the heap profile shows what peaks.
		stop, err := benchsum.StartProfile(profile, 4096)
		if err != nil {
			return err
		}
		defer stop()
	}
	be, err := repo.OpenBackend(ctx, dst, repo.BackendOptions{S3Insecure: true})
	if err != nil {
		return err
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(80 << 20) // as cmd/3scale-ops does
	}
	keys := repo.Keys{Passphrase: os.Getenv("BENCH_PASSPHRASE")}
	if f, err := strconv.Atoi(os.Getenv("BENCH_KDF_WORK_FACTOR")); err == nil {
		keys.ScryptWorkFactor = f
	}
	if s := os.Getenv("BENCH_IDENTITY"); s != "" {
		id, err := age.ParseX25519Identity(s)
		if err != nil {
			return err
		}
		keys.Recipients = []string{id.Recipient().String()}
		keys.Identities = []age.Identity{id}
	}
	start := time.Now()
	r, _, err := repo.OpenOrInit(ctx, be, repo.Options{Keys: keys, ToolVersion: "bench"})
	if err != nil {
		return err
	}
	opened := time.Now()
	eng := storage.New(config.Storage{Kind: "dir", Path: src}, nil, "", storage.Options{})
	_, err = backup.Run(ctx, r, []backup.Component{eng}, backup.Options{Logger: slog.New(slog.DiscardHandler)})
	if profile != "" {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		fmt.Fprintf(os.Stderr, "%s: open/init %.2f s, backup %.2f s, CPU user %.2f s sys %.2f s\n", filepath.Base(profile),
			opened.Sub(start).Seconds(), time.Since(opened).Seconds(), time.Duration(ru.Utime.Nano()).Seconds(), time.Duration(ru.Stime.Nano()).Seconds())
	}
	return err
}

func s3Location() (string, func()) {
	e, err := testenv.Load()
	if err != nil {
		log.Fatal(err)
	}
	os.Setenv("AWS_ACCESS_KEY_ID", e.S3AccessKey)
	os.Setenv("AWS_SECRET_ACCESS_KEY", e.S3SecretKey)
	c, err := minio.New(e.S3Endpoint, &minio.Options{Creds: credentials.NewStaticV4(e.S3AccessKey, e.S3SecretKey, "")})
	if err != nil {
		log.Fatal(err)
	}
	bucket := testenv.Unique("bench-")
	ctx := context.Background()
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		log.Fatal(err)
	}
	return "s3://" + e.S3Endpoint + "/" + bucket + "/repo", func() {
		for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
			_ = c.RemoveObject(ctx, bucket, o.Key, minio.RemoveObjectOptions{})
		}
		_ = c.RemoveBucket(ctx, bucket)
	}
}

func s3Size(loc string) int64 {
	be, err := repo.OpenBackend(context.Background(), loc, repo.BackendOptions{S3Insecure: true})
	if err != nil {
		return 0
	}
	objs, _ := be.List(context.Background(), "")
	var n int64
	for _, o := range objs {
		n += o.Size
	}
	return n
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}
