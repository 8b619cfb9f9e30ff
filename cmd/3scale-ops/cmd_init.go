package main

import (
	"context"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/repo"
	"github.com/urfave/cli/v2"
)

func initCommand() *cli.Command {
	return &cli.Command{
		Name:  "init",
		Usage: "create a backup repository (backup also creates one on first use)",
		Description: `Writes config.json at the repository location. With --password-file (or
THREESCALE_OPS_PASSWORD) and/or --recipient/--recipients-file the repository is
encrypted with age: every file and every manifest. Backups need no secret (they
encrypt to the repository's public keys); reading needs the passphrase or an age
identity (--identity-file of the backups command).`,
		UsageText: "3scale-ops -r s3://s3.example.com/backups/prod init\n3scale-ops -r /srv/3scale-backups --password-file /etc/3scale-ops/pw init",
		Action: func(c *cli.Context) error {
			g := getGlobals(c)
			opts, err := g.repoOptions()
			if err != nil {
				return err
			}
			be, err := repo.OpenBackend(c.Context, g.Repo, repo.BackendOptions{S3Insecure: g.S3Insecure})
			if err != nil {
				return errs.Wrap(errs.Usage, err, "check --repo")
			}
			r, err := repo.Init(c.Context, be, opts)
			if err != nil {
				return err
			}
			cfg := r.Config()
			if g.JSON() {
				return g.printJSON(map[string]any{"repository": r.Location(), "id": cfg.ID, "format": cfg.Format, "encrypted": r.Encrypted()})
			}
			enc := "not encrypted"
			if r.Encrypted() {
				enc = "encrypted with age"
			}
			g.printf("created repository %s at %s (%s)\n", cfg.ID, r.Location(), enc)
			return nil
		},
	}
}

// repoReadFlags are the flags of commands that read snapshots (the
// identity file is a global flag now; kept for the commands' flag lists).
func repoReadFlags() []cli.Flag { return nil }

// openForRead opens the repository of --repo with the keys of the
// command line, including --identity-file.
func openForRead(ctx context.Context, c *cli.Context) (*repo.Repository, error) {
	return getGlobals(c).openRepository(ctx, false)
}
