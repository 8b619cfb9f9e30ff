#!/usr/bin/env bash
# demo.sh - the main job on an embedded default: start two sets of local
# servers (a "production" 3scale installation and a scratch target),
# generate a realistic installation in the first, then run a
# disaster-recovery drill: back up, restore into the second, verify by
# replaying recorded authorizations, and print the report.
#
# The terminal gets one line per step with its duration, and the drill's
# report; apt, go, the servers and the tools write to one log file
# (DEMO_LOG, default .demo/demo.log), named at the end. A failed step
# prints the log's last lines and its path.
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
LOG=${DEMO_LOG:-$DEMO/demo.log}
# shellcheck source=scripts/steps.sh
. "$ROOT/scripts/steps.sh"
command -v go >/dev/null || { echo "demo.sh: Go is not installed (https://go.dev/doc/install)" >&2; exit 1; }

export TESTENV_NO_KUBE=1 TESTENV_NO_S3=1
stop() {
  scripts/testenv.sh down "$DEMO/source" >> "$LOG" 2>&1 || true
  scripts/testenv.sh down "$DEMO/target" >> "$LOG" 2>&1 || true
}
rm -rf "$DEMO"; mkdir -p "$DEMO"
steps_init "$LOG"
trap stop EXIT INT TERM

step "installing MariaDB, PostgreSQL 15, Redis (apt, when missing)" scripts/testenv.sh install
step "building 3scale-ops" make --no-print-directory build BIN="$BIN"
step "starting the source servers (MariaDB, PostgreSQL, 2 Redis)" scripts/testenv.sh up "$DEMO/source"
step "starting the scratch target servers" scripts/testenv.sh up "$DEMO/target"

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
  local d my pg pw hp ppw
  for d in "$@"; do
    my=$(envval "$d" TESTENV_MYSQL_URL); pg=$(envval "$d" TESTENV_POSTGRES_URL)
    pw=${my#mysql://root:}; pw=${pw%%@*}; hp=${my#*@}; hp=${hp%/}
    MYSQL_PWD=$pw mariadb --no-defaults -uroot -h "${hp%:*}" -P "${hp#*:}" \
      -e "CREATE DATABASE IF NOT EXISTS system CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    ppw=${pg#postgresql://postgres:}; ppw=${ppw%%@*}
    PGPASSWORD=$ppw psql -q "postgresql://postgres@${pg#*@}" -c "CREATE DATABASE zync_production"
    mkdir -p "$d/storage"
  done
}
step "creating the system and zync databases" create_dbs "$DEMO/source" "$DEMO/target"
conn_env "$DEMO/source" THREESCALE_
conn_env "$DEMO/target" THREESCALE_OPS_TARGET_
SRC_STORAGE="dir://$DEMO/source/storage"

step "seeding a $SCALE 3scale installation" \
  go run ./e2e/cmd/seed --scale "$SCALE" --seed 42 --storage-dir "$DEMO/source/storage"
step "checking the source's connections (3scale-ops config)" \
  "$BIN" --local --system-storage "$SRC_STORAGE" config

echo
step_shown "3scale-ops drill: back up, restore into the scratch servers, verify" \
  "$BIN" --no-progress --local --system-storage "$SRC_STORAGE" -r "$DEMO/repo" drill \
  --target-system-storage "dir://$DEMO/target/storage" --report "$DEMO/drill-junit.xml"
echo
step_shown "the snapshot in the repository" "$BIN" -r "$DEMO/repo" backups list
echo
echo "repository: $DEMO/repo, JUnit report: $DEMO/drill-junit.xml"
steps_done "demo"
