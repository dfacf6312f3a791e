#!/usr/bin/env bash
# Checks on the host that the Android app's recovery job belongs to the application, not to
# a screen: a salvage running when the activity goes (rotation, leaving the app) must run to
# its end. The app module needs the Android SDK, so its source is read here, as a reviewer
# would. Reads files; changes nothing. Prints "N passed, M failed" last.
# Usage: android/recovery-owner-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
APP=android/app/src/main/kotlin/app/tillkit/register
passed=0 failed=0
check() { # description, command...
  local what="$1"
  shift
  if "$@" >/dev/null 2>&1; then passed=$((passed + 1)); echo "ok   $what"; else failed=$((failed + 1)); echo "FAIL $what"; fi
}
absent() { ! grep -nE "$1" "${@:2}"; }
# Files of the app that call the core's recovery, and the one allowed to.
callers=$(grep -lE 'TillkitAndroid\.(recover|startFresh)\(' "$APP"/*.kt || true)

check "only RecoverySession calls recover/startFresh" test "$callers" = "$APP/RecoverySession.kt"
check "no recovery call runs in a ViewModel's scope" absent 'viewModelScope|: ViewModel\(' "$APP/RecoverySession.kt" "$APP/RecoveryScreen.kt"
check "the recovery screen does not launch coroutines" absent 'launch|rememberCoroutineScope|LaunchedEffect' "$APP/RecoveryScreen.kt"
check "RecoverySession is made only by the application, with its scope" \
  test "$(grep -lE 'RecoverySession\(' "$APP"/*.kt | grep -v RecoverySession.kt)" = "$APP/RegisterApplication.kt"
check "the application passes its own process-long scope" grep -q 'RecoverySession(this@RegisterApplication, scope,' "$APP/RegisterApplication.kt"
check "the application's scope is MainScope (not tied to an activity)" grep -q 'private val scope = MainScope()' "$APP/RegisterApplication.kt"
check "the activity shows the application's session" grep -q 'RecoveryScreen(s.recovery' "$APP/MainActivity.kt"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
