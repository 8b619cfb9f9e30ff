// Package gateway benchmarks the embedded gateway against Debian nginx
// proxy_pass to the same upstream, and the embedded backend's authrep
// throughput on one core. Run once:
//
//	go test -run '^$' -bench . -benchtime 1x ./bench/gateway/
//
// It needs wrk and /usr/sbin/nginx, and prints a markdown table.
package gateway

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/gateway/apicast"
	"github.com/3scale-ops/3scale-ops/internal/gateway/backend"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/redis/go-redis/v9"
)

const (
	duration    = "8s"
	connections = "64"
)

func freeAddr(b *testing.B) string {
	p, err := testenv.FreePort()
	if err != nil {
		b.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(p)
}

type wrkResult struct {
	rps float64
	p99 string
}

var (
	rpsRe = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	p99Re = regexp.MustCompile(`\s99%\s+([\d.]+\w+)`)
)

func wrk(b *testing.B, url string, hdr ...string) wrkResult {
	args := []string{"-t2", "-c" + connections, "-d" + duration, "--latency"}
	for _, h := range hdr {
		args = append(args, "-H", h)
	}
	out, err := exec.Command("wrk", append(args, url)...).CombinedOutput()
	if err != nil {
		b.Fatalf("wrk: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "Non-2xx") {
		b.Fatalf("wrk saw errors:\n%s", out)
	}
	m, p := rpsRe.FindSubmatch(out), p99Re.FindSubmatch(out)
	if m == nil || p == nil {
		b.Fatalf("cannot parse wrk output:\n%s", out)
	}
	rps, _ := strconv.ParseFloat(string(m[1]), 64)
	return wrkResult{rps, string(p[1])}
}

// startNginx runs nginx with two servers: the upstream (return 200) and a
// proxy_pass to it.
func startNginx(b *testing.B, upstream, proxy string) {
	dir := b.TempDir()
	conf := fmt.Sprintf(`daemon off; worker_processes 1; pid %[1]s/nginx.pid; error_log %[1]s/error.log;
events { worker_connections 4096; }
http {
  access_log off; client_body_temp_path %[1]s; proxy_temp_path %[1]s; fastcgi_temp_path %[1]s; uwsgi_temp_path %[1]s; scgi_temp_path %[1]s;
  upstream echo { server %[2]s; keepalive 256; }
  server { listen %[2]s; location / { return 200 "ok\n"; } }
  server { listen %[3]s; location / { proxy_pass http://echo; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
`, dir, upstream, proxy)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command("/usr/sbin/nginx", "-c", path, "-p", dir, "-e", filepath.Join(dir, "error.log"))
	if err := cmd.Start(); err != nil {
		b.Fatalf("nginx: %v", err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitListen(b, proxy)
	waitListen(b, upstream)
}

// serve runs h on addr until the benchmark ends.
func serve(b *testing.B, addr string, h http.Handler) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	s := &http.Server{Handler: h}
	go s.Serve(ln)
	b.Cleanup(func() { s.Close() })
}

func waitListen(b *testing.B, addr string) {
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	b.Fatalf("%s never listened", addr)
}

func seed(b *testing.B, rdb *redis.Client) {
	ctx := context.Background()
	for _, c := range [][]any{
		{"SET", "service/id:1/provider_key", "pk"}, {"SET", "service/id:1/backend_version", "1"},
		{"HSET", "service_token/token:tok/service_id:1", "permissions", ""},
		{"SADD", "metrics/service_id:1/ids", "1"},
		{"SET", "metric/service_id:1/id:1/name", "hits"}, {"SET", "metric/service_id:1/name:hits/id", "1"},
		{"SET", "usage_limit/service_id:1/plan_id:1/metric_id:1/eternity", "1000000000000"},
		{"SET", "usage_limit/service_id:1/plan_id:1/metric_id:1/day", "1000000000000"},
		{"SET", "application/service_id:1/key:uk/id", "app1"},
		{"SET", "application/service_id:1/id:app1/state", "active"},
		{"SET", "application/service_id:1/id:app1/plan_id", "1"},
		{"SET", "application/service_id:1/id:app1/plan_name", "Bench"},
	} {
		if err := rdb.Do(ctx, c...).Err(); err != nil {
			b.Fatal(err)
		}
	}
}

// counter counts Redis round trips (a pipeline is one).
type counter struct{ n atomic.Int64 }

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.n.Add(1); return next(ctx, cmd) }
}
func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { c.n.Add(1); return next(ctx, cmds) }
}

func BenchmarkGatewayVsNginx(b *testing.B) {
	srv := testenv.StartRedis(b, testenv.RedisOptions{})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 128})
	defer rdb.Close()
	seed(b, rdb)
	rt := &counter{}
	rdb.AddHook(rt)

	// backend authrep/s on one core
	prev := runtime.GOMAXPROCS(1)
	beAddr := freeAddr(b)
	serve(b, beAddr, backend.New(rdb, backend.Options{ConfigTTL: time.Second}))
	before := rt.n.Load()
	authrep := wrk(b, "http://"+beAddr+"/transactions/authrep.xml?service_token=tok&service_id=1&user_key=uk&usage%5Bhits%5D=1")
	calls, _ := strconv.ParseInt(rdb.Get(context.Background(), "stats/{service:1}/cinstance:app1/metric:1/eternity").Val(), 10, 64)
	rtPer := float64(rt.n.Load()-before) / float64(calls)
	runtime.GOMAXPROCS(prev)

	// gateway (cached authorization) vs nginx proxy_pass, same upstream
	upAddr, nginxAddr, gwAddr := freeAddr(b), freeAddr(b), freeAddr(b)
	startNginx(b, upAddr, nginxAddr)
	cfg, err := apicast.ParseConfig([]byte(`{"services":[{"id":1,"backend_version":"1","backend_authentication_type":"service_token","backend_authentication_value":"tok",
	 "proxy":{"hosts":["api.test"],"api_backend":"http://` + upAddr + `","proxy_rules":[{"http_method":"GET","pattern":"/","metric_system_name":"hits","delta":1}]}}]}`))
	if err != nil {
		b.Fatal(err)
	}
	gw, err := apicast.New(cfg, "http://"+beAddr, apicast.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer gw.Close()
	serve(b, gwAddr, gw)

	// What Go's own HTTP stack costs, without any gateway logic: a
	// net/http server answering 200 itself, and a bare
	// httputil.ReverseProxy (same keep-alive pool settings) to the same
	// upstream. The gateway cannot beat the second; the difference
	// between the two and the gateway is our code.
	plainAddr, rpAddr := freeAddr(b), freeAddr(b)
	serve(b, plainAddr, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "3")
		_, _ = w.Write([]byte("ok\n"))
	}))
	up, _ := url.Parse("http://" + upAddr)
	bare := httputil.NewSingleHostReverseProxy(up)
	bare.Transport = &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second, DisableCompression: true}
	serve(b, rpAddr, bare)

	nginx := wrk(b, "http://"+nginxAddr+"/hello?user_key=uk", "Host: api.test")
	gwr := wrk(b, "http://"+gwAddr+"/hello?user_key=uk", "Host: api.test")
	plain := wrk(b, "http://"+plainAddr+"/hello", "Host: api.test")
	rp := wrk(b, "http://"+rpAddr+"/hello", "Host: api.test")

	fmt.Printf("\n| what | requests/s | p99 latency |\n|---|---:|---:|\n")
	fmt.Printf("| nginx proxy_pass (1 worker) | %.0f | %s |\n", nginx.rps, nginx.p99)
	fmt.Printf("| 3scale-ops gateway, cached authorization | %.0f (%.0f%% of nginx) | %s |\n", gwr.rps, 100*gwr.rps/nginx.rps, gwr.p99)
	fmt.Printf("| Go net/http server answering 200 itself (no proxy; Go's ceiling) | %.0f (%.0f%% of nginx) | %s |\n", plain.rps, 100*plain.rps/nginx.rps, plain.p99)
	fmt.Printf("| Go httputil.ReverseProxy, no gateway logic (the gateway's ceiling) | %.0f (%.0f%% of nginx; the gateway is %.0f%% of it) | %s |\n", rp.rps, 100*rp.rps/nginx.rps, 100*gwr.rps/rp.rps, rp.p99)
	fmt.Printf("| 3scale-ops backend authrep, GOMAXPROCS=1 | %.0f | %s |\n", authrep.rps, authrep.p99)
	fmt.Printf("\nRedis round trips per authrep (config memoised 1 s): %.2f\n", rtPer)
}
