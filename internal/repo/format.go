package repo

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/errs"
)

// FormatVersion is the repository format this build writes and reads.
// A repository with a higher version is refused.
const FormatVersion = 1

// Object names inside a repository.
const (
	configName    = "config.json"
	snapshotsDir  = "snapshots/"
	locksDir      = "locks/"
	restoresDir   = "restores/"
	manifestName  = "manifest.json"
	readmeName    = "README.txt"
	idTimeLayout  = "20060102T150405Z"
	ageSuffix     = ".age"
	manifestAged  = manifestName + ageSuffix
	manifestPlain = manifestName
)

// Config is config.json, the first object of a repository.
type Config struct {
	Format     int         `json:"format"`
	ID         string      `json:"id"`
	Created    time.Time   `json:"created"`
	Encryption *Encryption `json:"encryption,omitempty"`
	// Auth is present exactly when Encryption is: see auth.go.
	Auth *Auth `json:"auth,omitempty"`
	// ObjectLock: snapshots are written under S3 object lock retention.
	ObjectLock *ObjectLock `json:"object_lock,omitempty"`
}

// Encryption holds the public parameters of an encrypted repository.
// Files are age-encrypted to every recipient. With a passphrase, a
// repository key (an age X25519 identity) is generated at init and stored
// here encrypted with the passphrase (age scrypt), and its recipient is
// one of Recipients: so a backup needs no secret, and the costly scrypt
// runs once per command rather than once per file.
type Encryption struct {
	Scheme     string   `json:"scheme"` // "age"
	Recipients []string `json:"recipients"`
	// PassphraseKey is the armored age file (scrypt) holding the
	// repository key; empty when only recipients are used.
	PassphraseKey string `json:"passphrase_key,omitempty"`
	// Check is an armored age file holding the repository id, encrypted
	// to Recipients: it tells whether a given key opens this repository.
	Check string `json:"check"`
}

// Manifest describes one committed snapshot. Its presence in the
// repository is the commit point.
type Manifest struct {
	Format            int               `json:"format"`
	ID                string            `json:"id"`
	ToolVersion       string            `json:"tool_version"`
	Namespace         string            `json:"namespace,omitempty"`
	ThreescaleVersion string            `json:"threescale_version,omitempty"`
	Start             time.Time         `json:"start"`
	End               time.Time         `json:"end"`
	Tags              map[string]string `json:"tags,omitempty"`
	Encrypted         bool              `json:"encrypted"`
	Compression       string            `json:"compression"`
	Components        []Component       `json:"components"`
	// ReadmeFormat is the version of the README.txt instructions the
	// snapshot was written with (0: before versions were recorded);
	// verify compares README.txt with the manifest only in its own.
	ReadmeFormat int `json:"readme_format,omitempty"`
	// Auth proves who wrote the manifest (encrypted repositories).
	Auth *ManifestAuth `json:"auth,omitempty"`
}

// Component is one component's part of a snapshot.
type Component struct {
	Name     string                     `json:"name"`
	Start    time.Time                  `json:"start"`
	End      time.Time                  `json:"end"`
	Duration string                     `json:"duration"`
	Meta     map[string]json.RawMessage `json:"meta,omitempty"`
	Files    []FileEntry                `json:"files"`
}

// FileEntry is one stored file.
type FileEntry struct {
	Name        string `json:"name"` // as the engine named it
	Path        string `json:"path"` // object path relative to the snapshot directory
	Format      string `json:"format"`
	Compression string `json:"compression"` // zstd, gzip or none
	Encryption  string `json:"encryption"`  // age or none
	RawSize     int64  `json:"raw_size"`
	RawSHA256   string `json:"raw_sha256"`
	Size        int64  `json:"size"` // stored bytes
	SHA256      string `json:"sha256"`
	Count       int64  `json:"count,omitempty"`
}

// Size is the stored size of all files of the snapshot.
func (m *Manifest) Size() int64 {
	var n int64
	for _, c := range m.Components {
		for _, f := range c.Files {
			n += f.Size
		}
	}
	return n
}

// ComponentNames lists the components in manifest order.
func (m *Manifest) ComponentNames() []string {
	out := make([]string, len(m.Components))
	for i, c := range m.Components {
		out[i] = c.Name
	}
	return out
}

// Component returns the named component, or nil.
func (m *Manifest) Component(name string) *Component {
	for i := range m.Components {
		if m.Components[i].Name == name {
			return &m.Components[i]
		}
	}
	return nil
}

var idRE = regexp.MustCompile(`^\d{8}T\d{6}Z-[0-9a-f]{6}$`)

// NewSnapshotID returns an id such as 20261123T020000Z-3e7b2c. The first
// three hex digits of the suffix are the milliseconds of the second
// (000–3e7), the other three are random, so ids sort in creation order
// even within one second ("latest" is always the newest: two backups of
// one repository never start in the same millisecond, the second starts
// after the first has written its files) and still do not collide.
func NewSnapshotID(t time.Time) string {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	t = t.UTC()
	return fmt.Sprintf("%s-%03x%s", t.Format(idTimeLayout), t.Nanosecond()/int(time.Millisecond), hex.EncodeToString(b)[:3])
}

// ValidSnapshotID reports whether id has the snapshot id form and names
// a real time (20261399T… has the form but no time).
func ValidSnapshotID(id string) bool {
	_, err := SnapshotTime(id)
	return err == nil
}

// SnapshotTime returns the time encoded in a snapshot id.
func SnapshotTime(id string) (time.Time, error) {
	bad := func() error {
		return errs.UsageError("run `3scale-ops backups list` to see the snapshots",
			"%q is not a snapshot id (like 20261123T020000Z-a1b2c3)", id)
	}
	if !idRE.MatchString(id) {
		return time.Time{}, bad()
	}
	t, err := time.Parse(idTimeLayout, id[:16])
	if err != nil {
		return time.Time{}, bad()
	}
	return t, nil
}

func newRepoID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func marshal(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("repo: marshal %T: %v", v, err)) // only our own types are marshalled
	}
	return append(b, '\n')
}
