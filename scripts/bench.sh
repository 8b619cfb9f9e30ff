#!/usr/bin/env bash
# bench.sh - every benchmark of BENCHMARKS.md, each comparing 3scale-ops with
# the standard tool on the same data in the same run, against the real
# servers of the test environment (started here when not running).
# Results go to stdout and .bench/results-<time>.md.
#
# Every step is measured against the single-threaded client and the
# parallel peer (mydumper/myloader, pg_dump -Fd -j/pg_restore -j, restic)
# and, where one exists, the physical limit (Redis BGSAVE, tar | zstd -T0,
# the disk's write rate in the header);
# one table with ratios and peak RSS is printed at the end.
#
#   BENCH_ONLY="mysql postgres"   run only some (seed mysql postgres redis storage purge gateway)
#   BENCH_SEED_SCALES="20MB 1GB"  dataset generator scales
#   BENCH_MYSQL_SIZE=1000         MB of MySQL table data (Porta-shaped, rows up to 8 MB)
#   BENCH_PG_SCALES="3,0.3"       PostgreSQL scales (1 ≈ 375 MB)
#   BENCH_REDIS_KEYS=2000000      backend-redis keys
#   BENCH_STORAGE_SIZES=100,1000  MB of system-storage files (up to 8 MB each)
#   BENCH_PURGE_ROWS=1000000      alerts rows for the purge benchmark
#   BENCH_WORKERS=4               parallel workers of ours and of the peers
#   TESTENV_FILE=DIR/env          use that running test environment (default: .testenv, started here)
#   BENCH_NO_INSTALL=1            do not apt-get install mydumper/restic when missing
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH=$PATH:/usr/local/go/bin:$HOME/go/bin
ONLY=${BENCH_ONLY:-seed mysql postgres redis storage purge gateway}
W=${BENCH_WORKERS:-4}
mkdir -p .bench
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=.bench/results-$STAMP.md
export BENCH_SUMMARY=$ROOT/.bench/summary-$STAMP.md
: > "$BENCH_SUMMARY"

# The parallel peers are Debian packages (bookworm: mydumper 0.10, restic 0.14),
# as are wrk and nginx for the gateway benchmark.
if [ "${BENCH_NO_INSTALL:-0}" != 1 ]; then
  missing=()
  command -v mydumper >/dev/null || missing+=(mydumper)
  command -v restic >/dev/null || missing+=(restic)
  command -v zstd >/dev/null || missing+=(zstd)
  command -v wrk >/dev/null || missing+=(wrk)          # the gateway benchmark's load generator
  [ -x /usr/sbin/nginx ] || missing+=(nginx-light)     # and its baseline proxy
  if [ ${#missing[@]} -gt 0 ]; then
    SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get install -y "${missing[@]}" >/dev/null || echo "could not install ${missing[*]}: those baselines are left out" >&2
  fi
fi

started=0
if [ -n "${TESTENV_FILE:-}" ]; then
  [ -r "$TESTENV_FILE" ] || { echo "TESTENV_FILE=$TESTENV_FILE not readable" >&2; exit 2; }
elif ! scripts/testenv.sh status >/dev/null 2>&1; then scripts/testenv.sh up; started=1; fi
export TESTENV_FILE=${TESTENV_FILE:-$ROOT/.testenv/env}
trap '[ "$started" = 1 ] && scripts/testenv.sh down' EXIT

{
  echo "# 3scale-ops benchmarks, $(date -u +%FT%TZ)"
  echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
  # The disk's sequential write rate, the limit of every step that writes
  # an artifact to the local repository or loads a server's data files.
  echo "disk: sequential write $(dd if=/dev/zero of=.bench/disk-rate bs=1M count=512 conv=fdatasync 2>&1 | awk -F', ' '/copied/{print $NF}') (dd, 512 MiB, fdatasync, in .bench)"
  rm -f .bench/disk-rate
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "versions: $(mariadbd --version 2>/dev/null | sed 's/.*Ver //;s/ for.*//' || true); $(psql --version 2>/dev/null); $(redis-server --version 2>/dev/null | cut -d' ' -f1-3); $(mydumper --version 2>/dev/null | head -1); $(restic version 2>/dev/null | cut -d' ' -f1-2); $(zstd --version 2>/dev/null | head -1); $(go version | cut -d' ' -f3)"
} | tee "$OUT"

run() {
  local name=$1; shift
  case " $ONLY " in *" $name "*) ;; *) return 0 ;; esac
  echo -e "\n## $name\n\n\`$*\`\n" | tee -a "$OUT"
  "$@" 2>&1 | tee -a "$OUT" || echo "FAILED: $name (exit ${PIPESTATUS[0]})" | tee -a "$OUT"
}
set -a; . "$TESTENV_FILE"; set +a
for scale in ${BENCH_SEED_SCALES:-20MB 1GB}; do
  rm -rf .bench/seed-storage
  # each generation starts from empty Redis servers (the test environment's own)
  redis-cli -u "${TESTENV_BACKEND_REDIS_URL%/*}" FLUSHALL >/dev/null
  redis-cli -u "${TESTENV_SYSTEM_REDIS_URL%/*}" FLUSHALL >/dev/null
  run seed   go run ./bench/seed -- --scale "$scale" --seed 42 --mysql-db seed_bench --postgres-db seed_bench \
               --recreate --force --storage-dir "$ROOT/.bench/seed-storage" -o markdown
done
run mysql    go run ./bench/mysql -size "${BENCH_MYSQL_SIZE:-1000}" -workers "$W"
run postgres go run ./bench/postgres -scales "${BENCH_PG_SCALES:-3,0.3}" -parallel "$W"
run redis    go run ./bench/redis -keys "${BENCH_REDIS_KEYS:-2000000}"
run storage  go run ./bench/storage -sizes "${BENCH_STORAGE_SIZES:-100,1000}" -s3
run purge    go run ./bench/purge -rows "${BENCH_PURGE_ROWS:-1000000}"
run gateway  go test -count=1 -run '^$' -bench . -benchtime 1x ./bench/gateway/
{
  echo -e "\n## Summary (same run, same data; ratio = baseline time / our time, > 1 is faster)\n"
  echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "| step | data | 3scale-ops | baseline | ratio | peak RSS ours | peak RSS baseline |"
  echo "|---|---|---:|---|---:|---:|---:|"
  cat "$BENCH_SUMMARY"
} | tee -a "$OUT"
echo -e "\nresults: $OUT"
