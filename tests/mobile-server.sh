#!/usr/bin/env bash
# Starts the reference server for the device tests (Android instrumented, iOS XCTest) and the
# apps on https://127.0.0.1:PORT/: store-1 with the demo catalogue and one register per
# REGISTER argument, each with a one-time pairing code (valid 60 minutes) that it prints and
# writes to DIR/<REGISTER>.code; DIR/server.pid and the logs in DIR. Waits until /v1/health
# answers over HTTPS.
#
# HTTPS with a throwaway CA made here (EC P-256, valid 2 days; its key is deleted as soon as
# it has signed): DIR/ca.pem is the CA certificate, DIR/ca.b64 the same certificate as one
# line (base64 DER: the form the apps and device tests take, see android/README.md and
# ios/README.md), DIR/server.pem and DIR/server.key the server's. The server certificate
# names 127.0.0.1, localhost (the iOS simulator and the Mac) and 10.0.2.2 (the host as the
# Android emulator reaches it).
#
# Type a code into the app's pairing screen, or pass it to a device test.
# Never touches a database outside DIR. Usage: tests/mobile-server.sh DIR PORT REGISTER...
# (TILLKIT_SERVER_BIN: a tillkit-server already built, else the release one is built.)
# Stop it with: kill "$(cat DIR/server.pid)"
set -euo pipefail
[ "$#" -ge 3 ] || { echo "usage: tests/mobile-server.sh DIR PORT REGISTER..." >&2; exit 2; }
dir="$1" port="$2"
shift 2
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-target}"

# The CA's key and the signing files live only here; the server, if it was started and did
# not come up, is stopped.
work="$(mktemp -d)"
started=""
# shellcheck disable=SC2317 # run by the trap
cleanup() {
  local rc=$?
  rm -rf "$work"
  if [ "$rc" -ne 0 ] && [ -n "$started" ]; then kill "$started" 2>/dev/null || true; fi
}
trap cleanup EXIT

server="${TILLKIT_SERVER_BIN:-}"
if [ -z "$server" ]; then
  cargo build --quiet --release -p tillkit-server --bin tillkit-server
  server="$target_dir/release/tillkit-server"
fi
mkdir -p "$dir"

# openssl 3 and LibreSSL (macOS) alike: SEC1 EC keys, extensions from a config file.
cat >"$work/x509.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = Tillkit test server
[ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost, IP:10.0.2.2
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
ssl() { openssl "$@" 2>>"$work/openssl.log" || { cat "$work/openssl.log" >&2; return 1; }; }
(
  umask 077
  ssl ecparam -name prime256v1 -genkey -noout -out "$work/ca.key"
  ssl ecparam -name prime256v1 -genkey -noout -out "$dir/server.key"
)
ssl req -new -x509 -config "$work/x509.cnf" -extensions ca -subj "/CN=Tillkit throwaway test CA" \
  -key "$work/ca.key" -sha256 -days 2 -out "$dir/ca.pem"
ssl req -new -config "$work/x509.cnf" -key "$dir/server.key" -out "$work/server.csr"
ssl x509 -req -in "$work/server.csr" -CA "$dir/ca.pem" -CAkey "$work/ca.key" \
  -set_serial "0x$(openssl rand -hex 16)" -sha256 -days 2 \
  -extfile "$work/x509.cnf" -extensions leaf -out "$dir/server.pem"
rm -f "$work/ca.key"
sed '/-----/d' "$dir/ca.pem" | tr -d '\n' >"$dir/ca.b64"

db="$dir/server.db"
admin() { "$server" admin "$@" 2>>"$dir/admin.log"; }
admin create-store --data "$db" --id store-1 --name "Main St" >/dev/null
admin load-catalog --data "$db" --store store-1 --file demo/src/catalog.json >/dev/null
for register in "$@"; do
  # Registers the register and makes its code; the device trades it for its own token.
  admin pair-register --data "$db" --store store-1 --register "$register" --minutes 60 >"$dir/$register.code"
  echo "pairing code for register $register: $(cat "$dir/$register.code")"
done

"$server" serve --data "$db" --listen "127.0.0.1:$port" \
  --tls-cert "$dir/server.pem" --tls-key "$dir/server.key" >"$dir/server.log" 2>&1 &
started=$!
echo "$started" >"$dir/server.pid"
for _ in $(seq 1 300); do
  if curl -fsS --cacert "$dir/ca.pem" "https://127.0.0.1:$port/v1/health" >/dev/null 2>&1; then
    echo "reference server on https://127.0.0.1:$port/ (pid $started), CA $dir/ca.pem (one line: $dir/ca.b64), pairing codes in $dir"
    exit 0
  fi
  kill -0 "$started" 2>/dev/null || break
  sleep 0.2
done
echo "the reference server did not answer over HTTPS; see $dir/server.log" >&2
exit 1
