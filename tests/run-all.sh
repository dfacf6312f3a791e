#!/usr/bin/env bash
# Runs Tillkit's whole test suite: every Rust crate (unit, integration, crash, fault and
# end-to-end tests against the real server on loopback, on SQLite and on a private
# PostgreSQL it starts), the plain-Kotlin Android modules and the Kotlin binding tests on the
# host JVM, and the Android packaging checks. Installs what a fresh machine lacks.
# Usage: tests/run-all.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=tests/postgres.sh
source tests/postgres.sh
# The private PostgreSQL is stopped and deleted however this script ends.
trap pg_stop EXIT
trap 'exit 130' INT TERM
pg_start
# Here a PostgreSQL test that cannot reach it fails instead of skipping.
export TILLKIT_REQUIRE_POSTGRES=1

echo "== Rust: all crates"
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi

echo "== Android view-state module (plain Kotlin) on the host JVM"
android/ui-model/test.sh

echo "== Android background-upload policy (plain Kotlin) on the host JVM"
android/background/test.sh

echo "== Android packaging: the 16 KB page-size check, backup and transfer rules"
android/check-page-size-test.sh
android/backup-rules-test.sh

echo "== Android: the recovery job belongs to the application, not to a screen"
android/recovery-owner-test.sh

if [ -x tests/kotlin/run.sh ]; then
  echo "== Kotlin bindings on the host JVM"
  tests/kotlin/run.sh
fi
