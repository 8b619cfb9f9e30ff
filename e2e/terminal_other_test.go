//go:build !linux

package e2e

import (
	"errors"
	"os/exec"
)

func runWithTerminal(cmd *exec.Cmd, input string) ([]byte, string, error) {
	return nil, "", errors.New("typing a passphrase on a pseudo-terminal is implemented on Linux only")
}
