#!/usr/bin/env bash
# Runs one server benchmark with a private PostgreSQL started for it (and removed after):
# tests/bench.sh drain    -> cargo bench -p tillkit-server --bench drain
# tests/bench.sh load     -> the 50-register load test on PostgreSQL (release, ignored test)
# tests/bench.sh recovery -> 50 registers recovering from one server outage on PostgreSQL
#                            (release, ignored test)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tests/postgres.sh
source tests/postgres.sh
trap pg_stop EXIT
trap 'exit 130' INT TERM
pg_start
case "${1:-}" in
  drain) cargo bench -p tillkit-server --bench drain ;;
  load)
    cargo test --release -p tillkit-e2e --test load -- --ignored --nocapture \
      fifty_registers_draining_100k_sales_at_once_through_faults_into_postgres_store_every_sale_once
    ;;
  recovery)
    cargo test --release -p tillkit-e2e --test load -- --ignored --nocapture --exact \
      fifty_registers_recovering_from_one_server_outage_together_into_postgres_store_every_sale_once
    ;;
  *) echo "usage: tests/bench.sh drain|load|recovery" >&2; exit 2 ;;
esac
