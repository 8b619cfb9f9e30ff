package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/errs"
)

// A server that refuses the client certificate under TLS 1.3 may reset the
// connection before the client reads its alert; the error must still name
// the certificate's secret key, and a reset without a client certificate
// (or without TLS) is passed on unchanged.
func TestExplainTLSResetAfterHandshake(t *testing.T) {
	reset := errors.New("failed to write startup message: write tcp 127.0.0.1:40708->127.0.0.1:30596: write: connection reset by peer")
	withCert := TLS{Mode: ModeVerifyFull, Cert: []byte("cert"), CertSource: "secret zync key DB_SSL_CERT", KeySource: "secret zync key DB_SSL_KEY", component: "zync-postgres"}
	err := withCert.ExplainTLS("127.0.0.1:30596", reset)
	for _, w := range []string{"zync-postgres", "refused the client certificate from secret zync key DB_SSL_CERT"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v lacks %q", err, w)
		}
	}
	if errs.Code(err) != errs.Failure {
		t.Errorf("exit code %d, want %d", errs.Code(err), errs.Failure)
	}
	noCert := withCert
	noCert.Cert = nil
	if got := noCert.ExplainTLS("127.0.0.1:30596", reset); got != reset {
		t.Errorf("without a client certificate the reset changed into %v", got)
	}
	plain := TLS{Mode: ModeOff, Cert: []byte("cert"), component: "zync-postgres"}
	if got := plain.ExplainTLS("127.0.0.1:30596", reset); got != reset {
		t.Errorf("without TLS the reset changed into %v", got)
	}
}
