// Package archtest holds the import-rule check: a test that reads the
// module's package graph (`go list -json`) and fails when a package
// imports what docs/development.md says it must not. It has no code of
// its own; the rules are in archtest_test.go.
package archtest
