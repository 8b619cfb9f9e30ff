package main

import (
	"context"
	"os"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/redact"
	"github.com/3scale-ops/3scale-ops/internal/repo"
)

// repoOptions reads the encryption keys from --password-file,
// THREESCALE_OPS_PASSWORD, --recipient and --recipients-file.
func (g *globals) repoOptions() (repo.Options, error) {
	o := repo.Options{ToolVersion: version, Logger: g.Log}
	if g.PasswordFile != "" {
		b, err := os.ReadFile(g.PasswordFile)
		if err != nil {
			return o, errs.UsageError("check --password-file", "read password file: %v", err)
		}
		o.Keys.Passphrase = strings.TrimRight(string(b), "\r\n")
	} else if pw := os.Getenv("THREESCALE_OPS_PASSWORD"); pw != "" {
		o.Keys.Passphrase = pw
	}
	redact.Add(o.Keys.Passphrase)
	o.Keys.Recipients = append(o.Keys.Recipients, g.Recipients...)
	if g.RecipientsFile != "" {
		f, err := os.Open(g.RecipientsFile)
		if err != nil {
			return o, errs.UsageError("check --recipients-file", "read recipients file: %v", err)
		}
		defer f.Close()
		rs, err := repo.ParseRecipients(f)
		if err != nil {
			return o, errs.Wrap(errs.Usage, err, "check --recipients-file")
		}
		o.Keys.Recipients = append(o.Keys.Recipients, rs...)
	}
	if g.IdentityFile != "" {
		f, err := os.Open(g.IdentityFile)
		if err != nil {
			return o, errs.UsageError("check --identity-file", "read identity file: %v", err)
		}
		defer f.Close()
		ids, err := repo.ParseIdentities(f)
		if err != nil {
			return o, errs.Wrap(errs.Usage, err, "check --identity-file")
		}
		o.Keys.Identities = ids
	}
	return o, nil
}

// openRepository opens the repository of --repo (creating it when create
// is set and none exists).
func (g *globals) openRepository(ctx context.Context, create bool) (*repo.Repository, error) {
	opts, err := g.repoOptions()
	if err != nil {
		return nil, err
	}
	be, err := repo.OpenBackend(ctx, g.Repo, repo.BackendOptions{S3Insecure: g.S3Insecure})
	if err != nil {
		return nil, errs.Wrap(errs.Usage, err, "check --repo")
	}
	if create {
		r, _, err := repo.OpenOrInit(ctx, be, opts)
		return r, err
	}
	return repo.Open(ctx, be, opts)
}
