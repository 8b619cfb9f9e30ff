package backend

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/redis/go-redis/v9"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.golden from the current output (review the diff!)")

// goldenNow is the clock of the golden cases (see testdata/fixture.redis).
var goldenNow = time.Date(2025, 4, 23, 17, 42, 30, 0, time.UTC)

// loadFixture writes testdata/fixture.redis into rdb (after FLUSHALL of
// this test's private server).
func loadFixture(t testing.TB, ctx context.Context, rdb *redis.Client, path string) {
	t.Helper()
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	pipe := rdb.Pipeline()
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		var args []any
		switch strings.ToUpper(fs[0]) {
		case "SET":
			args = []any{"SET", fs[1], strings.Join(fs[2:], " ")}
		default:
			for _, x := range fs {
				if x == `""` {
					x = ""
				}
				args = append(args, x)
			}
		}
		pipe.Do(ctx, args...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("fixture: %v", err)
	}
}

// statsSnapshot maps every stats/* key to "value" (+ " ttl=N" when it
// expires) — what the golden files show as the writes of a call.
func statsSnapshot(t testing.TB, ctx context.Context, rdb *redis.Client) map[string]string {
	t.Helper()
	keys, err := rdb.Keys(ctx, "stats/*").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		var v string
		switch rdb.Type(ctx, k).Val() {
		case "set":
			m := rdb.SMembers(ctx, k).Val()
			sort.Strings(m)
			v = "{" + strings.Join(m, ",") + "}"
		default:
			v = rdb.Get(ctx, k).Val()
		}
		if ttl := rdb.TTL(ctx, k).Val(); ttl > 0 {
			// report the configured expiry, not the second it was read in
			v += fmt.Sprintf(" ttl=%d", int((ttl+time.Second-1)/time.Second/10*10))
		}
		out[k] = v
	}
	return out
}

type goldenCase struct {
	name, method, target, body string
	header                     http.Header
}

func readCases(t *testing.T, path string) []goldenCase {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cases []goldenCase
	var cur *goldenCase
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "### "):
			cases = append(cases, goldenCase{name: strings.TrimSpace(line[4:]), header: http.Header{}})
			cur = &cases[len(cases)-1]
		case cur == nil || strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "":
		case cur.method == "":
			m, target, _ := strings.Cut(line, " ")
			cur.method, cur.target = m, target
		case strings.HasPrefix(line, "body: "):
			cur.body = strings.TrimPrefix(line, "body: ")
		default:
			k, v, _ := strings.Cut(line, ":")
			cur.header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	return cases
}

func TestGolden(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartRedis(t, testenv.RedisOptions{})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	b := New(rdb, Options{Now: func() time.Time { return goldenNow }, Version: "test"})
	hs := httptest.NewServer(b)
	defer hs.Close()

	cases := readCases(t, "testdata/cases.txt")
	if len(cases) < 40 {
		t.Fatalf("only %d cases read from testdata/cases.txt", len(cases))
	}
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.name] {
			t.Fatalf("duplicate case %q", c.name)
		}
		seen[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			loadFixture(t, ctx, rdb, "testdata/fixture.redis")
			before := statsSnapshot(t, ctx, rdb)
			req, err := http.NewRequest(c.method, hs.URL+c.target, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header = c.header.Clone()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			after := statsSnapshot(t, ctx, rdb)

			var got strings.Builder
			fmt.Fprintf(&got, "HTTP %d\n", resp.StatusCode)
			var hk []string
			for k := range resp.Header {
				if k == "Content-Type" || strings.HasPrefix(k, "3scale-") {
					hk = append(hk, k)
				}
			}
			sort.Strings(hk)
			for _, k := range hk {
				fmt.Fprintf(&got, "%s: %s\n", strings.ToLower(k), resp.Header.Get(k))
			}
			fmt.Fprintf(&got, "\n%s\n", body)
			var writes []string
			for k, v := range after {
				if before[k] != v {
					writes = append(writes, k+" = "+v)
				}
			}
			for k := range before {
				if _, ok := after[k]; !ok {
					writes = append(writes, k+" deleted")
				}
			}
			sort.Strings(writes)
			got.WriteString("writes:\n")
			for _, w := range writes {
				got.WriteString("  " + w + "\n")
			}
			path := filepath.Join("testdata", "golden", c.name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("no golden file (run with -update and review it): %v", err)
			}
			if got.String() != string(want) {
				t.Errorf("%s %s\n--- got\n%s\n--- want\n%s", c.method, c.target, got.String(), want)
			}
		})
	}
}
