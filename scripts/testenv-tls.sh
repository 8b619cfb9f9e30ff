# testenv-tls.sh - sourced by testenv.sh: the TLS variants of the test
# servers, each verifying client certificates, all signed by a throwaway
# CA in DIR/tls:
#
#   MariaDB      --ssl-ca/--ssl-cert/--ssl-key, user tlsuser REQUIRE X509
#   PostgreSQL   ssl=on, only hostssl lines: tlsuser by certificate (cert)
#   Redis 7 x2   tls-port only, tls-auth-clients yes, default user off, ACL users
#   Sentinel     TLS and an ACL user, watching both Redis masters
#
# Functions use free_port, started, wait_for, die and the PG_BIN/DIR
# variables of testenv.sh.

rand_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# make_certs: a CA; a server certificate for localhost/127.0.0.1 (also a
# client certificate, as redis-sentinel and replicas need); a client
# certificate CN=tlsuser; a second CA with its own CN=tlsuser client
# certificate, which every server must refuse.
make_certs() {
  local d="$DIR/tls"
  mkdir -p "$d"
  (
    cd "$d"
    gen() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null; }
    sign() { # sign NAME CA EXTENSIONS
      printf '%b' "$3" > "$1.ext"
      openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -out "$1.crt" -days 30 -extfile "$1.ext" 2>/dev/null
    }
    local ca
    for ca in ca other-ca; do
      openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$ca.key" -out "$ca.crt" -days 30 \
        -subj "/CN=3scale-ops testenv $ca" 2>/dev/null
    done
    gen server "/CN=localhost"
    sign server ca 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n'
    gen client "/CN=tlsuser"
    sign client ca 'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n'
    gen other-client "/CN=tlsuser"
    sign other-client other-ca 'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n'
    rm -f ./*.csr ./*.ext ./*.srl
    chmod 644 ./*.crt
    chmod 600 ./*.key
    # PostgreSQL runs as its own user and wants its key private to it.
    cp server.key server-pg.key
    chown postgres server-pg.key 2>/dev/null || true
  ) || die "creating the test certificates failed"
}

start_mariadb_tls() {
  TLS_MYSQL_PORT=$(free_port)
  local d="$DIR/mysql-tls" t="$DIR/tls"
  mkdir -p "$d"
  mariadb-install-db --no-defaults --user=root --datadir="$d/data" --auth-root-authentication-method=normal \
    --skip-test-db > "$DIR/logs/mariadb-tls-install.log" 2>&1 || { tail "$DIR/logs/mariadb-tls-install.log" >&2; die "mariadb-install-db (TLS) failed"; }
  setsid /usr/sbin/mariadbd --no-defaults --user=root --datadir="$d/data" --socket="$d/mysqld.sock" \
    --pid-file="$d/mysqld.pid" --bind-address=127.0.0.1 --port="$TLS_MYSQL_PORT" \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
    --innodb-buffer-pool-size=64M --innodb-flush-log-at-trx-commit=2 --max-allowed-packet=256M \
    --log-bin="$d/binlog" --server-id=2 --binlog-format=ROW --skip-name-resolve \
    --ssl-ca="$t/ca.crt" --ssl-cert="$t/server.crt" --ssl-key="$t/server.key" \
    > "$DIR/logs/mariadb-tls.log" 2>&1 < /dev/null &
  started mariadb-tls $!
  wait_for mariadb-tls $! 60 mariadb --no-defaults -uroot --socket="$d/mysqld.sock" -e 'SELECT 1'
  TLS_MYSQL_PASSWORD=$(rand_hex 12)
  mariadb --no-defaults -uroot --socket="$d/mysqld.sock" <<SQL
CREATE USER 'tlsuser'@'127.0.0.1' IDENTIFIED BY '$TLS_MYSQL_PASSWORD' REQUIRE X509;
GRANT ALL PRIVILEGES ON *.* TO 'tlsuser'@'127.0.0.1' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
}

start_postgres_tls() {
  TLS_PG_PORT=$(free_port)
  local d="$DIR/pg-tls" t="$DIR/tls"
  mkdir -p "$d"
  chown postgres "$d" 2>/dev/null || true
  TLS_PG_PASSWORD=$(rand_hex 12)
  echo "$TLS_PG_PASSWORD" > "$d/.pw"
  chown postgres "$d/.pw" 2>/dev/null || true
  local as=()
  [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
  "${as[@]}" "$PG_BIN/initdb" -D "$d/data" -U postgres --auth-local=trust --auth-host=reject \
    --pwfile="$d/.pw" -E UTF8 --locale=C.UTF-8 > "$DIR/logs/pg-tls-initdb.log" 2>&1 || { tail "$DIR/logs/pg-tls-initdb.log" >&2; die "initdb (TLS) failed"; }
  rm -f "$d/.pw"
  # TCP only over TLS: tlsuser by client certificate (its CN), postgres
  # (the test helpers' admin) by password.
  printf '%s\n' 'local   all  all                    trust' \
    'hostssl all  tlsuser  127.0.0.1/32  cert' \
    'hostssl all  postgres 127.0.0.1/32  scram-sha-256' > "$d/data/pg_hba.conf"
  setsid "${as[@]}" "$PG_BIN/postgres" -D "$d/data" -h 127.0.0.1 -p "$TLS_PG_PORT" -k "$d" \
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=32MB \
    -c max_connections=100 -c ssl=on -c ssl_cert_file="$t/server.crt" -c ssl_key_file="$t/server-pg.key" \
    -c ssl_ca_file="$t/ca.crt" > "$DIR/logs/postgres-tls.log" 2>&1 < /dev/null &
  started postgres-tls $!
  wait_for postgres-tls $! 60 "$PG_BIN/pg_isready" -h 127.0.0.1 -p "$TLS_PG_PORT"
  "${as[@]}" "$PG_BIN/psql" -q -h "$d" -p "$TLS_PG_PORT" -U postgres -d postgres -c "CREATE ROLE tlsuser LOGIN SUPERUSER" > /dev/null ||
    die "creating the PostgreSQL TLS user failed"
}

# redis_tls_conf PORT DIR: the redis.conf lines of a TLS-only server with
# the ACL users the tests use: admin (everything), backup (what a backup
# needs: replication and the SCAN fallback), scanner (no replication),
# sentinel (for redis-sentinel).
redis_tls_conf() {
  local t="$DIR/tls"
  cat <<EOF
bind 127.0.0.1
port 0
tls-port $1
tls-cert-file $t/server.crt
tls-key-file $t/server.key
tls-ca-cert-file $t/ca.crt
tls-auth-clients yes
tls-replication yes
dir $2
dbfilename dump.rdb
appendonly yes
appendfilename "appendonly.aof"
save ""
databases 16
daemonize no
user default off
user admin on >$TLS_REDIS_ADMIN_PASSWORD ~* &* +@all
user backup on >$TLS_REDIS_BACKUP_PASSWORD ~* &* -@all +@read +ping +info +select +psync +sync +replconf +scan +dump +pttl +type +dbsize +config|get
user scanner on >$TLS_REDIS_BACKUP_PASSWORD ~* &* -@all +ping +info +select +scan +dump +pttl +type +dbsize +config|get
user sentinel on >$TLS_REDIS_ADMIN_PASSWORD ~* &* +@all
masteruser admin
masterauth $TLS_REDIS_ADMIN_PASSWORD
EOF
}

tls_cli() { # tls_cli PORT USER PASSWORD ARGS...
  local t="$DIR/tls" port=$1 user=$2 pw=$3
  shift 3
  REDISCLI_AUTH=$pw redis-cli --tls --cacert "$t/ca.crt" --cert "$t/client.crt" --key "$t/client.key" \
    -h 127.0.0.1 -p "$port" --user "$user" "$@"
}

start_redis_tls() { # start_redis_tls NAME -> sets REDIS_TLS_PORT
  local name=$1
  REDIS_TLS_PORT=$(free_port)
  local d="$DIR/$name"
  mkdir -p "$d"
  redis_tls_conf "$REDIS_TLS_PORT" "$d" > "$d/redis.conf"
  chmod 600 "$d/redis.conf"
  setsid redis-server "$d/redis.conf" > "$DIR/logs/$name.log" 2>&1 < /dev/null &
  started "$name" $!
  wait_for "$name" $! 30 tls_cli "$REDIS_TLS_PORT" admin "$TLS_REDIS_ADMIN_PASSWORD" ping
}

start_sentinel() {
  SENTINEL_PORT=$(free_port)
  local d="$DIR/sentinel" t="$DIR/tls" m p
  mkdir -p "$d"
  {
    printf '%s\n' "bind 127.0.0.1" "port 0" "tls-port $SENTINEL_PORT" "tls-cert-file $t/server.crt" \
      "tls-key-file $t/server.key" "tls-ca-cert-file $t/ca.crt" "tls-auth-clients yes" "tls-replication yes" \
      "dir $d" "daemonize no" "user default off" "user sentinel-client on >$TLS_SENTINEL_PASSWORD allchannels +@all"
    for m in "backend-master:$TLS_BACKEND_REDIS_PORT" "system-master:$TLS_SYSTEM_REDIS_PORT"; do
      p=${m#*:}
      m=${m%%:*}
      printf '%s\n' "sentinel monitor $m 127.0.0.1 $p 1" "sentinel auth-user $m sentinel" \
        "sentinel auth-pass $m $TLS_REDIS_ADMIN_PASSWORD" "sentinel down-after-milliseconds $m 2000" \
        "sentinel failover-timeout $m 10000"
    done
  } > "$d/sentinel.conf"
  chmod 600 "$d/sentinel.conf"
  setsid redis-sentinel "$d/sentinel.conf" > "$DIR/logs/sentinel.log" 2>&1 < /dev/null &
  started sentinel $!
  wait_for sentinel $! 30 sh -c "REDISCLI_AUTH='$TLS_SENTINEL_PASSWORD' redis-cli --tls --cacert '$t/ca.crt' --cert '$t/client.crt' \
    --key '$t/client.key' -h 127.0.0.1 -p $SENTINEL_PORT --user sentinel-client sentinel get-master-addr-by-name system-master | grep -q 127.0.0.1"
}

start_tls() {
  make_certs
  TLS_REDIS_ADMIN_PASSWORD=$(rand_hex 12)
  TLS_REDIS_BACKUP_PASSWORD=$(rand_hex 12)
  TLS_SENTINEL_PASSWORD=$(rand_hex 12)
  start_mariadb_tls
  start_postgres_tls
  start_redis_tls backend-redis-tls
  TLS_BACKEND_REDIS_PORT=$REDIS_TLS_PORT
  start_redis_tls system-redis-tls
  TLS_SYSTEM_REDIS_PORT=$REDIS_TLS_PORT
  start_sentinel
}

tls_env() {
  [ -n "${TLS_MYSQL_PORT:-}" ] || return 0
  echo "TESTENV_TLS_DIR=$DIR/tls"
  echo "TESTENV_TLS_MYSQL_URL=mysql://tlsuser:$TLS_MYSQL_PASSWORD@127.0.0.1:$TLS_MYSQL_PORT/"
  echo "TESTENV_TLS_POSTGRES_URL=postgresql://postgres:$TLS_PG_PASSWORD@127.0.0.1:$TLS_PG_PORT/postgres"
  echo "TESTENV_TLS_BACKEND_REDIS_ADDR=127.0.0.1:$TLS_BACKEND_REDIS_PORT"
  echo "TESTENV_TLS_SYSTEM_REDIS_ADDR=127.0.0.1:$TLS_SYSTEM_REDIS_PORT"
  echo "TESTENV_TLS_REDIS_ADMIN_PASSWORD=$TLS_REDIS_ADMIN_PASSWORD"
  echo "TESTENV_TLS_REDIS_BACKUP_PASSWORD=$TLS_REDIS_BACKUP_PASSWORD"
  echo "TESTENV_TLS_SENTINEL_ADDR=127.0.0.1:$SENTINEL_PORT"
  echo "TESTENV_TLS_SENTINEL_PASSWORD=$TLS_SENTINEL_PASSWORD"
}
