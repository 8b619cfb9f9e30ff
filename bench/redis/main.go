// Command redis-bench compares the Redis engine of 3scale-ops with the
// standard tools on the same data in the same run: backup (replication
// SYNC, disk-based and diskless) against `redis-cli --rdb` and against the
// server's own BGSAVE (the physical limit: the fork and the RDB write),
// replay restore against `redis-cli --pipe` loading the same data as plain
// commands, with the peak RSS of each. It starts its own redis-server
// processes in a temporary directory, the source configured like the
// 3scale redis-config (appendonly yes, save 900 1 / 300 10 / 60 10000,
// Redis' own replication defaults: repl-diskless-sync yes, delay 5 s), and
// prints a markdown table.
//
//	go run ./bench/redis -keys 2000000
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/3scale-ops/3scale-ops/bench/internal/benchsum"
	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/rdb"
	"github.com/redis/go-redis/v9"
)

func main() {
	keys := flag.Int("keys", 2000000, "approximate number of keys")
	runs := flag.Int("runs", 3, "runs of each measurement (the median is shown)")
	small := flag.Bool("small", true, "also measure at a tenth of -keys")
	child := flag.String("child", "", "internal: backup|restore")
	transfer := flag.String("transfer", "", "internal: backup transfer mode")
	addr := flag.String("addr", "", "internal: redis address")
	dir := flag.String("dir", "", "internal: artifact directory")
	flag.Parse()
	if *child != "" {
		if err := runChild(*child, *addr, *dir, *transfer); err != nil {
			log.Fatal(err)
		}
		return
	}
	work, err := os.MkdirTemp("", "redis-bench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	fmt.Printf("| keys | operation | tool | median time | runs (s) | peak RSS | server CPU (median) |\n|---:|---|---|---:|---|---:|---:|\n")
	sizes := []int{*keys / 10, *keys}
	if !*small {
		sizes = sizes[1:]
	}
	for _, n := range sizes {
		if err := runSize(work, n, *runs); err != nil {
			log.Fatal(err)
		}
	}
}

func runSize(work string, n, runs int) error {
	base := filepath.Join(work, strconv.Itoa(n))
	os.MkdirAll(base, 0o755)
	defer os.RemoveAll(base)
	cmds := filepath.Join(base, "data.resp")
	if err := generate(cmds, n); err != nil {
		return err
	}
	ctx := context.Background()
	// Baseline load: redis-cli --pipe of the plain commands into an empty
	// appendonly server; one more unmeasured load fills the backup source.
	src, err := startRedis(filepath.Join(base, "src"), true, "--save", "900 1 300 10 60 10000")
	if err != nil {
		return err
	}
	defer src.stop()
	srcc := redis.NewClient(&redis.Options{Addr: src.addr})
	defer srcc.Close()
	var pipe, cli, bgsave, disk, diskless, restore []measure
	// Every measured load goes into a new, empty appendonly server, as a
	// restore into new servers does: a server reused across runs would
	// carry the previous runs' AOF (and its automatic rewrites) into the
	// next measurement.
	for i := 0; i <= runs; i++ {
		dst := src
		if i < runs {
			var err error
			if dst, err = startRedis(filepath.Join(base, "pipe"+strconv.Itoa(i)), true); err != nil {
				return err
			}
		}
		load := func() (measure, error) {
			return timed(func() *exec.Cmd {
				c := exec.Command("redis-cli", "-h", "127.0.0.1", "-p", dst.port, "--pipe")
				c.Stdin, _ = os.Open(cmds)
				return c
			})
		}
		m, err := onServer(dst.cmd.Process.Pid, load)
		if i < runs { // the last load fills the backup source, unmeasured
			dst.stop()
			pipe = append(pipe, m)
		}
		if err != nil {
			return fmt.Errorf("redis-cli --pipe: %w", err)
		}
	}
	keys := srcc.DBSize(ctx).Val()
	art := filepath.Join(base, "artifact")
	for i := 0; i < runs; i++ {
		// Each measurement starts with no fork running: a replica that
		// arrives while the previous transfer's child still exits waits
		// for the next BGSAVE (and repl-diskless-sync-delay) whatever it
		// announces.
		if err := waitNoChild(ctx, srcc); err != nil {
			return err
		}
		m, err := timed(func() *exec.Cmd {
			return exec.Command("redis-cli", "-h", "127.0.0.1", "-p", src.port, "--rdb", filepath.Join(base, "cli.rdb"))
		})
		if err != nil {
			return fmt.Errorf("redis-cli --rdb: %w", err)
		}
		cli = append(cli, m)
		if err := waitNoChild(ctx, srcc); err != nil {
			return err
		}
		if m, err = bgSave(ctx, srcc); err != nil {
			return fmt.Errorf("BGSAVE: %w", err)
		}
		bgsave = append(bgsave, m)
		if err := waitNoChild(ctx, srcc); err != nil {
			return err
		}
		if m, err = timed(func() *exec.Cmd { return self("backup", src.addr, art, "diskless") }); err != nil {
			return fmt.Errorf("3scale-ops backup --redis-transfer diskless: %w", err)
		}
		diskless = append(diskless, m)
		// auto last: its artifact is the one restored below.
		if err := waitNoChild(ctx, srcc); err != nil {
			return err
		}
		if m, err = timed(func() *exec.Cmd { return self("backup", src.addr, art, "auto") }); err != nil {
			return fmt.Errorf("3scale-ops backup: %w", err)
		}
		disk = append(disk, m)
	}
	for i := 0; i < runs; i++ {
		dst, err := startRedis(filepath.Join(base, "dst"+strconv.Itoa(i)), true)
		if err != nil {
			return err
		}
		m, err := onServer(dst.cmd.Process.Pid, func() (measure, error) {
			return timed(func() *exec.Cmd { return self("restore", dst.addr, art) })
		})
		dstc := redis.NewClient(&redis.Options{Addr: dst.addr})
		got := dstc.DBSize(ctx).Val()
		dstc.Close()
		dst.stop()
		if err != nil {
			return fmt.Errorf("3scale-ops restore: %w", err)
		}
		if got != keys {
			return fmt.Errorf("restored %d keys, source has %d", got, keys)
		}
		restore = append(restore, m)
	}
	row(keys, "backup", "server's own BGSAVE (fork + RDB write; the limit)", bgsave)
	row(keys, "backup", "redis-cli --rdb", cli)
	row(keys, "backup", "3scale-ops diskless (--redis-transfer diskless)", diskless)
	row(keys, "backup", "3scale-ops auto = disk-based (default; validated on the fly)", disk)
	data := fmt.Sprintf("%d keys", keys)
	summary("Redis backup", data, disk, bgsave, "server's own `BGSAVE` (the limit)")
	summary("Redis backup", data, disk, cli, "`redis-cli --rdb`")
	summary("Redis backup (--redis-transfer diskless)", data, diskless, cli, "`redis-cli --rdb`")
	fmt.Printf("| %d | backup ratio | 3scale-ops auto vs redis-cli --rdb | **%.2f×** faster | | | |\n", keys, median(cli)/median(disk))
	fmt.Printf("| %d | backup ratio | 3scale-ops auto vs BGSAVE | %.2f× of BGSAVE time | | | |\n", keys, median(disk)/median(bgsave))
	row(keys, "load into empty appendonly Redis", "redis-cli --pipe (plain commands)", pipe)
	row(keys, "load into empty appendonly Redis", "3scale-ops replay (CRC pass + RESTORE + AOF fsync)", restore)
	summary("Redis replay restore", data, restore, pipe, "`redis-cli --pipe`")
	fmt.Printf("| %d | restore ratio | 3scale-ops replay vs redis-cli --pipe | %.2f× | | | |\n", keys, median(pipe)/median(restore))
	return nil
}

func median(ms []measure) float64 {
	ds := make([]float64, len(ms))
	for i, m := range ms {
		ds[i] = m.d.Seconds()
	}
	sort.Float64s(ds)
	return ds[len(ds)/2]
}

// waitNoChild waits until the server runs no fork (BGSAVE, AOF rewrite,
// replication transfer).
func waitNoChild(ctx context.Context, c *redis.Client) error {
	for {
		info, err := c.Info(ctx, "persistence").Result()
		if err != nil {
			return err
		}
		// rdb_bgsave_in_progress covers replication children too.
		if strings.Contains(info, "rdb_bgsave_in_progress:0") && strings.Contains(info, "aof_rewrite_in_progress:0") {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// bgSave times the server's own BGSAVE: from the command until INFO
// persistence shows it finished (polled every 5 ms). RSS is the server's.
func bgSave(ctx context.Context, c *redis.Client) (measure, error) {
	start := time.Now()
	if err := c.BgSave(ctx).Err(); err != nil {
		return measure{}, err
	}
	for {
		info, err := c.Info(ctx, "persistence").Result()
		if err != nil {
			return measure{}, err
		}
		if strings.Contains(info, "rdb_bgsave_in_progress:0") {
			if !strings.Contains(info, "rdb_last_bgsave_status:ok") {
				return measure{}, fmt.Errorf("BGSAVE failed: %s", info)
			}
			return measure{d: time.Since(start)}, nil
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type measure struct {
	d   time.Duration
	rss int64         // KiB
	srv time.Duration // CPU time of the server during the step (0: not measured)
}

// onServer runs step and adds to its measure the CPU time the Redis
// server (pid) used meanwhile: what bounds a step when our process waits.
func onServer(pid int, step func() (measure, error)) (measure, error) {
	before, err := benchsum.ServerCPU(pid)
	if err != nil {
		return measure{}, err
	}
	m, err := step()
	after, _ := benchsum.ServerCPU(pid)
	m.srv = after - before
	return m, err
}

// row prints the median time of the runs and the largest peak RSS.
func row(keys int64, op, tool string, ms []measure) {
	ds := make([]float64, len(ms))
	var rss int64
	for i, m := range ms {
		ds[i] = m.d.Seconds()
		rss = max(rss, m.rss)
	}
	sort.Float64s(ds)
	r := "(in the server)"
	if rss > 0 {
		r = fmt.Sprintf("%.1f MiB", float64(rss)/1024)
	}
	srv := make([]float64, len(ms))
	for i, m := range ms {
		srv[i] = m.srv.Seconds()
	}
	sort.Float64s(srv)
	cpu := ""
	if srv[len(srv)-1] > 0 {
		cpu = fmt.Sprintf("%.2f s", srv[len(srv)/2])
	}
	fmt.Printf("| %d | %s | %s | %.2f s | %s | %s | %s |\n", keys, op, tool, ds[len(ds)/2], fmtRuns(ds), r, cpu)
}

func fmtRuns(ds []float64) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%.2f", d)
	}
	return strings.Join(parts, " / ")
}

func self(what, addr, dir string, transfer ...string) *exec.Cmd {
	exe, _ := os.Executable()
	args := []string{"-child", what, "-addr", addr, "-dir", dir}
	if len(transfer) > 0 {
		args = append(args, "-transfer", transfer[0])
	}
	return exec.Command(exe, args...)
}

// timed runs a command under GNU time (whose fork gives the child a
// fresh, small address space: Go's vfork-style spawn would charge this
// process's own RSS to the child) and returns wall time and peak RSS (KiB).
func timed(mk func() *exec.Cmd) (measure, error) {
	c := mk()
	out, err := os.CreateTemp("", "rss")
	if err != nil {
		return measure{}, err
	}
	out.Close()
	defer os.Remove(out.Name())
	c.Args = append([]string{"/usr/bin/time", "-f", "%M", "-o", out.Name()}, c.Args...)
	c.Path = "/usr/bin/time"
	c.Stderr = os.Stderr
	if c.Stdout == nil {
		c.Stdout = io.Discard
	}
	start := time.Now()
	err = c.Run()
	d := time.Since(start)
	if err != nil {
		return measure{}, err
	}
	b, _ := os.ReadFile(out.Name())
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return measure{}, fmt.Errorf("no RSS from /usr/bin/time")
	}
	rss, err := strconv.ParseInt(f[len(f)-1], 10, 64)
	return measure{d: d, rss: rss}, err
}

func runChild(what, addr, dir, transfer string) error {
	ctx := context.Background()
	// BENCH_CPUPROFILE=DIR writes the profiles of each child run there
	// (go tool pprof -top DIR/restore-*.cpu.pprof).
	stop, err := benchsum.ProfileFromEnv(what)
	if err != nil {
		return err
	}
	defer stop()
	opts := &redis.Options{Addr: addr}
	switch what {
	case "backup":
		if os.Getenv("GOMEMLIMIT") == "" {
			debug.SetMemoryLimit(80 << 20) // as cmd/3scale-ops does
		}
		e, err := rdb.New(rdb.Config{Component: rdb.BackendRedis, Server: opts, Transfer: transfer})
		if err != nil {
			return err
		}
		os.MkdirAll(dir, 0o755)
		return e.Backup(ctx, dirStore(dir), nil)
	case "restore":
		e, err := rdb.New(rdb.Config{Component: rdb.BackendRedis, Server: opts, Overwrite: true})
		if err != nil {
			return err
		}
		if err := e.Preflight(ctx, dirStore(dir)); err != nil {
			return err
		}
		_, err = e.Restore(ctx, dirStore(dir), nil)
		return err
	}
	return fmt.Errorf("unknown child %q", what)
}

// dirStore is a minimal artifact Sink/Source over a local directory.
type dirStore string

type dirFile struct{ *os.File }

func (dirFile) SetCount(int64) {}

func (d dirStore) Create(_ context.Context, name, _ string) (artifact.File, error) {
	f, err := os.Create(filepath.Join(string(d), name))
	return dirFile{f}, err
}

func (d dirStore) Set(key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(string(d), key+".json"), b, 0o644)
}

func (d dirStore) Files() []artifact.FileInfo {
	return []artifact.FileInfo{{Name: "dump.rdb", Format: "rdb"}}
}

func (d dirStore) Open(_ context.Context, name string) (io.ReadCloser, error) {
	return os.Open(filepath.Join(string(d), name))
}

func (d dirStore) Get(key string, v any) error {
	b, err := os.ReadFile(filepath.Join(string(d), key+".json"))
	if err != nil {
		return fmt.Errorf("%s: %w", key, artifact.ErrNotFound)
	}
	return json.Unmarshal(b, v)
}

type server struct {
	addr, port string
	cmd        *exec.Cmd
}

func startRedis(dir string, aof bool, extra ...string) (*server, error) {
	os.MkdirAll(dir, 0o755)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	yn := map[bool]string{true: "yes", false: "no"}[aof]
	args := append([]string{"--port", port, "--bind", "127.0.0.1", "--dir", dir, "--save", "",
		"--appendonly", yn, "--daemonize", "no"}, extra...)
	c := exec.Command("redis-server", args...)
	c.Stdout, c.Stderr = io.Discard, io.Discard
	if err := c.Start(); err != nil {
		return nil, err
	}
	s := &server{addr: "127.0.0.1:" + port, port: port, cmd: c}
	cl := redis.NewClient(&redis.Options{Addr: s.addr})
	defer cl.Close()
	for i := 0; i < 200; i++ {
		if cl.Ping(context.Background()).Err() == nil {
			return s, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("redis-server on %s did not start", s.addr)
}

func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.cmd.Wait()
}

// generate writes about n keys of backend-redis-shaped data as RESP
// commands: per application 3 config strings, a key set, 12 stats
// counters, 2 minute counters and a daily_traffic key with TTLs; per
// service usage limits, metric sets and a service token hash; db 1 queues.
func generate(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	count := 0
	cmd := func(args ...string) {
		fmt.Fprintf(w, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(w, "$%d\r\n%s\r\n", len(a), a)
		}
	}
	apps := n / 19
	const services = 100
	for s := 0; s < services; s++ {
		sid := strconv.Itoa(2555417000000 + s)
		cmd("SET", "service/id:"+sid+"/provider_key", "pk"+sid)
		cmd("SADD", "metrics/service_id:"+sid+"/ids", "1", "2")
		cmd("HSET", "service_token/token:"+strings.Repeat("ab", 32)+sid+"/service_id:"+sid, "permissions", "")
		for _, per := range []string{"minute", "hour", "day", "month", "eternity"} {
			cmd("SET", "usage_limit/service_id:"+sid+"/plan_id:7/metric_id:1/"+per, "1000")
		}
		count += 8
	}
	grans := []string{"eternity", "year:20250101", "month:20250401", "week:20250421", "day:20250423", "hour:2025042317"}
	for a := 0; a < apps; a++ {
		sid := strconv.Itoa(2555417000000 + a%services)
		aid := fmt.Sprintf("%016x", 0x5eed0000+a)
		base := "application/service_id:" + sid + "/id:" + aid
		cmd("SET", base+"/state", "active")
		cmd("SET", base+"/plan_id", strconv.Itoa(7+a%5))
		cmd("SET", base+"/plan_name", "Gold plan")
		cmd("SADD", base+"/keys", "k"+aid, "j"+aid)
		st := "stats/{service:" + sid + "}/cinstance:" + aid + "/metric:"
		for m := 1; m <= 2; m++ {
			for _, g := range grans {
				cmd("SET", st+strconv.Itoa(m)+"/"+g, strconv.Itoa(a*m+len(g)))
			}
			cmd("SET", st+strconv.Itoa(m)+"/minute:20250423174"+strconv.Itoa(a%10), strconv.Itoa(a%60), "EX", "3600")
		}
		cmd("SET", "daily_traffic/service:"+sid+"/cinstance:"+aid+"/20250423", "1", "EX", "172800")
		count += 19
	}
	cmd("SELECT", "1")
	for i := 0; i < 1000; i++ {
		cmd("RPUSH", "resque:queue:priority", fmt.Sprintf(`{"class":"ThreeScale::Backend::Transactor::ReportJob","args":[%d,{"0":{"app_id":"x","usage":{"hits":1}}},1745430000.5,{}]}`, i))
	}
	cmd("SELECT", "0")
	return w.Flush()
}

// summary adds one Redis row (medians, largest RSS) to make bench's summary table.
func summary(step, data string, ours, base []measure, baseline string) {
	rss := func(ms []measure) string {
		var m int64
		for _, x := range ms {
			m = max(m, x.rss)
		}
		return benchsum.KiB(m)
	}
	benchsum.Row(step, data, median(ours), median(base), baseline, rss(ours), rss(base))
}
