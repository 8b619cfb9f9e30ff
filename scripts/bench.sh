#!/usr/bin/env bash
# bench.sh - every benchmark of BENCHMARKS.md, each comparing 3scale-ops with
# the standard tool on the same data in the same run, against the real
# servers of the test environment (started here when not running).
# Results go to stdout and .bench/results-<time>.md.
#
#   BENCH_ONLY="mysql postgres"   run only some (seed mysql postgres redis storage purge gateway)
#   BENCH_SEED_SCALES="20MB 1GB"  dataset generator scales
#   BENCH_MYSQL_SIZE=300          MB of MySQL data (the issue's target scale is 1000)
#   BENCH_PURGE_ROWS=1000000      alerts rows for the purge benchmark
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH=$PATH:/usr/local/go/bin:$HOME/go/bin
ONLY=${BENCH_ONLY:-seed mysql postgres redis storage purge gateway}
mkdir -p .bench
OUT=.bench/results-$(date -u +%Y%m%dT%H%M%SZ).md

started=0
if ! scripts/testenv.sh status >/dev/null 2>&1; then scripts/testenv.sh up; started=1; fi
trap '[ "$started" = 1 ] && scripts/testenv.sh down' EXIT

{
  echo "# 3scale-ops benchmarks, $(date -u +%FT%TZ)"
  echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
} | tee "$OUT"

run() {
  local name=$1; shift
  case " $ONLY " in *" $name "*) ;; *) return 0 ;; esac
  echo -e "\n## $name\n\n\`$*\`\n" | tee -a "$OUT"
  "$@" 2>&1 | tee -a "$OUT" || echo "FAILED: $name (exit ${PIPESTATUS[0]})" | tee -a "$OUT"
}
set -a; . .testenv/env; set +a
for scale in ${BENCH_SEED_SCALES:-20MB 1GB}; do
  rm -rf .bench/seed-storage
  # each generation starts from empty Redis servers (the test environment's own)
  redis-cli -u "${TESTENV_BACKEND_REDIS_URL%/*}" FLUSHALL >/dev/null
  redis-cli -u "${TESTENV_SYSTEM_REDIS_URL%/*}" FLUSHALL >/dev/null
  run seed   go run ./e2e/cmd/seed --scale "$scale" --seed 42 --mysql-db seed_bench --postgres-db seed_bench \
               --recreate --force --storage-dir "$ROOT/.bench/seed-storage" -o markdown
done
run mysql    go run ./bench/mysql -size "${BENCH_MYSQL_SIZE:-300}"
run postgres go run ./bench/postgres
run redis    go run ./bench/redis
run storage  go run ./bench/storage -sizes 100,2000 -s3
run purge    go run ./bench/purge -rows "${BENCH_PURGE_ROWS:-1000000}"
run gateway  go test -count=1 -run '^$' -bench . -benchtime 1x ./bench/gateway/
echo -e "\nresults: $OUT"
