#!/usr/bin/env bash
# A private, throw-away PostgreSQL for the test suite: installs Debian's server when it is
# missing, initdb into a temp dir as the postgres user, pg_ctl on a free loopback port.
# Source it, then: pg_start (exports TILLKIT_TEST_POSTGRES) ... pg_stop (removes everything).
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

pg_start() {
  local bin port
  bin=$(pg_bin) || return 1
  PG_TMP=$(mktemp -d /tmp/tillkit-pg.XXXXXX)
  chmod 755 "$PG_TMP"
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$PG_TMP"; fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
    || echo $((20000 + RANDOM % 20000)))
  pg_as "$bin/initdb" -D "$PG_TMP/data" -A trust -U tillkit --no-sync >"$PG_TMP/initdb.log" 2>&1 \
    || { cat "$PG_TMP/initdb.log" >&2; return 1; }
  # Tuned for a throw-away test cluster; durability settings stay at their defaults.
  pg_as "$bin/pg_ctl" -D "$PG_TMP/data" -w -t 60 -l "$PG_TMP/server.log" \
    -o "-p $port -k $PG_TMP -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=128MB" \
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
}
