#!/usr/bin/env bash
# Tests the Kotlin bindings on the host JVM: builds libtillkit_ffi and tillkit-server,
# generates the Kotlin bindings, compiles them with the tests (kotlinc) and runs JUnit 4
# through JNA. Installs what a fresh Debian machine lacks (JNA, JUnit 4 via apt; the
# Kotlin compiler via npm, cached in target/kotlin-toolchain, whose package also carries the
# kotlinx-coroutines jar the async bindings and the status Flow need). Usage: tests/kotlin/run.sh
# Ends with the line "N passed, M failed"; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo="$(pwd)"

KOTLIN_VERSION=2.4.20
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$repo/$target_dir" ;; esac
toolchain="$target_dir/kotlin-toolchain/kotlin-compiler-$KOTLIN_VERSION"
build="$target_dir/kotlin-tests"

tests_ran=0
finish() {
  local status=$?
  if [ "$tests_ran" -eq 0 ]; then
    echo "tests/kotlin/run.sh: setup failed (exit $status) before any test ran" >&2
    echo "0 passed, 1 failed"
  fi
}
trap finish EXIT

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

echo "== JNA and JUnit 4"
jars=(/usr/share/java/jna.jar /usr/share/java/junit4.jar /usr/share/java/hamcrest-core.jar)
missing=0
for jar in "${jars[@]}"; do [ -f "$jar" ] || missing=1; done
if [ "$missing" -eq 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # Refresh the package lists only when the install cannot be done without.
  as_root apt-get install -y -q libjna-java junit4 \
    || { as_root apt-get update -q && as_root apt-get install -y -q libjna-java junit4; }
fi

echo "== Kotlin compiler $KOTLIN_VERSION"
if [ ! -x "$toolchain/package/bin/kotlinc" ]; then
  rm -rf "$toolchain" && mkdir -p "$toolchain"
  (cd "$toolchain" && npm pack --silent "kotlin-compiler@$KOTLIN_VERSION" >/dev/null \
    && tar xzf "kotlin-compiler-$KOTLIN_VERSION.tgz" && rm "kotlin-compiler-$KOTLIN_VERSION.tgz")
fi
kotlin_lib="$toolchain/package/lib"
# The generated async calls (suspend) and app.tillkit.core's Flow need kotlinx-coroutines:
# the npm package ships it (no other registry needed); fail plainly if a version stops shipping it.
coroutines="$kotlin_lib/kotlinx-coroutines-core-jvm.jar"
[ -f "$coroutines" ] || { echo "tests/kotlin/run.sh: $coroutines missing from kotlin-compiler@$KOTLIN_VERSION" >&2; exit 1; }

echo "== Rust: tillkit-server, libtillkit_ffi and its Kotlin bindings"
cargo build --quiet -p tillkit-server --bin tillkit-server
bindings/generate.sh >/dev/null
generated="bindings/generated/kotlin/app/tillkit/ffi/tillkit_ffi.kt"

# The Android app's platform-free Kotlin is compiled against the same bindings, so its
# mapping of the core's errors and records is tested here with the real core: :ui-model,
# :background and :tillkit's files that import no android.* (checked).
# The hand-written Kotlin lives in app.tillkit.core, apart from the generated app.tillkit.ffi.
core_kotlin=android/tillkit/src/main/kotlin/app/tillkit/core
shared_kotlin=("$core_kotlin/Errors.kt" "$core_kotlin/Mappers.kt" "$core_kotlin/StatusFlow.kt" "$core_kotlin/Certificates.kt")
if grep -nE '^import (android|androidx)\.' "${shared_kotlin[@]}"; then
  echo "tests/kotlin/run.sh: ${shared_kotlin[*]} must stay free of android.*" >&2
  exit 1
fi

echo "== kotlinc"
rm -rf "$build" && mkdir -p "$build"
classpath="$(IFS=:; echo "${jars[*]}"):$coroutines"
# -nowarn: the generated bindings produce many warnings that are not ours to fix.
"$toolchain/package/bin/kotlinc" -nowarn -jvm-target 17 -cp "$classpath" -d "$build/classes" \
  "$generated" android/ui-model/src/main/kotlin android/background/src/main/kotlin \
  "${shared_kotlin[@]}" tests/kotlin/src/*.kt

echo "== JUnit on the host JVM"
test_classes=()
for f in tests/kotlin/src/*Test.kt; do
  test_classes+=("app.tillkit.tests.$(basename "$f" .kt)")
done
tests_ran=1
log="$build/junit.log"
# The generated code loads the library named by this property (else "tillkit_ffi" from
# jna.library.path); an absolute path makes sure it is the one just built.
set +e
timeout 600 java \
  -cp "$build/classes:$kotlin_lib/kotlin-stdlib.jar:$classpath" \
  -Duniffi.component.tillkit_ffi.libraryOverride="$target_dir/debug/libtillkit_ffi.so" \
  -Dtillkit.server="$target_dir/debug/tillkit-server" \
  app.tillkit.tests.RunnerKt "${test_classes[@]}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
if ! tail -n 1 "$log" | grep -Eq '^[0-9]+ passed, [0-9]+ failed$'; then
  # The JVM died (native crash, timeout) before the runner could count: count what ran.
  echo "the JVM exited with status $status before the run finished"
  echo "$(grep -c '^ok ' "$log") passed, $(( $(grep -c '^FAIL ' "$log") + 1 )) failed"
  exit 1
fi
exit "$status"
