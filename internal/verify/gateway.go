package verify

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/gateway/apicast"
	"github.com/3scale-ops/3scale-ops/internal/gateway/backend"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/redis/go-redis/v9"
)

// echoMarker is the body of the embedded upstream: a response carrying it
// went all the way through the gateway.
const echoMarker = "3scale-ops verify echo"

// readOnly makes the backend safe to run on restored production data: the
// gateway's authrep calls become authorize calls and reports are accepted
// without being stored, so verification never changes usage counters.
func readOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/transactions/authrep.xml":
			r.URL.Path = "/transactions/authorize.xml"
		case "/transactions/oauth_authrep.xml":
			r.URL.Path = "/transactions/oauth_authorize.xml"
		case "/transactions.xml":
			w.WriteHeader(http.StatusAccepted)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// ReplayGateway sends each probe as a real API request through the
// embedded gateway (configured from the restored proxy_configs, upstream
// replaced by an embedded echo server) to the embedded backend on the
// restored backend-redis, and requires the recorded verdict: an
// authorized probe must reach the upstream, a denied one must not.
func ReplayGateway(ctx context.Context, db *sql.DB, rdb *redis.Client, probes []Probe, task *progress.Task) ([]Mismatch, int, error) {
	// A proxy configuration that cannot be used fails its service only:
	// every other service's probes are still sent.
	cfg, bad, err := apicast.LoadSystemDBRows(ctx, db, "production")
	if err != nil {
		return nil, 0, fmt.Errorf("load the restored proxy configurations: %w", err)
	}
	if len(cfg.Services) == 0 && len(bad) == 0 {
		return nil, 0, fmt.Errorf("load the restored proxy configurations: the system database has no production proxy configuration; promote the configuration in the admin portal first")
	}
	var out []Mismatch
	for _, b := range bad {
		out = append(out, Mismatch{ServiceID: b.ServiceID, AppID: "-", Want: "a usable production proxy configuration",
			Got: fmt.Sprintf("the latest proxy configuration (proxy_configs of proxy %d) cannot be used: %v; promote it again in the admin portal", b.ProxyID, b.Err)})
	}
	echoURL, stopEcho, err := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, echoMarker)
	}))
	if err != nil {
		return nil, 0, err
	}
	defer stopEcho()
	backendURL, stopBackend, err := serve(readOnly(backend.New(rdb, backend.Options{})))
	if err != nil {
		return nil, 0, err
	}
	defer stopBackend()
	byService := map[string]*apicast.Proxy{}
	for i := range cfg.Services {
		cfg.Services[i].Proxy.APIBackend = echoURL
		byService[fmt.Sprint(cfg.Services[i].ID)] = &cfg.Services[i].Proxy
	}
	gw, err := apicast.New(cfg, backendURL, apicast.Options{FlushInterval: time.Hour})
	if err != nil {
		return nil, 0, fmt.Errorf("start the embedded gateway: %w", err)
	}
	defer gw.Close()
	gwURL, stopGW, err := serve(gw)
	if err != nil {
		return nil, 0, err
	}
	defer stopGW()

	client := &http.Client{Timeout: 30 * time.Second}
	sent := 0
	for _, p := range probes {
		px := byService[p.ServiceID]
		if px == nil || len(p.Hosts) == 0 || p.Path == "" {
			continue // no gateway route for this service (e.g. no hosted proxy config)
		}
		req, err := probeRequest(ctx, gwURL, p, px)
		if err != nil {
			return nil, sent, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, sent, fmt.Errorf("probe of application %s of service %s: embedded gateway: %w", p.AppID, p.ServiceID, withoutURL(err))
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		sent++
		passed := resp.StatusCode < 300 && string(body) == echoMarker
		if passed != p.Outcome.Authorized {
			got := fmt.Sprintf("gateway answered %d", resp.StatusCode)
			if passed {
				got = "gateway let the request through"
			}
			out = append(out, Mismatch{ServiceID: p.ServiceID, AppID: p.AppID, Want: p.Outcome.String(), Got: got})
		}
		task.AddItems(1)
	}
	return out, sent, nil
}

// probeRequest builds the API call an application would make: the probe's
// mapped method and path, on the service's production host, with its
// credentials where the proxy expects them.
func probeRequest(ctx context.Context, gwURL string, p Probe, px *apicast.Proxy) (*http.Request, error) {
	creds := map[string]string{}
	name := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	if p.UserKey != "" {
		creds[name(px.AuthUserKey, "user_key")] = p.UserKey
	} else {
		creds[name(px.AuthAppID, "app_id")] = p.AppID
		if p.AppKey != "" {
			creds[name(px.AuthAppKey, "app_key")] = p.AppKey
		}
	}
	q := url.Values{}
	inHeaders := strings.EqualFold(px.CredentialsLocation, "headers")
	basic := strings.EqualFold(px.CredentialsLocation, "authorization")
	if !inHeaders && !basic {
		for k, v := range creds {
			q.Set(k, v)
		}
	}
	u := gwURL + p.Path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, p.Method, u, nil)
	if err != nil {
		return nil, err
	}
	req.Host = p.Hosts[0]
	if basic {
		if p.UserKey != "" {
			req.SetBasicAuth(p.UserKey, "")
		} else {
			req.SetBasicAuth(p.AppID, p.AppKey)
		}
	}
	if inHeaders {
		for k, v := range creds {
			req.Header.Set(k, v)
		}
	}
	return req, nil
}
