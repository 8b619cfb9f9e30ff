package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/redact"
)

// TLS modes, engine-neutral. Each engine's spelling (MySQL's ssl-mode,
// libpq's sslmode) is mapped onto these by ParseSSLMode.
const (
	ModeOff        = "disable"     // plain connection
	ModeAllow      = "allow"       // PostgreSQL only: plain first, TLS if the server insists
	ModePrefer     = "prefer"      // TLS when the server offers it, unverified; plain otherwise
	ModeRequire    = "require"     // TLS, server certificate not verified (verified when a CA is given)
	ModeVerifyCA   = "verify-ca"   // TLS, server certificate signed by the CA; any name
	ModeVerifyFull = "verify-full" // TLS, signed by the CA and issued to the host connected to
)

// TLS is the transport security of one connection: the mode and the PEM
// material, each with where it came from (for error messages that name
// the secret key or flag to fix). Keys live only in memory.
type TLS struct {
	Mode       string `json:"mode"`
	ModeSource string `json:"mode_source,omitempty"`
	CA         []byte `json:"-"`
	Cert       []byte `json:"-"`
	Key        []byte `json:"-"`
	CASource   string `json:"ca_source,omitempty"`
	CertSource string `json:"cert_source,omitempty"`
	KeySource  string `json:"key_source,omitempty"`

	component string
	fix       string // the flag that overrides the CA, for hints
}

// On reports whether the connection uses TLS at all (allow and prefer
// may end up plain).
func (t TLS) On() bool { return t.Mode != "" && t.Mode != ModeOff }

// Verifies reports whether the server certificate is checked.
func (t TLS) Verifies() bool {
	return t.Mode == ModeVerifyCA || t.Mode == ModeVerifyFull || (t.Mode == ModeRequire && len(t.CA) > 0)
}

// ParseSSLMode maps an engine's SSL mode spelling onto a TLS mode.
// engine is "mysql", "postgresql" or "redis". Case and - vs _ are ignored.
func ParseSSLMode(engine, v string) (string, error) {
	k := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(v)), "_", "-")
	var m map[string]string
	var valid string
	switch engine {
	case "mysql":
		m = map[string]string{"disabled": ModeOff, "preferred": ModePrefer, "required": ModeRequire,
			"verify-ca": ModeVerifyCA, "verify-identity": ModeVerifyFull}
		valid = "DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY"
	case "postgresql":
		m = map[string]string{"disable": ModeOff, "allow": ModeAllow, "prefer": ModePrefer, "require": ModeRequire,
			"verify-ca": ModeVerifyCA, "verify-full": ModeVerifyFull}
		valid = "disable, allow, prefer, require, verify-ca or verify-full"
	default:
		m = map[string]string{"disable": ModeOff, "require": ModeRequire, "verify-ca": ModeVerifyCA, "verify-full": ModeVerifyFull}
		valid = "disable, require, verify-ca or verify-full"
	}
	if mode, ok := m[k]; ok {
		return mode, nil
	}
	return "", fmt.Errorf("unknown SSL mode %q for %s: want %s", v, engine, valid)
}

// validate checks the material without connecting: the CA parses, the
// certificate and key parse and belong together, a mode that verifies
// has something to verify against. Errors are configuration errors.
func (t TLS) validate() error {
	if len(t.CA) > 0 {
		if !x509.NewCertPool().AppendCertsFromPEM(t.CA) {
			return errs.UsageError(fmt.Sprintf("put the PEM CA certificate in %s", t.CASource),
				"%s: %s holds no PEM certificate", t.component, t.CASource)
		}
	}
	switch {
	case len(t.Cert) > 0 && len(t.Key) == 0:
		return errs.UsageError("add the client key beside the certificate, or remove the certificate",
			"%s: client certificate (%s) without a key", t.component, t.CertSource)
	case len(t.Key) > 0 && len(t.Cert) == 0:
		return errs.UsageError("add the client certificate beside the key, or remove the key",
			"%s: client key (%s) without a certificate", t.component, t.KeySource)
	case len(t.Cert) > 0:
		if _, err := tls.X509KeyPair(t.Cert, t.Key); err != nil {
			// The parser's text never holds key material.
			return errs.UsageError(fmt.Sprintf("put the key of the certificate in %s, or the certificate of the key in %s", t.KeySource, t.CertSource),
				"%s: client certificate (%s) and key (%s) do not match: %s", t.component, t.CertSource, t.KeySource, redact.String(err.Error()))
		}
	}
	return nil
}

// Observed is what one TLS handshake showed, for `config --check`.
type Observed struct {
	mu             sync.Mutex
	Handshake      bool
	ServerName     string
	Verified       bool
	NotAfter       time.Time
	Subject        string
	ClientCertSent bool
	VerifyErr      error // why the server certificate was refused
}

// Config returns the crypto/tls configuration for a server at addr
// (host:port), or nil when the connection is plain. obs, when not nil,
// records the handshake.
func (t TLS) Config(addr string, obs *Observed) (*tls.Config, error) {
	if !t.On() {
		return nil, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	var pool *x509.CertPool
	if len(t.CA) > 0 {
		pool = x509.NewCertPool()
		pool.AppendCertsFromPEM(t.CA)
	} else if t.Verifies() {
		if pool, err = x509.SystemCertPool(); err != nil {
			return nil, fmt.Errorf("%s: system CA pool: %w", t.component, err)
		}
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, InsecureSkipVerify: true} // verified below, with errors that name the secret key
	if len(t.Cert) > 0 {
		pair, err := tls.X509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, t.validate()
		}
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if obs != nil {
				obs.mu.Lock()
				obs.ClientCertSent = true
				obs.mu.Unlock()
			}
			return &pair, nil
		}
	}
	verify, full := t.Verifies(), t.Mode == ModeVerifyFull
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("%s: server %s sent no certificate", t.component, addr)
		}
		leaf := cs.PeerCertificates[0]
		if obs != nil {
			obs.mu.Lock()
			obs.Handshake, obs.ServerName, obs.NotAfter, obs.Subject = true, host, leaf.NotAfter, leaf.Subject.String()
			obs.mu.Unlock()
		}
		if !verify {
			return nil
		}
		opts := x509.VerifyOptions{Roots: pool, Intermediates: x509.NewCertPool()}
		for _, ic := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(ic)
		}
		if full {
			opts.DNSName = host
		}
		if _, err := leaf.Verify(opts); err != nil {
			verr := t.verifyError(addr, leaf, err)
			if obs != nil {
				obs.mu.Lock()
				obs.VerifyErr = verr
				obs.mu.Unlock()
			}
			return verr
		}
		if obs != nil {
			obs.mu.Lock()
			obs.Verified = true
			obs.mu.Unlock()
		}
		return nil
	}
	return c, nil
}

// caRef names where the trusted CA comes from.
func (t TLS) caRef() string {
	if t.CASource != "" {
		return t.CASource
	}
	return "the system CA pool"
}

func (t TLS) verifyError(addr string, leaf *x509.Certificate, err error) error {
	var ua x509.UnknownAuthorityError
	var ci x509.CertificateInvalidError
	var he x509.HostnameError
	switch {
	case errors.As(err, &ci) && ci.Reason == x509.Expired:
		return errs.New(errs.Failure, "renew the server's certificate (or fix the clock)",
			"%s: the server certificate of %s is outside its validity (not after %s; trusted through %s)",
			t.component, addr, leaf.NotAfter.UTC().Format(time.RFC3339), t.caRef())
	case errors.As(err, &ua):
		return errs.New(errs.Usage, fmt.Sprintf("put the CA that signed %q in %s (or pass %s)", leaf.Issuer.String(), t.caRef(), t.fix),
			"%s: the server certificate of %s is not signed by the CA in %s", t.component, addr, t.caRef())
	case errors.As(err, &he):
		return errs.New(errs.Usage, "connect by a name the certificate holds, or use SSL mode verify-ca (VERIFY_CA) to skip the name check",
			"%s: the server certificate of %s is not issued to %s (it names %s)", t.component, addr, he.Host, certNames(leaf))
	}
	return errs.New(errs.Failure, "check the server certificate and "+t.caRef(),
		"%s: the server certificate of %s does not verify against %s: %v", t.component, addr, t.caRef(), err)
}

func certNames(c *x509.Certificate) string {
	n := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		n = append(n, ip.String())
	}
	if len(n) == 0 {
		n = append(n, "CN="+c.Subject.CommonName)
	}
	return strings.Join(n, ", ")
}

// ExplainTLS turns a connection error caused by TLS into a one-line error
// naming the connection and the secret key or flag to fix; other errors
// are returned unchanged.
func (t TLS) ExplainTLS(addr string, err error) error {
	if err == nil {
		return nil
	}
	var e *errs.Error
	if errors.As(err, &e) && strings.HasPrefix(e.Error(), t.component+": ") {
		return e // already explained by the verifier
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "certificate required") || strings.Contains(msg, "bad certificate") ||
		strings.Contains(msg, "unknown certificate authority") || strings.Contains(msg, "certificate unknown"):
		if len(t.Cert) == 0 {
			return errs.New(errs.Failure, "add a client certificate and key to the secret (or pass the client certificate flags)",
				"%s: the server %s requires a client certificate and none is configured", t.component, addr)
		}
		return errs.New(errs.Failure, fmt.Sprintf("use a client certificate the server trusts in %s and %s", t.CertSource, t.KeySource),
			"%s: the server %s refused the client certificate from %s", t.component, addr, t.CertSource)
	case t.On() && len(t.Cert) > 0 && (strings.Contains(msg, "connection reset by peer") || strings.Contains(msg, "broken pipe")):
		// With TLS 1.3 the client's certificate is checked after the client
		// has finished its side of the handshake: a server that refuses it
		// may reset the connection before its alert is read, so the client
		// sees a reset on its first write instead of "bad certificate".
		return errs.New(errs.Failure, fmt.Sprintf("use a client certificate the server trusts in %s and %s (the server's log names the reason)", t.CertSource, t.KeySource),
			"%s: the server %s reset the connection right after the TLS handshake: it most likely refused the client certificate from %s", t.component, addr, t.CertSource)
	case strings.Contains(msg, "first record does not look like a TLS handshake") || strings.Contains(msg, "server does not support TLS") ||
		strings.Contains(msg, "server refused TLS connection") || strings.Contains(msg, "TLS requested but server does not support TLS"):
		return errs.New(errs.Failure, "turn TLS off for this connection ("+t.ModeSource+") or enable it on the server",
			"%s: the server %s does not speak TLS", t.component, addr)
	}
	return err
}
