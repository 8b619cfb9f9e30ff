package main

import (
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/schedule"
	"github.com/urfave/cli/v2"
)

func manifestsCommand() *cli.Command {
	return &cli.Command{
		Name:      "manifests",
		Usage:     "print Kubernetes YAML: cronjob, rbac, schedule (daemon Deployment) or all",
		ArgsUsage: "cronjob|rbac|schedule|all",
		UsageText: "3scale-ops -n 3scale manifests all > 3scale-ops.yaml",
		Description: `rbac: ServiceAccount, Role and RoleBinding with exactly what 3scale-ops uses.
cronjob: nightly "3scale-ops backup" (concurrencyPolicy Forbid).
schedule: the daemon Deployment (backup, prune, purge-alerts; /metrics on :9090), the
alternative to the CronJob. all: rbac + cronjob + the daemon for prune and purge-alerts.
Repository settings and credentials come from the secret named by --repo-secret
(keys THREESCALE_OPS_REPO, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, THREESCALE_OPS_PASSWORD).
deploy/ holds "manifests all" as a kustomize base.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "image", Value: schedule.DefaultImage, EnvVars: []string{"THREESCALE_OPS_IMAGE"}, Usage: "container image of 3scale-ops"},
			&cli.StringFlag{Name: "backup-schedule", Value: "0 2 * * *", EnvVars: []string{"THREESCALE_OPS_MANIFESTS_BACKUP_SCHEDULE"}, Usage: "cron schedule of the backup"},
			&cli.StringFlag{Name: "timezone", Value: "UTC", EnvVars: []string{"THREESCALE_OPS_TIMEZONE"}, Usage: "time zone of the schedules"},
			&cli.StringFlag{Name: "repo-secret", Value: schedule.Name + "-repo", EnvVars: []string{"THREESCALE_OPS_MANIFESTS_REPO_SECRET"}, Usage: "secret holding the repository URL and credentials"},
		},
		Action: func(c *cli.Context) error {
			g := getGlobals(c)
			if c.NArg() != 1 {
				return errs.UsageError("e.g. 3scale-ops -n 3scale manifests all", "manifests needs one of cronjob, rbac, schedule, all")
			}
			if _, err := schedule.Parser.Parse(c.String("backup-schedule")); err != nil {
				return errs.UsageError("use a five-field cron spec such as \"0 2 * * *\"", "invalid --backup-schedule: %v", err)
			}
			b, err := schedule.Manifests(c.Args().First(), schedule.ManifestOptions{
				Namespace: g.Namespace, Image: c.String("image"), BackupSchedule: c.String("backup-schedule"),
				TimeZone: c.String("timezone"), RepoSecret: c.String("repo-secret"),
			})
			if err != nil {
				return err
			}
			_, err = g.Stdout.Write(b)
			return err
		},
	}
}
