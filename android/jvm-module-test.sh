#!/usr/bin/env bash
# Compiles a plain-Kotlin Android module (no Android SDK) and the modules it depends on with
# kotlinc and runs its JUnit 4 tests on the host JVM. Installs what a fresh machine lacks: the
# Kotlin compiler (npm package, cached under target/kotlin-toolchain/) and JUnit 4 (Debian).
# Prints "N passed, M failed" last. Usage: android/jvm-module-test.sh MODULE [DEPENDENCY...]
set -euo pipefail

# Any failure before JUnit reports still ends with the summary line.
ran=0
summary_on_setup_failure() {
  local rc=$?
  if [ "$ran" -eq 0 ] && [ "$rc" -ne 0 ]; then echo "0 passed, 1 failed"; fi
}
trap summary_on_setup_failure EXIT

ANDROID_DIR="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$ANDROID_DIR/.." && pwd)"
[ "$#" -ge 1 ] || { echo "usage: android/jvm-module-test.sh MODULE [DEPENDENCY...]" >&2; exit 2; }
NAME="$1"
shift
MODULE="$ANDROID_DIR/$NAME"
DEPENDENCIES=()
for dep in "$@"; do DEPENDENCIES+=("$ANDROID_DIR/$dep/src/main/kotlin"); done
KOTLIN_VERSION=2.4.20
TARGET="$(cd "${CARGO_TARGET_DIR:-$REPO/target}" 2>/dev/null && pwd || echo "$REPO/target")"
# The same cache as tests/kotlin/run.sh, so the compiler is fetched once per machine.
TOOLCHAIN="$TARGET/kotlin-toolchain/kotlin-compiler-$KOTLIN_VERSION"
KOTLINC="$TOOLCHAIN/package/bin/kotlinc"
JUNIT=/usr/share/java/junit4.jar
HAMCREST=/usr/share/java/hamcrest-core.jar
OUT="$TARGET/jvm-modules/$NAME"

if [ ! -x "$KOTLINC" ]; then
  echo "== installing kotlin-compiler@$KOTLIN_VERSION (npm) into $TOOLCHAIN"
  rm -rf "$TOOLCHAIN" && mkdir -p "$TOOLCHAIN"
  (cd "$TOOLCHAIN" && npm pack --silent "kotlin-compiler@$KOTLIN_VERSION" >/dev/null \
    && tar xzf "kotlin-compiler-$KOTLIN_VERSION.tgz" && rm "kotlin-compiler-$KOTLIN_VERSION.tgz")
fi
if [ ! -f "$JUNIT" ] || [ ! -f "$HAMCREST" ]; then
  echo "== installing junit4 (apt)"
  export DEBIAN_FRONTEND=noninteractive
  # Refresh the package lists only when the install cannot be done without.
  apt-get install -y -qq junit4 >/dev/null || { apt-get update -qq && apt-get install -y -qq junit4 >/dev/null; }
fi

fail() {
  echo "$1" >&2
  exit 1
}

# The modules must stay free of Android and of the generated bindings, or they cannot be built here.
if grep -rnE '^import (android|androidx|app\.tillkit\.ffi)\.' "$MODULE/src" "${DEPENDENCIES[@]}"; then
  fail ":$NAME and its dependencies must not import android.*, androidx.* or the generated bindings"
fi

rm -rf "$OUT" && mkdir -p "$OUT/main" "$OUT/test"
echo "== compiling :$NAME src/main${DEPENDENCIES[*]:+ with ${*}}"
"$KOTLINC" -jvm-target 17 -Werror -d "$OUT/main" "$MODULE/src/main/kotlin" "${DEPENDENCIES[@]}" \
  || fail "src/main does not compile"
echo "== compiling src/test"
"$KOTLINC" -jvm-target 17 -Werror -cp "$OUT/main:$JUNIT" -d "$OUT/test" "$MODULE/src/test/kotlin" \
  || fail "src/test does not compile"

CLASSES=$(cd "$OUT/test" && find . -name '*Test.class' ! -name '*$*' | sed 's|^\./||; s|\.class$||; s|/|.|g' | sort)
CP="$OUT/main:$OUT/test:$TOOLCHAIN/package/lib/kotlin-stdlib.jar:$JUNIT:$HAMCREST"
echo "== running $(echo "$CLASSES" | wc -l) test classes"
ran=1
set +e
# shellcheck disable=SC2086 # one class name per word
java -cp "$CP" org.junit.runner.JUnitCore $CLASSES | tee "$OUT/junit.log"
STATUS=${PIPESTATUS[0]}
set -e

# JUnitCore ends with "OK (N tests)" or "Tests run: N,  Failures: M".
if ok=$(grep -oE '^OK \([0-9]+ tests?\)' "$OUT/junit.log"); then
  run=$(echo "$ok" | grep -oE '[0-9]+'); failed=0
else
  run=$(grep -oE '^Tests run: [0-9]+' "$OUT/junit.log" | grep -oE '[0-9]+' || echo 0)
  failed=$(grep -oE 'Failures: [0-9]+' "$OUT/junit.log" | grep -oE '[0-9]+' || echo 1)
fi
echo "$((run - failed)) passed, $failed failed"
[ "$STATUS" -eq 0 ] && [ "$failed" -eq 0 ]
