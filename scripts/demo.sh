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

# Connections go through environment variables (3scale's own URL forms),
# never through process arguments: they carry passwords.
envval() { sed -n "s#^$2=##p" "$1/env"; }
conn_env() { # conn_env DIR PREFIX: export PREFIX_SYSTEM_DB_URL and friends
  local d=$1 p=$2 my pg br sr
  my=$(envval "$d" TESTENV_MYSQL_URL); pg=$(envval "$d" TESTENV_POSTGRES_URL)
  br=$(envval "$d" TESTENV_BACKEND_REDIS_URL); sr=$(envval "$d" TESTENV_SYSTEM_REDIS_URL)
  export "${p}SYSTEM_DB_URL=mysql2://${my#mysql://}system"
  export "${p}ZYNC_DB_URL=${pg%/postgres}/zync_production"
  export "${p}BACKEND_REDIS_URL=$br" "${p}BACKEND_REDIS_QUEUES_URL=${br%/0}/1" "${p}SYSTEM_REDIS_URL=$sr"
}
create_dbs() {
  local d=$1 my pg
  my=$(envval "$d" TESTENV_MYSQL_URL); pg=$(envval "$d" TESTENV_POSTGRES_URL)
  local pw=${my#mysql://root:}; pw=${pw%%@*}; local hp=${my#*@}; hp=${hp%/}
  MYSQL_PWD=$pw mariadb --no-defaults -uroot -h "${hp%:*}" -P "${hp#*:}" \
    -e "CREATE DATABASE IF NOT EXISTS system CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
  local ppw=${pg#postgresql://postgres:}; ppw=${ppw%%@*}
  PGPASSWORD=$ppw psql -q "postgresql://postgres@${pg#*@}" -c "CREATE DATABASE zync_production" >/dev/null
  mkdir -p "$d/storage"
}
create_dbs "$DEMO/source"
create_dbs "$DEMO/target"
conn_env "$DEMO/source" THREESCALE_
conn_env "$DEMO/target" THREESCALE_OPS_TARGET_
SRC_STORAGE="dir://$DEMO/source/storage"

say "generating a $SCALE 3scale installation (tenants, services, applications, alerts, stats, queues, files)"
go run ./e2e/cmd/seed --scale "$SCALE" --seed 42 --storage-dir "$DEMO/source/storage"

say "3scale-ops config: the source installation's connections"
"$BIN" --local --system-storage "$SRC_STORAGE" config

say "3scale-ops drill: back up, restore into the scratch servers, verify"
"$BIN" --local --system-storage "$SRC_STORAGE" -r "$DEMO/repo" drill \
  --target-system-storage "dir://$DEMO/target/storage" --report "$DEMO/drill-junit.xml"

say "the snapshot in the repository"
"$BIN" -r "$DEMO/repo" backups list
echo
echo "demo finished in $((SECONDS - t0))s; repository: $DEMO/repo, JUnit report: $DEMO/drill-junit.xml"
