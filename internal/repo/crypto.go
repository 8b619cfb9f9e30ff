package repo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// Keys are the secrets and public keys a command was given.
type Keys struct {
	Passphrase string   // repository passphrase (age scrypt)
	Recipients []string // age recipients (public keys) for a new repository
	Identities []age.Identity
	// Writer is a backup job's writer key (--writer-key-file).
	Writer *WriterKey
	// NewWriter asks Init to create a writer key (see NewWriterKey).
	NewWriter bool
	// ScryptWorkFactor for wrapping the repository key at init
	// (0: DefaultScryptWorkFactor); MinScryptWorkFactor to
	// MaxScryptWorkFactor.
	ScryptWorkFactor int
}

// The passphrase key's scrypt work factor is log2 N. age's scrypt has r = 8
// and p = 1, so deriving the key needs 128·8·2^f bytes, 2^f KiB, and time
// in proportion: at 18, 256 MiB and about a second here.
const (
	DefaultScryptWorkFactor = 18 // age's own default
	MinScryptWorkFactor     = 10 // 1 MiB: tests; init's flag asks for 15 or more
	MaxScryptWorkFactor     = 20 // 1 GiB: what init writes and what opening accepts
)

// ScryptMemory is what deriving a passphrase key at work factor f needs.
func ScryptMemory(f int) int64 { return 128 * 8 << f }

// WorkFactorError is a passphrase key whose work factor is above
// MaxScryptWorkFactor: no init of this tool writes one, so its config.json
// was written by something else or changed. Opening refuses it before
// scrypt allocates the memory it asks for (2^22, age's own limit, is
// 4 GiB).
type WorkFactorError struct{ Factor int }

func (e *WorkFactorError) Error() string {
	return fmt.Sprintf("config.json: the passphrase key asks for scrypt work factor %d (%d MiB of memory); "+
		"3scale-ops writes %d to %d and opens at most %d: this config.json was not written by 3scale-ops init, or was changed",
		e.Factor, ScryptMemory(min(e.Factor, 40))>>20, MinScryptWorkFactor, MaxScryptWorkFactor, MaxScryptWorkFactor)
}

// scryptOpener is age's scrypt identity that reads the work factor of
// the stanza first and refuses one above MaxScryptWorkFactor with a
// WorkFactorError.
type scryptOpener struct{ id *age.ScryptIdentity }

func (s scryptOpener) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	for _, st := range stanzas {
		if st.Type != "scrypt" || len(st.Args) != 2 {
			continue
		}
		if f, err := strconv.Atoi(st.Args[1]); err == nil && f > MaxScryptWorkFactor {
			return nil, &WorkFactorError{Factor: f}
		}
	}
	return s.id.Unwrap(stanzas)
}

// ParseIdentities reads an age identity file (AGE-SECRET-KEY-… lines).
func ParseIdentities(r io.Reader) ([]age.Identity, error) {
	ids, err := age.ParseIdentities(r)
	if err != nil {
		return nil, fmt.Errorf("age identity file: %w", err)
	}
	return ids, nil
}

// ParseRecipients reads age recipients, one per line (# comments allowed).
func ParseRecipients(r io.Reader) ([]string, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if _, err := age.ParseX25519Recipient(l); err != nil {
			return nil, fmt.Errorf("age recipient %q: %w", l, err)
		}
		out = append(out, l)
	}
	return out, nil
}

// errBlankPassphrase refuses a passphrase of only white space: it is a
// mistake (an empty secret), never a key.
var errBlankPassphrase = errors.New("the passphrase is empty or only white space")

// newEncryption builds the encryption parameters of a new repository;
// with a passphrase it also returns the repository key it generated, so
// that Init need not run scrypt a second time to unwrap it.
func newEncryption(repoID string, k Keys) (*Encryption, *age.X25519Identity, error) {
	if k.Passphrase != "" && strings.TrimSpace(k.Passphrase) == "" {
		return nil, nil, errBlankPassphrase
	}
	var key *age.X25519Identity
	enc := &Encryption{Scheme: "age"}
	for _, r := range k.Recipients {
		if _, err := age.ParseX25519Recipient(r); err != nil {
			return nil, nil, fmt.Errorf("age recipient %q: %w", r, err)
		}
		enc.Recipients = append(enc.Recipients, r)
	}
	if k.Passphrase != "" {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			return nil, nil, err
		}
		sr, err := age.NewScryptRecipient(k.Passphrase)
		if err != nil {
			return nil, nil, err
		}
		f := k.ScryptWorkFactor
		if f == 0 {
			f = DefaultScryptWorkFactor
		}
		if f < MinScryptWorkFactor || f > MaxScryptWorkFactor {
			return nil, nil, fmt.Errorf("scrypt work factor %d: give %d to %d", f, MinScryptWorkFactor, MaxScryptWorkFactor)
		}
		sr.SetWorkFactor(f)
		wrapped, err := armored([]byte(id.String()+"\n"), sr)
		if err != nil {
			return nil, nil, err
		}
		enc.PassphraseKey = wrapped
		enc.Recipients = append(enc.Recipients, id.Recipient().String())
		key = id
	}
	rs, err := enc.recipients()
	if err != nil {
		return nil, nil, err
	}
	if enc.Check, err = armored([]byte(repoID), rs...); err != nil {
		return nil, nil, err
	}
	return enc, key, nil
}

func armored(plain []byte, rs ...age.Recipient) (string, error) {
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	w, err := age.Encrypt(aw, rs...)
	if err != nil {
		return "", err
	}
	if _, err := w.Write(plain); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	if err := aw.Close(); err != nil {
		return "", err
	}
	return buf.String(), nil
}

func unarmor(s string, ids ...age.Identity) ([]byte, error) {
	r, err := age.Decrypt(armor.NewReader(strings.NewReader(s)), ids...)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func (e *Encryption) recipients() ([]age.Recipient, error) {
	var out []age.Recipient
	for _, s := range e.Recipients {
		r, err := age.ParseX25519Recipient(s)
		if err != nil {
			return nil, fmt.Errorf("config.json: age recipient %q: %w", s, err)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, errors.New("config.json: encrypted repository without recipients")
	}
	return out, nil
}

// identities returns the identities that open this repository from the
// given keys; none (and no error) when no key was given. A key that does
// not open the repository is an error.
func (e *Encryption) identities(repoID string, k Keys) ([]age.Identity, error) {
	ids := append([]age.Identity(nil), k.Identities...)
	if k.Passphrase != "" && e.PassphraseKey != "" {
		si, err := age.NewScryptIdentity(k.Passphrase)
		if err != nil {
			return nil, err
		}
		si.SetMaxWorkFactor(MaxScryptWorkFactor)
		keyText, err := unarmor(e.PassphraseKey, scryptOpener{si})
		if wf := (*WorkFactorError)(nil); errors.As(err, &wf) {
			return nil, err
		}
		if err != nil {
			return nil, errors.New("the passphrase does not open this repository")
		}
		id, err := age.ParseX25519Identity(strings.TrimSpace(string(keyText)))
		if err != nil {
			return nil, fmt.Errorf("config.json: repository key: %w", err)
		}
		ids = append(ids, id)
	} else if k.Passphrase != "" && len(k.Identities) == 0 {
		return nil, errors.New("this repository has no passphrase (it is encrypted to age recipients): give --identity-file")
	}
	if len(ids) == 0 {
		return nil, nil
	}
	got, err := unarmor(e.Check, ids...)
	if err != nil || string(got) != repoID {
		return nil, errors.New("the given key does not open this repository")
	}
	return ids, nil
}

// sameRecipients checks that recipients given on the command line (a
// backup job configured with them) are the repository's: a config.json
// whose recipients were swapped is refused.
func (e *Encryption) sameRecipients(k Keys) error {
	if len(k.Recipients) == 0 {
		return nil
	}
	extra := 0
	if e.PassphraseKey != "" {
		extra = 1 // the passphrase-wrapped repository key's own recipient
	}
	for _, r := range k.Recipients {
		if !slices.Contains(e.Recipients, r) {
			return fmt.Errorf("config.json does not encrypt to the given recipient %s: its recipients were changed", r)
		}
	}
	if len(e.Recipients) > len(k.Recipients)+extra {
		return errors.New("config.json encrypts to recipients that were not given: its recipients were changed")
	}
	return nil
}
