package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// runCLI runs one command line in-process, as main does, and returns what
// it wrote and its exit code. Shared by every command's tests.
func runCLI(t testing.TB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"3scale-ops"}, args...), strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}
