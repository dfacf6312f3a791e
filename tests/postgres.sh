#!/usr/bin/env bash
# A private, throw-away PostgreSQL for the test suite: installs Debian's server when it is
# missing, initdb into a temp dir as the postgres user, pg_ctl on a free loopback port.
# Source it, then: pg_start (exports TILLKIT_TEST_POSTGRES) ... pg_stop (removes everything).
# TLS is on too (plain connections still work), with a throw-away CA made by openssl: its
# certificate is exported as TILLKIT_TEST_POSTGRES_CA; `pg_start --no-ssl` leaves TLS off.
# It never touches a PostgreSQL it did not start.

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  if [ -z "$dir" ] || [ ! -x "$dir/pg_ctl" ]; then
    echo "== Installing PostgreSQL (Debian's postgresql)" >&2
    if [ "$(id -u)" -ne 0 ]; then
      echo "PostgreSQL is missing and this is not root: install Debian's postgresql" >&2
      return 1
    fi
    # Only the binaries are wanted: no system cluster of its own.
    mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/tillkit-tests.conf
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
    dir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
  fi
  echo "$dir"
}

# Runs a PostgreSQL tool as the postgres user when we are root (the server refuses root).
pg_as() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# A CA and a server certificate for 127.0.0.1 and localhost in $1 (ca.crt, server.crt/key).
pg_make_certs() {
  local dir=$1
  mkdir -p "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=Tillkit test CA" -keyout "$dir/ca.key" -out "$dir/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    >/dev/null 2>&1 || return 1
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$dir/server.key" -out "$dir/server.csr" >/dev/null 2>&1 || return 1
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' >"$dir/ext.cnf"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 2 -extfile "$dir/ext.cnf" -out "$dir/server.crt" >/dev/null 2>&1 || return 1
  chmod 600 "$dir/server.key"
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir/server.key" "$dir/server.crt"; fi
}

pg_start() {
  local bin port ssl_opts=""
  bin=$(pg_bin) || return 1
  PG_TMP=$(mktemp -d /tmp/tillkit-pg.XXXXXX)
  chmod 755 "$PG_TMP"
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$PG_TMP"; fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
    || echo $((20000 + RANDOM % 20000)))
  pg_as "$bin/initdb" -D "$PG_TMP/data" -A trust -U tillkit --no-sync >"$PG_TMP/initdb.log" 2>&1 \
    || { cat "$PG_TMP/initdb.log" >&2; return 1; }
  unset TILLKIT_TEST_POSTGRES_CA
  if [ "${1:-}" != "--no-ssl" ]; then
    if command -v openssl >/dev/null && pg_make_certs "$PG_TMP/tls"; then
      ssl_opts="-c ssl=on -c ssl_cert_file=$PG_TMP/tls/server.crt -c ssl_key_file=$PG_TMP/tls/server.key"
      export TILLKIT_TEST_POSTGRES_CA="$PG_TMP/tls/ca.crt"
    else
      echo "== openssl missing or failing: PostgreSQL without TLS (its TLS tests are skipped)" >&2
    fi
  fi
  # Tuned for a throw-away test cluster; durability settings stay at their defaults.
  pg_as "$bin/pg_ctl" -D "$PG_TMP/data" -w -t 60 -l "$PG_TMP/server.log" \
    -o "-p $port -k $PG_TMP -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=128MB $ssl_opts" \
    start >/dev/null || { cat "$PG_TMP/server.log" >&2; return 1; }
  PG_BIN=$bin
  export TILLKIT_TEST_POSTGRES="postgres://tillkit@127.0.0.1:$port/postgres"
  echo "== PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $PG_TMP)"
}

pg_stop() {
  if [ -n "${PG_TMP:-}" ] && [ -d "$PG_TMP/data" ]; then
    pg_as "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if [ -n "${PG_TMP:-}" ]; then rm -rf "$PG_TMP"; fi
  PG_TMP=
  unset TILLKIT_TEST_POSTGRES_CA
}
