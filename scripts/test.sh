#!/usr/bin/env bash
# test.sh [PACKAGES…] - run the Go tests against the real servers of the
# test environment, starting it first when it is not running (and stopping
# it again at the end, also on failure). Installs what it needs.
#
# The terminal gets one line per step with its duration and go test's own
# lines (one per package, failures in full); apt, go builds and the servers
# write to one log file (TEST_LOG, default .logs/test.log), named at the
# end. A failed step prints the log's last lines and its path.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH=$PATH:/usr/local/go/bin:$HOME/go/bin
LOG=${TEST_LOG:-$ROOT/.logs/test.log}
# shellcheck source=scripts/steps.sh
. "$ROOT/scripts/steps.sh"
command -v go >/dev/null || { echo "test.sh: Go is not installed (https://go.dev/doc/install)" >&2; exit 1; }

steps_init "$LOG"
started=0
cleanup() {
  if [ "$started" = 1 ]; then
    local t0; t0=$(steps_now)
    scripts/testenv.sh down >> "$LOG" 2>&1 || true
    printf '%-60s %8s\n' "stopping the test servers" "$(steps_since "$t0")"
  fi
}
trap cleanup EXIT INT TERM
if ! scripts/testenv.sh status >/dev/null 2>&1; then
  step "installing packages (apt) and building MinIO, kube-apiserver" scripts/testenv.sh install
  started=1
  step "starting the test servers (scripts/testenv.sh up)" scripts/testenv.sh up
  # The tests use the servers just started, not another environment a
  # TESTENV_FILE left in the caller's shell points at.
  export TESTENV_FILE=$ROOT/.testenv/env
fi

step "building and vetting (go vet)" go vet "${@:-./...}"

echo "testing (go test -timeout 40m ${GOTEST_FLAGS:-}${*:-./...}):"
t0=$(steps_now)
rc=0
# shellcheck disable=SC2086
go test -count=1 -timeout 40m ${GOTEST_FLAGS:-} "${@:-./...}" 2>&1 | tee -a "$LOG" || rc=$?
if [ "$rc" != 0 ]; then
  printf '%-60s FAILED after %s (exit %d)\n' "tests" "$(steps_since "$t0")" "$rc"
  echo "failed:" >&2
  grep -E '^(--- FAIL|FAIL|panic:)' "$LOG" | sed 's/^/  /' >&2 || true
  echo "full log: $LOG" >&2
  exit "$rc"
fi
printf '%-60s %8s\n' "tests passed" "$(steps_since "$t0")"
# The seed corpora ran with the tests; every fuzz target also fuzzes a
# little on a run of the whole repository (scripts/fuzz.sh; FUZZ_BRIEF=0
# skips it, FUZZ_BRIEF=10s fuzzes longer).
FUZZ_BRIEF=${FUZZ_BRIEF:-2s}
if [ "$FUZZ_BRIEF" != 0 ] && { [ $# = 0 ] || [ "$*" = ./... ]; }; then
  step "fuzzing every target for $FUZZ_BRIEF (scripts/fuzz.sh)" scripts/fuzz.sh "$FUZZ_BRIEF"
fi
cleanup
started=0
steps_done "make test"
