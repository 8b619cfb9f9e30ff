package main

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/gateway/apicast"
	"github.com/3scale-ops/3scale-ops/internal/gateway/backend"
	"github.com/3scale-ops/3scale-ops/internal/redact"
	_ "github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
	"github.com/urfave/cli/v2"
)

func gatewayCommand() *cli.Command {
	return &cli.Command{
		Name:  "gateway",
		Usage: "the embedded APIcast-compatible gateway",
		Subcommands: []*cli.Command{
			{Name: "serve", Usage: "serve API traffic from a proxy configuration (SIGHUP reloads it)",
				UsageText: "3scale-ops gateway serve --config proxy-config.json --backend http://127.0.0.1:3001 --listen 127.0.0.1:8080\n3scale-ops -n 3scale gateway serve --config system-db --backend http://127.0.0.1:3001",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "config", Required: true, EnvVars: []string{"THREESCALE_OPS_GATEWAY_CONFIG"}, Usage: "FILE, URL (system's proxy configs endpoint) or system-db"},
					&cli.StringFlag{Name: "backend", EnvVars: []string{"THREESCALE_OPS_GATEWAY_BACKEND", "BACKEND_ENDPOINT_OVERRIDE"}, Usage: "Service Management API URL, e.g. the one \"3scale-ops backend serve\" listens on"},
					&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8080", EnvVars: []string{"THREESCALE_OPS_GATEWAY_LISTEN"}, Usage: "listen address"},
					&cli.StringFlag{Name: "environment", Value: "production", EnvVars: []string{"THREESCALE_DEPLOYMENT_ENV"}, Usage: "proxy configuration environment for system-db: production or sandbox (staging)"},
					&cli.BoolFlag{Name: "path-routing", EnvVars: []string{"APICAST_PATH_ROUTING"}, Usage: "route by mapping rules first, then by host"},
					&cli.BoolFlag{Name: "path-routing-only", EnvVars: []string{"APICAST_PATH_ROUTING_ONLY"}, Usage: "route by mapping rules only"},
					&cli.DurationFlag{Name: "report-interval", Value: time.Second, EnvVars: []string{"THREESCALE_OPS_GATEWAY_REPORT_INTERVAL"}, Usage: "how often cached hits are reported to the backend"},
				}, Action: runGatewayServe},
		},
	}
}

func backendCommand() *cli.Command {
	return &cli.Command{
		Name:  "backend",
		Usage: "the embedded apisonator-compatible backend",
		Subcommands: []*cli.Command{
			{Name: "serve", Usage: "serve the Service Management API from backend-redis",
				UsageText: "3scale-ops backend serve --redis-url redis://127.0.0.1:6379/0 --listen 127.0.0.1:3001\n3scale-ops -n 3scale backend serve   # backend-redis from the namespace's secrets",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "redis-url", EnvVars: []string{"THREESCALE_OPS_BACKEND_REDIS"}, Usage: "backend-redis storage URL (default: discovered)"},
					&cli.StringFlag{Name: "listen", Value: "127.0.0.1:3001", EnvVars: []string{"THREESCALE_OPS_BACKEND_LISTEN"}, Usage: "listen address"},
					&cli.DurationFlag{Name: "config-ttl", Value: time.Second, EnvVars: []string{"THREESCALE_OPS_BACKEND_CONFIG_TTL"}, Usage: "memoise service/application/limit lookups this long (apisonator: 60s; 0 disables)"},
				}, Action: runBackendServe},
		},
	}
}

func runBackendServe(c *cli.Context) error {
	g := getGlobals(c)
	var r config.Redis
	var err error
	if u := c.String("redis-url"); u != "" {
		redact.AddURL(u)
		r, err = config.ParseRedis(u, "")
		if err != nil {
			return errs.UsageError("give --redis-url as redis://[user:password@]host:port/db", "backend-redis URL: %v", err)
		}
	} else {
		conns, _, err := g.connections(c.Context)
		if err != nil {
			return err
		}
		r = conns.BackendRedis
	}
	opts, err := r.Options()
	if err != nil {
		return errs.Wrap(errs.Failure, err, "check the backend-redis URL and that its sentinels are reachable")
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	if err := rdb.Ping(c.Context).Err(); err != nil {
		return errs.New(errs.Failure, "check that backend-redis is reachable from here (--redis-url)", "backend-redis %s: %v", r.Redacted(), err)
	}
	b := backend.New(rdb, backend.Options{ConfigTTL: c.Duration("config-ttl"), Logger: g.Log, Version: versionString()})
	return serve(c.Context, g, c.String("listen"), b, "backend", nil)
}

func runGatewayServe(c *cli.Context) error {
	g := getGlobals(c)
	if c.String("backend") == "" {
		return errs.UsageError("start one with `3scale-ops backend serve` and pass --backend http://127.0.0.1:3001", "--backend is required")
	}
	env := c.String("environment")
	if env == "staging" {
		env = "sandbox"
	}
	src := c.String("config")
	var db *sql.DB
	if src == "system-db" {
		conns, _, err := g.connections(c.Context)
		if err != nil {
			return err
		}
		if conns.SystemDB.Kind == "oracle" {
			return errs.UsageError("export the configuration to a file with System's proxy_configs endpoint and use --config FILE", "--config system-db supports a MySQL or PostgreSQL system database, not %s", conns.SystemDB.Kind)
		}
		if db, err = conns.SystemDB.Open(); err != nil {
			return err
		}
		defer db.Close()
	}
	load := func(ctx context.Context) (*apicast.Config, error) {
		switch {
		case db != nil:
			return apicast.LoadSystemDB(ctx, db, env)
		case strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://"):
			redact.AddURL(src)
			return apicast.LoadURL(ctx, nil, src)
		default:
			return apicast.LoadFile(src)
		}
	}
	cfg, err := load(c.Context)
	if err != nil {
		return errs.Wrap(errs.Usage, err, "check --config: a proxy configuration JSON file, System's proxy_configs URL, or system-db")
	}
	gw, err := apicast.New(cfg, c.String("backend"), apicast.Options{
		PathRouting: c.Bool("path-routing"), PathRoutingOnly: c.Bool("path-routing-only"),
		FlushInterval: c.Duration("report-interval"), Logger: g.Log,
	})
	if err != nil {
		return errs.Wrap(errs.Usage, err, "fix the proxy configuration or --backend")
	}
	defer gw.Close()
	g.Log.Info("gateway configuration loaded", "services", len(cfg.Services))
	reload := func(ctx context.Context) {
		cfg, err := load(ctx)
		if err == nil {
			err = gw.Reload(cfg)
		}
		if err != nil {
			g.Log.Error("reload failed; keeping the previous configuration", "err", err)
			return
		}
		g.Log.Info("gateway configuration reloaded", "services", len(cfg.Services))
	}
	return serve(c.Context, g, c.String("listen"), gw, "gateway", reload)
}

// serve runs h on addr until ctx ends (SIGINT/SIGTERM), then shuts down
// gracefully; SIGHUP calls reload.
func serve(ctx context.Context, g *globals, addr string, h http.Handler, what string, reload func(context.Context)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return errs.New(errs.Usage, "choose a free address with --listen", "%s: listen on %s: %v", what, addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}
	hup := make(chan os.Signal, 1)
	if reload != nil {
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	g.Log.Info(what+" listening", "addr", ln.Addr().String())
	if !g.JSON() {
		g.printf("%s listening on %s\n", what, ln.Addr())
	}
	for {
		select {
		case <-hup:
			reload(ctx)
		case err := <-errc:
			return err
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			g.Log.Info(what + " stopped")
			return nil
		}
	}
}
