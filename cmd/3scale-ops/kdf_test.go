package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"filippo.io/age/armor"

	"github.com/3scale-ops/3scale-ops/internal/errs"
)

// --kdf-work-factor sets the passphrase key's scrypt work factor of a new
// repository; out of range it is refused before anything is created, and
// the repository opens with the passphrase alone afterwards.
func TestKDFWorkFactorFlag(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	_ = os.WriteFile(pw, []byte("correct horse battery staple\n"), 0o600)
	repoDir := filepath.Join(dir, "repo")
	base := []string{"--local", "-r", repoDir, "--password-file", pw}
	for _, f := range []string{"14", "21"} {
		_, stderr, code := runCLI(t, append(base, "--kdf-work-factor", f, "init")...)
		if code != errs.Usage || !strings.Contains(stderr, "--kdf-work-factor "+f+" is out of range") || !strings.Contains(stderr, "15 to 20") {
			t.Fatalf("--kdf-work-factor %s: exit %d, %s", f, code, stderr)
		}
		if _, err := os.Stat(repoDir); !os.IsNotExist(err) {
			t.Fatalf("--kdf-work-factor %s created the repository: %v", f, err)
		}
	}
	if out, stderr, code := runCLI(t, append(base, "--kdf-work-factor", "15", "init")...); code != 0 {
		t.Fatalf("init: %d %s %s", code, out, stderr)
	}
	raw, err := os.ReadFile(filepath.Join(repoDir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Encryption struct {
			PassphraseKey string `json:"passphrase_key"`
		} `json:"encryption"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	bin, err := io.ReadAll(armor.NewReader(strings.NewReader(cfg.Encryption.PassphraseKey)))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^-> scrypt \S+ 15$`).Match(bin) {
		t.Fatalf("the passphrase key is not at work factor 15:\n%s", bin)
	}
	if out, stderr, code := runCLI(t, append(base, "backups", "list")...); code != 0 {
		t.Fatalf("backups list: %d %s %s", code, out, stderr)
	}
}
