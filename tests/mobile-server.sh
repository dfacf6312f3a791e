#!/usr/bin/env bash
# Starts the reference server for the device tests (Android instrumented, iOS XCTest) and the
# apps on 127.0.0.1:PORT: store-1 with the demo catalogue and one register per REGISTER
# argument, each with a one-time pairing code (valid 60 minutes) that it prints and writes
# to DIR/<REGISTER>.code; DIR/server.pid and the logs in DIR. Waits until /v1/health answers.
# Type a code into the app's pairing screen, or pass it to a device test.
# Never touches a database outside DIR. Usage: tests/mobile-server.sh DIR PORT REGISTER...
# Stop it with: kill "$(cat DIR/server.pid)"
set -euo pipefail
[ "$#" -ge 3 ] || { echo "usage: tests/mobile-server.sh DIR PORT REGISTER..." >&2; exit 2; }
dir="$1" port="$2"
shift 2
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-target}"

cargo build --quiet --release -p tillkit-server --bin tillkit-server
server="$target_dir/release/tillkit-server"
mkdir -p "$dir"
db="$dir/server.db"
admin() { "$server" admin "$@" 2>>"$dir/admin.log"; }
admin create-store --data "$db" --id store-1 --name "Main St" >/dev/null
admin load-catalog --data "$db" --store store-1 --file demo/src/catalog.json >/dev/null
for register in "$@"; do
  # Registers the register and makes its code; the device trades it for its own token.
  admin pair-register --data "$db" --store store-1 --register "$register" --minutes 60 >"$dir/$register.code"
  echo "pairing code for register $register: $(cat "$dir/$register.code")"
done

"$server" serve --data "$db" --listen "127.0.0.1:$port" >"$dir/server.log" 2>&1 &
echo $! >"$dir/server.pid"
for _ in $(seq 1 300); do
  if curl -fsS "http://127.0.0.1:$port/v1/health" >/dev/null 2>&1; then
    echo "reference server on 127.0.0.1:$port (pid $(cat "$dir/server.pid")), pairing codes in $dir"
    exit 0
  fi
  kill -0 "$(cat "$dir/server.pid")" 2>/dev/null || break
  sleep 0.2
done
echo "the reference server did not answer; see $dir/server.log" >&2
exit 1
