// Package runbook holds what the CLI, the drill and the scheduler share:
// the global settings (which installation, which repository, which keys)
// and the backup, prune and purge runs built on them. The CLI fills a
// Settings from its flags; drill and schedule receive that same value and
// call these functions in-process. It never prints: results are returned,
// warnings go to the logger or a callback.
package runbook

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/redact"
	"github.com/3scale-ops/3scale-ops/internal/repo"
)

// Settings are the global settings: the one definition the CLI's global
// flags fill and every command, the drill and the scheduler use.
type Settings struct {
	Namespace  string // -n; empty: the kubeconfig context's
	Kubeconfig string
	Context    string
	Local      bool // no Kubernetes: every connection comes from Overrides
	Overrides  config.Overrides

	Repo           string // path, file:// or s3:// URL
	S3Insecure     bool
	PasswordFile   string
	Recipients     []string
	RecipientsFile string
	IdentityFile   string
	WriterKeyFile  string
	// KDFWorkFactor is the scrypt work factor of the passphrase key of a
	// repository this run creates (0: repo.DefaultScryptWorkFactor).
	KDFWorkFactor int
	// StateDir keeps the restore's lock and journal locally (a read-only
	// repository can then be restored from).
	StateDir    string
	ToolVersion string // recorded in manifests

	Log *slog.Logger
}

func (s *Settings) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

// KubeClients connects to Kubernetes; nil, nil with Local.
func (s *Settings) KubeClients() (*kube.Clients, error) {
	if s.Local {
		return nil, nil
	}
	kc, err := kube.Connect(s.Kubeconfig, s.Context)
	if err != nil {
		return nil, err
	}
	if s.Namespace != "" {
		kc.Namespace = s.Namespace
	}
	return kc, nil
}

// NamespaceOf is -n, or the kubeconfig context's namespace.
func (s *Settings) NamespaceOf(kc *kube.Clients) string {
	if s.Namespace != "" || kc == nil {
		return s.Namespace
	}
	return kc.Namespace
}

// Connections resolves every connection of the installation (overrides →
// secrets → defaults). kc is nil with Local.
func (s *Settings) Connections(ctx context.Context) (*config.Connections, *kube.Clients, error) {
	kc, err := s.KubeClients()
	if err != nil {
		return nil, nil, err
	}
	conns, err := config.Resolve(ctx, kc, s.NamespaceOf(kc), s.Overrides)
	if err != nil {
		return nil, nil, err
	}
	return conns, kc, nil
}

// RepoOptions reads the encryption keys from PasswordFile,
// THREESCALE_OPS_PASSWORD, Recipients, RecipientsFile, IdentityFile and
// WriterKeyFile. Every secret read is registered with redact.
func (s *Settings) RepoOptions() (repo.Options, error) {
	o := repo.Options{ToolVersion: s.ToolVersion, Logger: s.log()}
	if s.PasswordFile != "" {
		b, err := os.ReadFile(s.PasswordFile)
		if err != nil {
			return o, errs.UsageError("check --password-file", "read password file: %v", err)
		}
		o.Keys.Passphrase = strings.TrimRight(string(b), "\r\n")
		if strings.TrimSpace(o.Keys.Passphrase) == "" {
			return o, errs.UsageError("put the repository passphrase in the file (a Kubernetes secret mounted empty gives an empty file), or leave --password-file out for an unencrypted repository",
				"password file %s is empty: refusing to treat it as \"no encryption\"", s.PasswordFile)
		}
	} else if pw, ok := os.LookupEnv("THREESCALE_OPS_PASSWORD"); ok {
		if strings.TrimSpace(pw) == "" {
			return o, errs.UsageError("set THREESCALE_OPS_PASSWORD to the repository passphrase, or unset it for an unencrypted repository",
				"THREESCALE_OPS_PASSWORD is set but empty: refusing to treat it as \"no encryption\"")
		}
		o.Keys.Passphrase = pw
	}
	redact.Add(o.Keys.Passphrase)
	o.Keys.Recipients = append(o.Keys.Recipients, s.Recipients...)
	if s.RecipientsFile != "" {
		f, err := os.Open(s.RecipientsFile)
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
	if s.IdentityFile != "" {
		f, err := os.Open(s.IdentityFile)
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
	if s.WriterKeyFile != "" {
		f, err := os.Open(s.WriterKeyFile)
		if err != nil {
			return o, errs.UsageError("check --writer-key-file", "read writer key file: %v", err)
		}
		defer f.Close()
		w, err := repo.ParseWriterKey(f)
		if err != nil {
			return o, errs.Wrap(errs.Usage, fmt.Errorf("%s: %w", s.WriterKeyFile, err), "give the file `3scale-ops init --writer-key-out` wrote")
		}
		redact.Add(w.Private)
		o.Keys.Writer = w
	}
	if f := s.KDFWorkFactor; f != 0 {
		if f < MinKDFWorkFactor || f > repo.MaxScryptWorkFactor {
			return o, errs.UsageError(fmt.Sprintf("give --kdf-work-factor %d to %d (memory 2^N KiB: 16 is 64 MiB, 18 is 256 MiB)", MinKDFWorkFactor, repo.MaxScryptWorkFactor),
				"--kdf-work-factor %d is out of range", f)
		}
		o.Keys.ScryptWorkFactor = f
	}
	return o, nil
}

// MinKDFWorkFactor is the lowest --kdf-work-factor: 32 MiB and about an
// eighth of a second per guess of the passphrase here.
const MinKDFWorkFactor = 15

// Unauthenticated is what every run that writes or lists an unencrypted
// repository says about it.
const Unauthenticated = "the repository is not encrypted and so NOT AUTHENTICATED: anyone who can write to it can change its snapshots (including SQL that restore runs) without being detected; use --password-file or --recipient for an authenticated repository"

// OpenRepository opens the repository with opts (from RepoOptions, maybe
// changed); with create it is initialised when none exists (created
// then reports so).
func (s *Settings) OpenRepository(ctx context.Context, opts repo.Options, create bool) (r *repo.Repository, created bool, err error) {
	be, err := repo.OpenBackend(ctx, s.Repo, repo.BackendOptions{S3Insecure: s.S3Insecure})
	if err != nil {
		return nil, false, errs.Wrap(errs.Usage, err, "check --repo")
	}
	if create {
		r, created, err = repo.OpenOrInit(ctx, be, opts)
		if err == nil && created {
			s.log().Info("created repository", "repository", r.Location(), "encrypted", r.Encrypted())
		}
		return r, created, err
	}
	r, err = repo.Open(ctx, be, opts)
	if err == nil && s.StateDir != "" {
		err = r.UseStateDir(s.StateDir)
	}
	return r, false, err
}

// Open is OpenRepository with the settings' own options.
func (s *Settings) Open(ctx context.Context, create bool) (*repo.Repository, error) {
	opts, err := s.RepoOptions()
	if err != nil {
		return nil, err
	}
	r, _, err := s.OpenRepository(ctx, opts, create)
	return r, err
}
