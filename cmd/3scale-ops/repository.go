package main

import (
	"context"
	"fmt"
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
		if strings.TrimSpace(o.Keys.Passphrase) == "" {
			return o, errs.UsageError("put the repository passphrase in the file (a Kubernetes secret mounted empty gives an empty file), or leave --password-file out for an unencrypted repository",
				"password file %s is empty: refusing to treat it as \"no encryption\"", g.PasswordFile)
		}
	} else if pw, ok := os.LookupEnv("THREESCALE_OPS_PASSWORD"); ok {
		if strings.TrimSpace(pw) == "" {
			return o, errs.UsageError("set THREESCALE_OPS_PASSWORD to the repository passphrase, or unset it for an unencrypted repository",
				"THREESCALE_OPS_PASSWORD is set but empty: refusing to treat it as \"no encryption\"")
		}
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
	if g.WriterKeyFile != "" {
		f, err := os.Open(g.WriterKeyFile)
		if err != nil {
			return o, errs.UsageError("check --writer-key-file", "read writer key file: %v", err)
		}
		defer f.Close()
		w, err := repo.ParseWriterKey(f)
		if err != nil {
			return o, errs.Wrap(errs.Usage, fmt.Errorf("%s: %w", g.WriterKeyFile, err), "give the file `3scale-ops init --writer-key-out` wrote")
		}
		redact.Add(w.Private)
		o.Keys.Writer = w
	}
	return o, nil
}

// unauthenticated is what every command that writes or lists an
// unencrypted repository says about it.
const unauthenticated = "the repository is not encrypted and so NOT AUTHENTICATED: anyone who can write to it can change its snapshots (including SQL that restore runs) without being detected; use --password-file or --recipient for an authenticated repository"

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
	r, err := repo.Open(ctx, be, opts)
	if err == nil && g.StateDir != "" {
		err = r.UseStateDir(g.StateDir)
	}
	return r, err
}
