#!/usr/bin/env bash
# demo.sh - the main job on an embedded default: start two sets of local
# servers (a "production" 3scale installation and a scratch target),
# generate a realistic installation in the first, then run a
# disaster-recovery drill: back up, restore into the second, verify by
# replaying recorded authorizations, and print the report.
#
# Everything binds to 127.0.0.1; servers are stopped at the end.
# DEMO_SCALE (default 20MB) sets the size of the generated installation.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH=$PATH:/usr/local/go/bin:$HOME/go/bin
DEMO=${DEMO_DIR:-$ROOT/.demo}
SCALE=${DEMO_SCALE:-20MB}
BIN=${BIN:-$ROOT/bin/3scale-ops}
[ -x "$BIN" ] || go build -o "$BIN" ./cmd/3scale-ops

export TESTENV_NO_KUBE=1 TESTENV_NO_S3=1
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
stop() { scripts/testenv.sh down "$DEMO/source" >/dev/null 2>&1 || true; scripts/testenv.sh down "$DEMO/target" >/dev/null 2>&1 || true; }
trap stop EXIT INT TERM
t0=$SECONDS

say "starting two sets of servers (MariaDB, PostgreSQL 15, backend-redis and system-redis with AOF) on 127.0.0.1"
rm -rf "$DEMO"; mkdir -p "$DEMO"
scripts/testenv.sh up "$DEMO/source"
scripts/testenv.sh up "$DEMO/target"

# connection flags of one server set: 3scale's own URL forms
flags() {
  local env="$1/env" prefix=$2 my pg br sr
  my=$(sed -n 's#^TESTENV_MYSQL_URL=mysql://##p' "$env")
  pg=$(sed -n 's#^TESTENV_POSTGRES_URL=\(.*\)/postgres$#\1#p' "$env")
  br=$(sed -n 's#^TESTENV_BACKEND_REDIS_URL=\(.*\)/0$#\1#p' "$env")
  sr=$(sed -n 's#^TESTENV_SYSTEM_REDIS_URL=##p' "$env")
  echo "--${prefix}system-db-url mysql2://${my}system --${prefix}zync-db-url ${pg}/zync_production" \
       "--${prefix}backend-redis-url ${br}/0 --${prefix}backend-redis-queues-url ${br}/1" \
       "--${prefix}system-redis-url ${sr} --${prefix}system-storage dir://$1/storage"
}
create_dbs() {
  local env="$1/env" my pg
  my=$(sed -n 's#^TESTENV_MYSQL_URL=##p' "$env"); pg=$(sed -n 's#^TESTENV_POSTGRES_URL=##p' "$env")
  local pw=${my#mysql://root:}; pw=${pw%%@*}; local hp=${my#*@}; hp=${hp%/}
  MYSQL_PWD=$pw mariadb --no-defaults -uroot -h "${hp%:*}" -P "${hp#*:}" \
    -e "CREATE DATABASE IF NOT EXISTS system CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
  psql -q "$pg" -c "CREATE DATABASE zync_production" >/dev/null
  mkdir -p "$1/storage"
}
create_dbs "$DEMO/source"
create_dbs "$DEMO/target"
SRC=$(flags "$DEMO/source" "")
DST=$(flags "$DEMO/target" "target-")

say "generating a $SCALE 3scale installation (tenants, services, applications, alerts, stats, queues, files)"
src_env="$DEMO/source/env"
go run ./e2e/cmd/seed --scale "$SCALE" --seed 42 \
  --mysql-dsn "mysql2://$(sed -n 's#^TESTENV_MYSQL_URL=mysql://##p' "$src_env")system" \
  --postgres-url "$(sed -n 's#^TESTENV_POSTGRES_URL=\(.*\)/postgres$#\1#p' "$src_env")/zync_production" \
  --backend-redis-url "$(sed -n 's#^TESTENV_BACKEND_REDIS_URL=##p' "$src_env")" \
  --system-redis-url "$(sed -n 's#^TESTENV_SYSTEM_REDIS_URL=##p' "$src_env")" \
  --storage-dir "$DEMO/source/storage"

say "3scale-ops config: the source installation's connections"
# shellcheck disable=SC2086
"$BIN" --local $SRC config

say "3scale-ops drill: back up, restore into the scratch servers, verify"
# shellcheck disable=SC2086
"$BIN" --local $SRC -r "$DEMO/repo" drill $DST --report "$DEMO/drill-junit.xml"

say "the snapshot in the repository"
"$BIN" -r "$DEMO/repo" backups list
echo
echo "demo finished in $((SECONDS - t0))s; repository: $DEMO/repo, JUnit report: $DEMO/drill-junit.xml"
