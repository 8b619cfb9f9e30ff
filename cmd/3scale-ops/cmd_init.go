package main

import (
	"context"
	"fmt"
	"os"

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
identity (--identity-file of the backups command).

An encrypted repository is authenticated: config.json and every manifest carry
a MAC under a key only the repository's key opens, so a change by anyone
without it is refused before anything is restored, exported or pruned. A backup
job that should not hold the reading key gets a writer key instead:
--writer-key-out FILE writes one (keep it in the job's secret, give it with
--writer-key-file). It signs the job's manifests and binds the job to this exact
config.json: if anyone changes it (swapped recipients), the backup exits 2 and
writes nothing. An unencrypted repository is not authenticated.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "object-lock", EnvVars: []string{"THREESCALE_OPS_OBJECT_LOCK"}, Usage: "S3 only, bucket created with object lock: write every snapshot object with this retention (30d, 720h); nobody can delete or replace it before then"},
			&cli.StringFlag{Name: "object-lock-mode", Value: "governance", EnvVars: []string{"THREESCALE_OPS_OBJECT_LOCK_MODE"}, Usage: "object lock mode: governance (users with s3:BypassGovernanceRetention may delete early) or compliance (nobody, not even the bucket's root)"},
			&cli.StringFlag{Name: "writer-key-out", EnvVars: []string{"THREESCALE_OPS_WRITER_KEY_OUT"}, Usage: "create a writer key for backup jobs and write it to FILE (mode 0600; must not exist)"},
		},
		UsageText: "3scale-ops -r s3://s3.example.com/backups/prod init\n3scale-ops -r /srv/3scale-backups --password-file /etc/3scale-ops/pw init",
		Action: func(c *cli.Context) error {
			g := getGlobals(c)
			opts, err := g.repoOptions()
			if err != nil {
				return err
			}
			if v := c.String("object-lock"); v != "" {
				if opts.ObjectLock, err = repo.ParseRetention(v); err != nil {
					return err
				}
				opts.ObjectLockMode = c.String("object-lock-mode")
			}
			var wf *os.File
			if out := c.String("writer-key-out"); out != "" {
				if opts.Keys.Passphrase == "" && len(opts.Keys.Recipients) == 0 {
					return errs.UsageError("give --password-file or --recipient", "--writer-key-out needs an encrypted repository: an unencrypted one is not authenticated")
				}
				if wf, err = os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
					return errs.UsageError("choose a new file for --writer-key-out", "writer key file: %v", err)
				}
				opts.Keys.NewWriter = true
				defer func() {
					if wf != nil {
						wf.Close()
						os.Remove(out)
					}
				}()
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
			if wf != nil {
				_, err := wf.Write(r.NewWriterKey().Marshal())
				if err == nil {
					err = wf.Sync()
				}
				if cerr := wf.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return fmt.Errorf("write writer key %s: %w (the repository was created; remove its config.json and run init again)", c.String("writer-key-out"), err)
				}
				wf = nil
			}
			if g.JSON() {
				return g.printJSON(map[string]any{"repository": r.Location(), "id": cfg.ID, "format": cfg.Format, "encrypted": r.Encrypted(), "authenticated": r.Authenticated()})
			}
			enc := "not encrypted"
			if r.Encrypted() {
				enc = "encrypted with age and authenticated"
			} else {
				g.warnf("%s", unauthenticated)
			}
			if cfg.ObjectLock != nil {
				enc += fmt.Sprintf("; snapshots under object lock %s for %s", cfg.ObjectLock.Mode, cfg.ObjectLock.For)
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
