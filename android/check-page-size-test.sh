#!/usr/bin/env bash
# Tests check-page-size.sh on the host: shared objects linked with 4 KB and 16 KB segment
# alignment (cc), loose and inside an APK. Writes only to a temporary directory.
# Prints "N passed, M failed" last. Usage: android/check-page-size-test.sh
set -euo pipefail
CHECK="$(cd "$(dirname "$0")" && pwd)/check-page-size.sh"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

passed=0 failed=0
expect() { # expected exit status, description, arguments...
  local want="$1" what="$2" got=0
  shift 2
  "$CHECK" "$@" >"$work/out" 2>&1 || got=$?
  if [ "$got" -eq "$want" ]; then
    passed=$((passed + 1)); echo "ok   $what"
  else
    failed=$((failed + 1)); echo "FAIL $what (exit $got, wanted $want)"; sed 's/^/    /' "$work/out"
  fi
}

echo 'int tillkit_probe(void) { return 1; }' >probe.c
cc -shared -fPIC -Wl,-z,max-page-size=4096 -o lib4k.so probe.c
cc -shared -fPIC -Wl,-z,max-page-size=16384 -o lib16k.so probe.c
mkdir -p apk/lib/arm64-v8a apk/lib/x86_64
cp lib16k.so apk/lib/arm64-v8a/libtillkit_ffi.so
cp lib4k.so apk/lib/x86_64/libjnidispatch.so
# An APK is a zip: the JDK's jar writes one (-M: no manifest) where no zip tool is installed.
(cd apk && jar cfM ../mixed.apk lib)

expect 0 "a library with 16 KB segments passes" lib16k.so
expect 1 "a library with 4 KB segments fails" lib4k.so
expect 1 "one 4 KB library fails the whole set" lib16k.so lib4k.so
expect 0 "a directory of 16 KB libraries passes" apk/lib/arm64-v8a
expect 1 "an APK with one 4 KB library inside fails" mixed.apk
grep -q "NOT 16 KB aligned.*mixed.apk!/lib/x86_64/libjnidispatch.so" "$work/out" \
  && { passed=$((passed + 1)); echo "ok   the failure names the library inside the APK"; } \
  || { failed=$((failed + 1)); echo "FAIL the failure names the library inside the APK"; }
expect 1 "a file that is not a library fails" probe.c

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
