#!/usr/bin/env bash
# Runs :tillkit's instrumented test (OfflineSalesTest) on the connected emulator or device
# against a fresh reference server on the host over HTTPS, with a throwaway CA the test is
# given as its private root (tests/mobile-server.sh makes both). Leaves no server running
# and no certificate behind. Needs adb, an emulator/device, and the Gradle wrapper
# (make-wrapper.sh).
# Usage: android/connected-test.sh     (TILLKIT_PORT overrides the port, default 8787;
#   TILLKIT_DEVICE_HOST the host the device dials, default 10.0.2.2, the emulator's name for
#   the host's loopback; on a physical device use 127.0.0.1, forwarded with `adb reverse`)
set -euo pipefail
ANDROID_DIR="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$ANDROID_DIR/.." && pwd)"
port="${TILLKIT_PORT:-8787}"
host="${TILLKIT_DEVICE_HOST:-10.0.2.2}"
case "$host" in
  10.0.2.2 | 127.0.0.1 | localhost) ;;
  *) echo "TILLKIT_DEVICE_HOST must be one the server certificate names: 10.0.2.2, 127.0.0.1 or localhost" >&2; exit 2 ;;
esac

work="$(mktemp -d)"
reversed=""
cleanup() {
  if [ -f "$work/server.pid" ]; then kill "$(cat "$work/server.pid")" 2>/dev/null || true; fi
  if [ -n "$reversed" ]; then adb reverse --remove "tcp:$port" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$REPO/tests/mobile-server.sh" "$work" "$port" R99
if [ "$host" != 10.0.2.2 ]; then
  # The device's own loopback port, forwarded to the host's.
  adb reverse "tcp:$port" "tcp:$port"
  reversed=1
fi
cd "$ANDROID_DIR"
# The CA goes as one line (base64 DER): instrumentation arguments pass through `am instrument`.
./gradlew :tillkit:connectedAndroidTest \
  "-Pandroid.testInstrumentationRunnerArguments.tillkitPairingCode=$(cat "$work/R99.code")" \
  "-Pandroid.testInstrumentationRunnerArguments.tillkitServerUrl=https://$host:$port/" \
  "-Pandroid.testInstrumentationRunnerArguments.tillkitRootCertificate=$(cat "$work/ca.b64")"
