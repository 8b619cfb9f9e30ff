#!/usr/bin/env bash
# fuzz.sh [FUZZTIME] - run every fuzz target of the repository (each
# `func FuzzX(f *testing.F)` in a _test.go file under internal/ and cmd/)
# for FUZZTIME each, default 60s. Each package's instrumented test binary
# is built once and runs its targets one after the other (go test fuzzes
# one target at a time), so a brief run costs little more than the
# fuzzing itself. A failing input is written to the package's
# testdata/fuzz/ and fails the run: commit it with the fix, it then runs
# as an ordinary test.
#
# make fuzz runs it with FUZZTIME=60s; make test (scripts/test.sh) runs it
# briefly after the tests (FUZZ_BRIEF, default 2s a target; 0 skips it).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH=$PATH:/usr/local/go/bin:$HOME/go/bin
FUZZTIME=${1:-${FUZZTIME:-60s}}
# Short runs spend their time fuzzing, not minimizing what they found.
MINIMIZE=${FUZZMINIMIZETIME:-5s}
MODULE=$(go list -m)
CACHE=$(go env GOCACHE)/fuzz
BIN=$(mktemp -d)
trap 'rm -rf "$BIN"' EXIT

n=0
for dir in $(grep -rl --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*(f \*testing\.F)' internal cmd | xargs -n1 dirname | sort -u); do
  targets=$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(f \*testing\.F).*/\1/p' "$dir"/*_test.go)
  bin=$BIN/$(echo "$dir" | tr / _).test
  go test -c -fuzz=. -o "$bin" "./$dir"
  for target in $targets; do
    for attempt in 1 2 3; do
      echo "fuzz ./$dir $target ($FUZZTIME)"
      out=$BIN/out
      if (cd "$dir" && "$bin" -test.run='^$' -test.fuzz="^$target\$" -test.fuzztime="$FUZZTIME" \
        -test.fuzzminimizetime="$MINIMIZE" -test.fuzzcachedir="$CACHE/$MODULE/$dir") 2>&1 | tee "$out"; then
        break
      fi
      # go test's fuzzing engine can end a short run with "context
      # deadline exceeded" when the time is up while its workers are still
      # busy (gathering the baseline coverage of a large corpus): no input
      # failed and none was written. That is run again; anything else (a
      # failing input, a panic) fails at once.
      if grep -q 'context deadline exceeded' "$out" && ! grep -q 'Failing input written' "$out" && [ "$attempt" -lt 3 ]; then
        echo "fuzz.sh: $target: the fuzzing engine's time ran out before it stopped cleanly (no failing input); running it again"
        continue
      fi
      exit 1
    done
    n=$((n + 1))
  done
done
[ "$n" -gt 0 ] || { echo "fuzz.sh: no fuzz targets found" >&2; exit 1; }
echo "fuzzed $n targets for $FUZZTIME each"
