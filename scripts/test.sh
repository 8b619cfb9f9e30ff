#!/usr/bin/env bash
# test.sh [PACKAGES…] - run the Go tests against the real servers of the
# test environment, starting it first when it is not running (and stopping
# it again at the end, also on failure). Installs what it needs.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH=$PATH:/usr/local/go/bin:$HOME/go/bin
command -v go >/dev/null || { echo "test.sh: Go is not installed (https://go.dev/doc/install)" >&2; exit 1; }

started=0
cleanup() { if [ "$started" = 1 ]; then scripts/testenv.sh down; fi; }
trap cleanup EXIT INT TERM
if ! scripts/testenv.sh status >/dev/null 2>&1; then
  started=1
  scripts/testenv.sh up
fi

go vet "${@:-./...}"
go test -count=1 -timeout 40m ${GOTEST_FLAGS:-} "${@:-./...}"
