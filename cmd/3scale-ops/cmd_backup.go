package main

import (
	"context"
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/component"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/repo"
	"github.com/3scale-ops/3scale-ops/internal/runbook"
	"github.com/urfave/cli/v2"
)

func backupCommand() *cli.Command {
	return &cli.Command{
		Name:        "backup",
		Usage:       "take one consistent snapshot of the installation into the repository",
		Description: "Components:\n" + component.Help(),
		UsageText: `3scale-ops -n 3scale backup
3scale-ops -n 3scale backup --components system-mysql,backend-redis --tag reason=pre-upgrade
3scale-ops --local --system-db-url mysql2://root:PW@db/system -r /backups backup --components system-mysql`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "components", EnvVars: []string{"THREESCALE_OPS_COMPONENTS"}, Usage: "components to back up (default: all that the installation has)"},
			&cli.StringSliceFlag{Name: "tag", EnvVars: []string{"THREESCALE_OPS_TAGS"}, Usage: "tag k=v recorded in the snapshot; repeatable"},
			&cli.BoolFlag{Name: "skip-queues", EnvVars: []string{"THREESCALE_OPS_SKIP_QUEUES"}, Usage: "leave out backend-redis db 1 (job queues)"},
			&cli.StringFlag{Name: "redis-transfer", EnvVars: []string{"THREESCALE_OPS_REDIS_TRANSFER"}, Value: "auto", Usage: "how Redis sends its RDB: disk (the server writes an RDB file and sends it at once), diskless (streamed, after repl-diskless-sync-delay) or auto (disk when the server saves RDB snapshots anyway)"},
			&cli.StringSliceFlag{Name: "exclude-object", EnvVars: []string{"THREESCALE_OPS_EXCLUDE_OBJECTS"}, Usage: `object to leave out, recorded in the snapshot, as "[COMPONENT:]KIND NAME" (COMPONENT system-mysql or zync-postgres, the default): PostgreSQL "table SCHEMA.NAME", "subscription NAME", "security-label OBJECT"; MySQL "table|view|trigger|procedure|function|event|sequence NAME"; repeatable`},
			&cli.BoolFlag{Name: "progress", EnvVars: []string{"THREESCALE_OPS_PROGRESS"}, Usage: "show progress even when stderr is not a terminal"},
			&cli.StringFlag{Name: "compression", EnvVars: []string{"THREESCALE_OPS_COMPRESSION"}, Value: "zstd", Usage: "zstd, gzip or none"},
			&cli.IntFlag{Name: "compression-level", EnvVars: []string{"THREESCALE_OPS_COMPRESSION_LEVEL"}, Usage: "compression level (zstd 1-22, gzip 1-9)", DefaultText: "zstd 1, gzip 5"},
			&cli.IntFlag{Name: "workers", EnvVars: []string{"THREESCALE_OPS_WORKERS"}, Value: 4, Usage: "components backed up at the same time"},
			&cli.BoolFlag{Name: "unlock-stale", EnvVars: []string{"THREESCALE_OPS_UNLOCK_STALE"}, Usage: "remove repository locks that are stale (holder gone or not refreshed within the TTL)"},
		},
		Action: runBackup,
	}
}

func parseTags(list []string) (map[string]string, error) {
	if len(list) == 0 {
		return nil, nil
	}
	tags := map[string]string{}
	for _, t := range list {
		k, v, ok := strings.Cut(t, "=")
		if !ok || k == "" {
			return nil, errs.UsageError("use --tag key=value", "invalid tag %q", t)
		}
		tags[k] = v
	}
	return tags, nil
}

func runBackup(c *cli.Context) error {
	g := getGlobals(c)
	ctx := c.Context
	tags, err := parseTags(c.StringSlice("tag"))
	if err != nil {
		return err
	}
	conns, kc, err := g.connections(ctx)
	if err != nil {
		return err
	}
	opts, err := g.repoOptions()
	if err != nil {
		return err
	}
	opts.Compression, opts.Level = c.String("compression"), c.Int("compression-level")
	var r *repo.Repository
	tr := &progress.Tracker{}
	stop := func() {}
	m, err := runbook.Backup(ctx, runbook.BackupRequest{Conns: conns, Kube: kc,
		Components: c.StringSlice("components"), Tags: tags, SkipQueues: c.Bool("skip-queues"), RedisTransfer: c.String("redis-transfer"), Exclude: c.StringSlice("exclude-object"),
		Workers: c.Int("workers"), UnlockStale: c.Bool("unlock-stale"), Tracker: tr, Log: g.Log,
		Warn: func(msg string) { g.warnf("%s", msg) },
		Repo: func(ctx context.Context) (*repo.Repository, error) {
			var err error
			r, _, err = g.OpenRepository(ctx, opts, true)
			if err == nil {
				stop = startProgress(g, tr, c.Bool("progress"))
			}
			return r, err
		}})
	stop()
	if err != nil {
		return err
	}
	if g.JSON() {
		return g.printJSON(summary(m, r.Location()))
	}
	g.printf("%s\n", m.ID)
	return nil
}

// snapshotSummary is the JSON result of backup (and an entry of backups list).
type snapshotSummary struct {
	ID         string             `json:"id"`
	Repository string             `json:"repository,omitempty"`
	Time       time.Time          `json:"time"`
	End        time.Time          `json:"end,omitzero"`
	Size       int64              `json:"size"`
	Encrypted  bool               `json:"encrypted"`
	Damaged    string             `json:"damaged,omitempty"` // why the snapshot cannot be read
	Tags       map[string]string  `json:"tags,omitempty"`
	Threescale string             `json:"threescale_version,omitempty"` // the installation's 3scale release
	Components []componentSummary `json:"components"`
}

type componentSummary struct {
	Name     string `json:"name"`
	Files    int    `json:"files"`
	RawSize  int64  `json:"raw_size"`
	Size     int64  `json:"size"`
	Duration string `json:"duration,omitempty"`
}

func summary(m *repo.Manifest, location string) snapshotSummary {
	s := snapshotSummary{ID: m.ID, Repository: location, Time: m.Start, End: m.End, Size: m.Size(),
		Encrypted: m.Encrypted, Tags: m.Tags, Threescale: m.ThreescaleVersion, Components: []componentSummary{}}
	for _, c := range m.Components {
		cs := componentSummary{Name: c.Name, Files: len(c.Files), Duration: c.Duration}
		for _, f := range c.Files {
			cs.RawSize += f.RawSize
			cs.Size += f.Size
		}
		s.Components = append(s.Components, cs)
	}
	return s
}
