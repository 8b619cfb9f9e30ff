package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// runWithTerminal runs cmd in a session of its own whose controlling
// terminal is a new pseudo-terminal (what age opens as /dev/tty to ask for
// a passphrase), types input there once a prompt for a passphrase shows
// (or after 10 s), and returns cmd's stdout and stderr, and what the
// terminal showed.
func runWithTerminal(cmd *exec.Cmd, input string) ([]byte, string, error) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, "", fmt.Errorf("open a pseudo-terminal: %w", err)
	}
	defer master.Close()
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		return nil, "", fmt.Errorf("unlock the pseudo-terminal: %w", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		return nil, "", fmt.Errorf("pseudo-terminal number: %w", err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, "", fmt.Errorf("open /dev/pts/%d: %w", n, err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.ExtraFiles = []*os.File{tty} // fd 3 in the child
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 3}
	err = cmd.Start()
	tty.Close()
	if err != nil {
		return nil, "", err
	}
	var once sync.Once
	typeInput := func() { once.Do(func() { _, _ = master.Write([]byte(input + "\n")) }) }
	timer := time.AfterFunc(10*time.Second, typeInput)
	defer timer.Stop()
	screen := make(chan string, 1)
	go func() {
		var seen []byte
		buf := make([]byte, 512)
		for {
			k, err := master.Read(buf)
			seen = append(seen, buf[:k]...)
			if bytes.Contains(bytes.ToLower(seen), []byte("passphrase")) {
				typeInput()
			}
			if err != nil {
				screen <- string(seen)
				return
			}
		}
	}()
	err = cmd.Wait()
	master.Close()
	return out.Bytes(), <-screen, err
}
