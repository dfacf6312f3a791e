#!/usr/bin/env bash
# Runs :tillkit's instrumented test (OfflineSalesTest) on the connected emulator or device
# against a fresh reference server on the host, reached through `adb reverse`. Leaves no
# server running. Needs adb, an emulator/device, and the Gradle wrapper (make-wrapper.sh).
# Usage: android/connected-test.sh     (TILLKIT_PORT overrides the port, default 8787)
set -euo pipefail
ANDROID_DIR="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$ANDROID_DIR/.." && pwd)"
port="${TILLKIT_PORT:-8787}"

work="$(mktemp -d)"
cleanup() {
  [ -f "$work/server.pid" ] && kill "$(cat "$work/server.pid")" 2>/dev/null || true
  adb reverse --remove "tcp:$port" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$REPO/tests/mobile-server.sh" "$work" "$port" R99
# The core allows plain HTTP only to loopback: the device's own 127.0.0.1:PORT is forwarded
# to the host's.
adb reverse "tcp:$port" "tcp:$port"
cd "$ANDROID_DIR"
./gradlew :tillkit:connectedAndroidTest \
  "-Pandroid.testInstrumentationRunnerArguments.tillkitPairingCode=$(cat "$work/R99.code")" \
  "-Pandroid.testInstrumentationRunnerArguments.tillkitServerUrl=http://127.0.0.1:$port/"
