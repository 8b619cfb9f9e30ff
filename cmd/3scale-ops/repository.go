package main

import (
	"context"

	"github.com/3scale-ops/3scale-ops/internal/repo"
	"github.com/3scale-ops/3scale-ops/internal/runbook"
)

// repoOptions reads the encryption keys from --password-file,
// THREESCALE_OPS_PASSWORD, --recipient and --recipients-file.
func (g *globals) repoOptions() (repo.Options, error) { return g.Settings.RepoOptions() }

// unauthenticated is what every command that writes or lists an
// unencrypted repository says about it.
const unauthenticated = runbook.Unauthenticated

// openRepository opens the repository of --repo (creating it when create
// is set and none exists).
func (g *globals) openRepository(ctx context.Context, create bool) (*repo.Repository, error) {
	return g.Settings.Open(ctx, create)
}
