#!/usr/bin/env bash
# testenv.sh - install, start and stop the real servers that 3scale-ops tests,
# benchmarks and the demo run against, all on 127.0.0.1 with random ports:
#
#   MariaDB (system-mysql)          PostgreSQL 15 (zync)
#   Redis 7 backend-redis (AOF on)  Redis 7 system-redis
#   MinIO (S3)                      etcd + kube-apiserver (CRDs for DeploymentConfig,
#                                   Route, APIManager and the 3scale capability kinds)
#
# and TLS variants verifying client certificates (scripts/testenv-tls.sh):
# MariaDB, PostgreSQL, two Redis 7 with ACL users, redis-sentinel.
#
# Usage:
#   scripts/testenv.sh install          apt packages + cached Go builds (idempotent)
#   scripts/testenv.sh kubectl          build kubectl (cached) and print its path
#   scripts/testenv.sh up [DIR]         start everything, write DIR/env and DIR/kubeconfig
#   scripts/testenv.sh down [DIR]       stop exactly the processes 'up' started
#   scripts/testenv.sh status [DIR]
#
# DIR defaults to .testenv in the repository root. Knobs:
#   TESTENV_NO_KUBE=1   skip etcd/kube-apiserver (the demo in --local mode)
#   TESTENV_NO_S3=1     skip MinIO
#   TESTENV_NO_TLS=1    skip the TLS variants
#   TESTENV_NO_KUBECTL=1  do not build kubectl (tests that run it then fail)
#   CACHE_DIR           where built binaries are cached ($HOME/.cache/3scale-ops)
#   KUBE_VERSION        k8s.io/kubernetes release to build (v1.32.0)
#   MINIO_VERSION       github.com/minio/minio version to build
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CMD=${1:-up}
DIR=${2:-$ROOT/.testenv}
CACHE_DIR=${CACHE_DIR:-$HOME/.cache/3scale-ops}
BIN_DIR=$CACHE_DIR/bin
KUBE_VERSION=${KUBE_VERSION:-v1.32.0}
MINIO_VERSION=${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

log() { echo "[testenv] $*" >&2; }
# shellcheck source=scripts/testenv-tls.sh
. "$ROOT/scripts/testenv-tls.sh"
die() { log "ERROR: $*"; exit 1; }

# ------------------------------------------------------------- install ----
apt_install() {
  local missing=()
  command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
  command -v mariadb >/dev/null || missing+=(mariadb-client)
  [ -x "$PG_BIN/postgres" ] || missing+=(postgresql-15)
  command -v pg_dump >/dev/null || missing+=(postgresql-client-15)
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v redis-sentinel >/dev/null || missing+=(redis-sentinel)
  [ -x /usr/bin/etcd ] || missing+=(etcd-server)
  command -v zstd >/dev/null || missing+=(zstd)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v curl >/dev/null || missing+=(curl)
  # the hand restore of README.txt (e2e/readme_test.go): age decrypts, jq reads manifests
  command -v age >/dev/null || missing+=(age)
  command -v jq >/dev/null || missing+=(jq)
  if [ "${#missing[@]}" -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || die "apt-get update failed"
    apt-get install -y -qq "${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed"
  fi
}

build_minio() {
  local out="$BIN_DIR/minio-$MINIO_VERSION"
  if [ -x "$out" ]; then echo "$out"; return; fi
  mkdir -p "$BIN_DIR"
  log "building MinIO $MINIO_VERSION with go install (about 3 minutes, once)"
  local w; w=$(mktemp -d)
  GOBIN="$w" go install "github.com/minio/minio@$MINIO_VERSION" >&2 || die "MinIO build failed"
  mv "$w/minio" "$out"; rm -rf "$w"
  echo "$out"
}

# kube-apiserver and kubectl are built through a wrapper module that requires
# k8s.io/kubernetes and replaces each k8s.io staging module with its
# published release, all from the Go module proxy.
build_kube_cmd() { # build_kube_cmd NAME (kube-apiserver or kubectl) -> path
  local name=$1 out="$BIN_DIR/$1-$KUBE_VERSION"
  if [ -x "$out" ]; then echo "$out"; return; fi
  mkdir -p "$BIN_DIR"
  local sv="v0.${KUBE_VERSION#v1.}" w kmod
  w=$(mktemp -d)
  log "building $name $KUBE_VERSION (several minutes, once)"
  kmod=$(cd "$w" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [ -f "$kmod" ] || die "could not download k8s.io/kubernetes@$KUBE_VERSION"
  {
    printf 'module local/%s-build\n\ngo 1.23.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$name" "$KUBE_VERSION"
    grep -E '^\s*k8s\.io/[^ ]+ => \./staging/' "$kmod" | awk -v sv="$sv" '{print "\t" $1 " => " $1 " " sv}'
    printf ')\n'
  } > "$w/go.mod"
  ( cd "$w" && export GOFLAGS=-mod=mod \
      && go get "k8s.io/kubernetes/cmd/$name@$KUBE_VERSION" >&2 \
      && go build -trimpath -o "$out.tmp" -ldflags "-s -w \
           -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION \
           -X k8s.io/component-base/version.gitMajor=1 \
           -X k8s.io/component-base/version.gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2) \
           -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION \
           -X k8s.io/client-go/pkg/version.gitMajor=1 \
           -X k8s.io/client-go/pkg/version.gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2)" \
         "k8s.io/kubernetes/cmd/$name" >&2 ) || die "$name build failed (module in $w)"
  mv "$out.tmp" "$out"; rm -rf "$w"
  echo "$out"
}
build_apiserver() { build_kube_cmd kube-apiserver; }
build_kubectl() { build_kube_cmd kubectl; }

install_all() {
  apt_install
  [ "${TESTENV_NO_S3:-0}" = 1 ] || build_minio >/dev/null
  if [ "${TESTENV_NO_KUBE:-0}" != 1 ]; then
    build_apiserver >/dev/null
    [ "${TESTENV_NO_KUBECTL:-0}" = 1 ] || build_kubectl >/dev/null
  fi
}

# ---------------------------------------------------------------- util ----
# Ports are drawn below the kernel's ephemeral range, where outgoing
# connections could take a port between this check and the server's bind.
EPHEMERAL_LOW=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
free_port() {
  local p lo=10000 span=$(( EPHEMERAL_LOW - 10000 ))
  [ "$span" -gt 1000 ] || { lo=20000; span=10000; }
  for _ in $(seq 1 200); do
    p=$(( lo + RANDOM % span ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && ! grep -qx "$p" "$DIR/ports" 2>/dev/null; then
      echo "$p" >> "$DIR/ports"; echo "$p"; return
    fi
  done
  die "no free port found"
}

wait_for() { # wait_for NAME PID SECONDS CMD...
  local name=$1 pid=$2 secs=$3; shift 3
  for _ in $(seq 1 $((secs * 10))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    kill -0 "$pid" 2>/dev/null || { tail -20 "$DIR/logs/$name.log" >&2 || true; die "$name exited during start-up"; }
    sleep 0.1
  done
  tail -20 "$DIR/logs/$name.log" >&2 || true
  die "$name not ready after ${secs}s"
}

started() { echo "$1 $2" >> "$DIR/pids"; }

running() {
  [ -f "$DIR/pids" ] || return 1
  local name pid
  while read -r name pid; do kill -0 "$pid" 2>/dev/null && return 0; done < "$DIR/pids"
  return 1
}

# ---------------------------------------------------------------- start ----
start_mariadb() {
  MYSQL_PORT=$(free_port)
  local d="$DIR/mysql"
  mkdir -p "$d"
  mariadb-install-db --no-defaults --user=root --datadir="$d/data" --auth-root-authentication-method=normal \
    --skip-test-db > "$DIR/logs/mariadb-install.log" 2>&1 || { tail "$DIR/logs/mariadb-install.log" >&2; die "mariadb-install-db failed"; }
  setsid /usr/sbin/mariadbd --no-defaults --user=root --datadir="$d/data" --socket="$d/mysqld.sock" \
    --pid-file="$d/mysqld.pid" --bind-address=127.0.0.1 --port="$MYSQL_PORT" \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
    --innodb-buffer-pool-size=512M --innodb-flush-log-at-trx-commit=2 --max-allowed-packet=256M \
    --log-bin="$d/binlog" --server-id=1 --binlog-format=ROW --skip-name-resolve \
    > "$DIR/logs/mariadb.log" 2>&1 < /dev/null &
  started mariadb $!
  wait_for mariadb $! 60 mariadb --no-defaults -uroot --socket="$d/mysqld.sock" -e 'SELECT 1'
  MYSQL_PASSWORD=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
  mariadb --no-defaults -uroot --socket="$d/mysqld.sock" <<SQL
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '$MYSQL_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
ALTER USER 'root'@'localhost' IDENTIFIED BY '$MYSQL_PASSWORD';
FLUSH PRIVILEGES;
SQL
}

start_postgres() {
  PG_PORT=$(free_port)
  local d="$DIR/pg"
  mkdir -p "$d"
  chown postgres "$d" 2>/dev/null || true
  PG_PASSWORD=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
  echo "$PG_PASSWORD" > "$d/.pw"; chown postgres "$d/.pw" 2>/dev/null || true
  local as=(); [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
  "${as[@]}" "$PG_BIN/initdb" -D "$d/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    --pwfile="$d/.pw" -E UTF8 --locale=C.UTF-8 > "$DIR/logs/pg-initdb.log" 2>&1 || { tail "$DIR/logs/pg-initdb.log" >&2; die "initdb failed"; }
  rm -f "$d/.pw"
  setsid "${as[@]}" "$PG_BIN/postgres" -D "$d/data" -h 127.0.0.1 -p "$PG_PORT" -k "$d" \
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=256MB \
    -c max_connections=200 -c wal_level=logical -c max_wal_size=4GB \
    > "$DIR/logs/postgres.log" 2>&1 < /dev/null &
  started postgres $!
  wait_for postgres $! 60 "$PG_BIN/pg_isready" -h 127.0.0.1 -p "$PG_PORT"
}

start_redis() { # start_redis NAME APPENDONLY -> sets REDIS_PORT
  local name=$1 aof=$2
  REDIS_PORT=$(free_port)
  local d="$DIR/$name"
  mkdir -p "$d"
  cat > "$d/redis.conf" <<EOF
bind 127.0.0.1
port $REDIS_PORT
dir $d
dbfilename dump.rdb
appendonly $aof
appendfilename "appendonly.aof"
appendfsync everysec
save 900 1
save 300 10
save 60 10000
databases 16
aof-load-truncated yes
daemonize no
protected-mode yes
EOF
  setsid redis-server "$d/redis.conf" > "$DIR/logs/$name.log" 2>&1 < /dev/null &
  started "$name" $!
  wait_for "$name" $! 30 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping
}

start_minio() {
  local bin; bin=$(build_minio)
  S3_PORT=$(free_port); local console; console=$(free_port)
  S3_ACCESS_KEY=testenv-$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')
  S3_SECRET_KEY=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
  mkdir -p "$DIR/minio"
  MINIO_ROOT_USER=$S3_ACCESS_KEY MINIO_ROOT_PASSWORD=$S3_SECRET_KEY MINIO_BROWSER=off \
    setsid "$bin" server --quiet --address "127.0.0.1:$S3_PORT" --console-address "127.0.0.1:$console" "$DIR/minio" \
    > "$DIR/logs/minio.log" 2>&1 < /dev/null &
  started minio $!
  wait_for minio $! 60 curl -fsS "http://127.0.0.1:$S3_PORT/minio/health/live"
}

start_kube() {
  local apiserver; apiserver=$(build_apiserver)
  local etcd=${ETCD_BIN:-/usr/bin/etcd}
  local ETCD_PORT ETCD_PEER_PORT
  ETCD_PORT=$(free_port); ETCD_PEER_PORT=$(free_port); KUBE_PORT=$(free_port)
  local pki="$DIR/pki"
  mkdir -p "$pki" "$DIR/etcd"; chmod 700 "$DIR/etcd"
  ( cd "$pki"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.crt -days 3650 -subj "/CN=3scale-ops-testenv-ca" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n' > apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 3650 -extfile apiserver.ext 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout admin.key -out admin.csr -subj "/O=system:masters/CN=admin" 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n' > admin.ext
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out admin.crt -days 3650 -extfile admin.ext 2>/dev/null
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key 2>/dev/null
    openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > admin.token
    echo "$(cat admin.token),admin,admin-uid,\"system:masters\"" > tokens.csv
    rm -f ./*.csr ./*.ext; chmod 600 ./*.key tokens.csv admin.token )
  local extra=(); "$etcd" --help 2>&1 | grep -q -- --unsafe-no-fsync && extra+=(--unsafe-no-fsync)
  setsid env -u ETCD_BIN "$etcd" --name testenv --data-dir "$DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "testenv=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state new \
    --quota-backend-bytes 4294967296 "${extra[@]}" > "$DIR/logs/etcd.log" 2>&1 < /dev/null &
  started etcd $!
  wait_for etcd $! 60 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"
  setsid "$apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$KUBE_PORT" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" --token-auth-file "$pki/tokens.csv" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-cluster-ip-range 10.0.0.0/24 --endpoint-reconciler-type none \
    --authorization-mode RBAC --allow-privileged=true --disable-admission-plugins ServiceAccount \
    --profiling=false --v=0 > "$DIR/logs/kube-apiserver.log" 2>&1 < /dev/null &
  started kube-apiserver $!
  local token; token=$(cat "$pki/admin.token")
  wait_for kube-apiserver $! 180 sh -c "curl -fsS --cacert '$pki/ca.crt' -H 'Authorization: Bearer $token' https://127.0.0.1:$KUBE_PORT/readyz | grep -qx ok"
  local b64ca b64crt b64key
  b64ca=$(base64 -w0 < "$pki/ca.crt"); b64crt=$(base64 -w0 < "$pki/admin.crt"); b64key=$(base64 -w0 < "$pki/admin.key")
  cat > "$DIR/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: testenv
  cluster:
    server: https://127.0.0.1:$KUBE_PORT
    certificate-authority-data: $b64ca
users:
- name: admin
  user:
    client-certificate-data: $b64crt
    client-key-data: $b64key
contexts:
- name: testenv
  context: {cluster: testenv, user: admin, namespace: default}
current-context: testenv
EOF
  chmod 600 "$DIR/kubeconfig"
  local f
  for f in "$ROOT"/scripts/crds/*.yaml; do
    curl -fsS --cacert "$pki/ca.crt" -H "Authorization: Bearer $token" -H 'Content-Type: application/yaml' \
      -X POST --data-binary "@$f" "https://127.0.0.1:$KUBE_PORT/apis/apiextensions.k8s.io/v1/customresourcedefinitions" \
      > /dev/null || die "could not create CRD from $f"
  done
  # CRDs are served once Established; wait for the last group to appear in discovery.
  wait_for kube-apiserver "$(tail -1 "$DIR/pids" | cut -d' ' -f2)" 60 \
    curl -fsS --cacert "$pki/ca.crt" -H "Authorization: Bearer $token" "https://127.0.0.1:$KUBE_PORT/apis/apps.3scale.net/v1alpha1/apimanagers"
  wait_for kube-apiserver "$(tail -1 "$DIR/pids" | cut -d' ' -f2)" 60 \
    curl -fsS --cacert "$pki/ca.crt" -H "Authorization: Bearer $token" "https://127.0.0.1:$KUBE_PORT/apis/apps.openshift.io/v1/deploymentconfigs"
  wait_for kube-apiserver "$(tail -1 "$DIR/pids" | cut -d' ' -f2)" 60 \
    curl -fsS --cacert "$pki/ca.crt" -H "Authorization: Bearer $token" "https://127.0.0.1:$KUBE_PORT/apis/capabilities.3scale.net/v1alpha1/tenants"
  wait_for kube-apiserver "$(tail -1 "$DIR/pids" | cut -d' ' -f2)" 60 \
    curl -fsS --cacert "$pki/ca.crt" -H "Authorization: Bearer $token" "https://127.0.0.1:$KUBE_PORT/apis/capabilities.3scale.net/v1beta1/applicationauths"
}

up() {
  if status >/dev/null 2>&1; then log "already running in $DIR (scripts/testenv.sh down $DIR to stop)"; return 0; fi
  # a half-dead environment: stop what is left before starting anew
  if running; then log "some servers in $DIR are gone; restarting all"; down; fi
  install_all
  rm -rf "$DIR"; mkdir -p "$DIR/logs"; chmod 755 "$DIR"
  : > "$DIR/pids"; : > "$DIR/ports"
  local t0=$SECONDS
  # die() exits: stop whatever was started before a failure.
  trap 'rc=$?; if [ "$rc" != 0 ]; then log "start-up failed; stopping what was started"; down; fi' EXIT
  start_mariadb
  start_postgres
  start_redis backend-redis yes; BACKEND_REDIS_PORT=$REDIS_PORT
  start_redis system-redis yes; SYSTEM_REDIS_PORT=$REDIS_PORT
  S3_PORT=""; KUBE_PORT=""; TLS_MYSQL_PORT=""
  [ "${TESTENV_NO_TLS:-0}" = 1 ] || start_tls
  [ "${TESTENV_NO_S3:-0}" = 1 ] || start_minio
  [ "${TESTENV_NO_KUBE:-0}" = 1 ] || start_kube
  {
    echo "# written by scripts/testenv.sh; source it or let internal/testenv read it"
    echo "TESTENV_DIR=$DIR"
    echo "TESTENV_MYSQL_URL=mysql://root:$MYSQL_PASSWORD@127.0.0.1:$MYSQL_PORT/"
    echo "TESTENV_MYSQL_SOCKET=$DIR/mysql/mysqld.sock"
    echo "TESTENV_POSTGRES_URL=postgresql://postgres:$PG_PASSWORD@127.0.0.1:$PG_PORT/postgres"
    echo "TESTENV_BACKEND_REDIS_URL=redis://127.0.0.1:$BACKEND_REDIS_PORT/0"
    echo "TESTENV_BACKEND_REDIS_DIR=$DIR/backend-redis"
    echo "TESTENV_SYSTEM_REDIS_URL=redis://127.0.0.1:$SYSTEM_REDIS_PORT/1"
    echo "TESTENV_SYSTEM_REDIS_DIR=$DIR/system-redis"
    echo "TESTENV_REDIS_SERVER=$(command -v redis-server)"
    echo "TESTENV_PG_BIN=$PG_BIN"
    if [ -n "$S3_PORT" ]; then
      echo "TESTENV_S3_ENDPOINT=127.0.0.1:$S3_PORT"
      echo "TESTENV_S3_ACCESS_KEY=$S3_ACCESS_KEY"
      echo "TESTENV_S3_SECRET_KEY=$S3_SECRET_KEY"
    fi
    [ -n "$KUBE_PORT" ] && echo "TESTENV_KUBECONFIG=$DIR/kubeconfig"
    tls_env
    [ -n "$KUBE_PORT" ] && echo "TESTENV_KUBECTL=$BIN_DIR/kubectl-$KUBE_VERSION"
  } > "$DIR/env"
  chmod 600 "$DIR/env"
  trap - EXIT
  log "ready in $((SECONDS - t0))s: $(cut -d' ' -f1 "$DIR/pids" | tr '\n' ' ')"
  log "env file: $DIR/env"
}

down() {
  [ -f "$DIR/pids" ] || { log "nothing running in $DIR"; return 0; }
  local name pid
  # reverse order: apiserver before etcd
  tac "$DIR/pids" | while read -r name pid; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  for _ in $(seq 1 100); do
    local alive=0
    while read -r name pid; do kill -0 "$pid" 2>/dev/null && alive=1; done < "$DIR/pids"
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  while read -r name pid; do
    if kill -0 "$pid" 2>/dev/null; then kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; fi
  done < "$DIR/pids"
  rm -f "$DIR/pids"
  log "stopped servers in $DIR"
}

# status exits 0 only when every server is alive and the env file exists.
status() {
  [ -f "$DIR/pids" ] && [ -f "$DIR/env" ] || { echo "not running"; return 1; }
  local name pid dead=0
  while read -r name pid; do
    if kill -0 "$pid" 2>/dev/null; then echo "$name pid $pid running"; else echo "$name pid $pid gone"; dead=1; fi
  done < "$DIR/pids"
  return $dead
}

case "$CMD" in
  install) install_all ;;
  kubectl) build_kubectl ;;
  up) up ;;
  down) down ;;
  status) status ;;
  *) die "usage: $0 install|kubectl|up|down|status [DIR]" ;;
esac
