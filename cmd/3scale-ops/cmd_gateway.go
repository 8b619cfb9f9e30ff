package main

import (
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/urfave/cli/v2"
)

func gatewayCommand() *cli.Command {
	return &cli.Command{
		Name:  "gateway",
		Usage: "the embedded APIcast-compatible gateway",
		Subcommands: []*cli.Command{
			{Name: "serve", Usage: "serve API traffic from a proxy configuration",
				UsageText: "3scale-ops gateway serve --config proxy-config.json --backend http://127.0.0.1:3001 --listen 127.0.0.1:8080\n3scale-ops -n 3scale gateway serve --config system-db",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "config", Required: true, EnvVars: []string{"THREESCALE_OPS_GATEWAY_CONFIG"}, Usage: "FILE, URL (system's proxy configs endpoint) or system-db"},
					&cli.StringFlag{Name: "backend", EnvVars: []string{"THREESCALE_OPS_GATEWAY_BACKEND"}, Usage: "Service Management API URL"},
					&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8080", EnvVars: []string{"THREESCALE_OPS_GATEWAY_LISTEN"}, Usage: "listen address"},
				}, Action: func(*cli.Context) error { return errs.NotImplemented("gateway serve") }},
		},
	}
}

func backendCommand() *cli.Command {
	return &cli.Command{
		Name:  "backend",
		Usage: "the embedded apisonator-compatible backend",
		Subcommands: []*cli.Command{
			{Name: "serve", Usage: "serve the Service Management API from backend-redis",
				UsageText: "3scale-ops backend serve --redis-url redis://127.0.0.1:6379/0 --listen 127.0.0.1:3001",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "redis-url", EnvVars: []string{"THREESCALE_OPS_BACKEND_REDIS"}, Usage: "backend-redis storage URL (default: discovered)"},
					&cli.StringFlag{Name: "listen", Value: "127.0.0.1:3001", EnvVars: []string{"THREESCALE_OPS_BACKEND_LISTEN"}, Usage: "listen address"},
				}, Action: func(*cli.Context) error { return errs.NotImplemented("backend serve") }},
		},
	}
}
