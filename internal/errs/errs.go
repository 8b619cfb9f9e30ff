// Package errs carries the exit code and the user's next step along with
// an error, so that the CLI can print one clear line and exit with the
// documented code. Library code wraps with these; only main decides how
// to print.
package errs

import (
	"context"
	"errors"
	"fmt"
)

// Exit codes of the command-line contract.
const (
	OK       = 0 // success
	Failure  = 1 // something failed
	Usage    = 2 // bad usage or input
	Mismatch = 3 // verification found a difference
	Locked   = 4 // another run holds the repository or restore lock
)

// ErrNotConfigured is wrapped by errors that mean "this installation does
// not provide this component here" (no flag in --local mode, no such
// secret), as opposed to a failure to read it. A backup of every
// component leaves such components out; other errors fail it.
var ErrNotConfigured = errors.New("not configured")

// Error is an error with an exit code and an optional hint (what to do next).
type Error struct {
	Code int
	Err  error
	Hint string
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// New returns an error with code and hint; msg is formatted with args.
func New(code int, hint, msg string, args ...any) error {
	return &Error{Code: code, Err: fmt.Errorf(msg, args...), Hint: hint}
}

// Wrap attaches code and hint to err (nil stays nil).
func Wrap(code int, err error, hint string) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err, Hint: hint}
}

// Corrupt reports a snapshot artifact whose content is damaged although
// its bytes may match their recorded hashes: a truncated statement or RDB,
// a tar that does not parse, files or counts that disagree with the
// artifact's own metadata. Every engine gives this condition the same exit
// code, 3 ("verification found a difference"); err should wrap
// artifact.ErrCorrupt.
func Corrupt(err error, hint string) error { return Wrap(Mismatch, err, hint) }

// UsageError reports bad input (exit 2).
func UsageError(hint, msg string, args ...any) error { return New(Usage, hint, msg, args...) }

// NotImplemented is returned by commands that are planned but not built.
func NotImplemented(what string) error {
	return New(Failure, "see README.md, \"Status\", for what is planned", "%s: not implemented yet", what)
}

// Code returns the exit code for err: the outermost Error's code, or 1.
func Code(err error) int {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Failure
}

// Hint returns the first hint found in err's chain.
func Hint(err error) string {
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return ""
		}
		if e.Hint != "" {
			return e.Hint
		}
		err = e.Err
	}
	return ""
}

// Canceled reports whether err comes from a cancelled context (Ctrl-C).
func Canceled(err error) bool { return errors.Is(err, context.Canceled) }
