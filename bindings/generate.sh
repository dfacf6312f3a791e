#!/usr/bin/env bash
# Builds libtillkit_ffi and generates its bindings in library mode into bindings/generated/:
# kotlin (host JVM, tests/kotlin), kotlin-android (the Android cleaner, read by android/tillkit)
# and swift. Not committed: the Android and iOS builds run this.
# Usage: bindings/generate.sh [--release]     (default: debug)
set -euo pipefail
cd "$(dirname "$0")/.."

profile=debug
build_flags=()
case "${1:-}" in
  "") ;;
  --release) profile=release; build_flags=(--release) ;;
  *) echo "usage: bindings/generate.sh [--release]" >&2; exit 2 ;;
esac
target_dir="${CARGO_TARGET_DIR:-target}"

# The generator is behind the `cli` feature so ordinary builds never compile it. Build it
# first: its build also compiles this crate's lib with other features.
cargo build --quiet -p tillkit-ffi --features cli --bin uniffi-bindgen
cargo build --quiet -p tillkit-ffi --lib "${build_flags[@]}"

library="$target_dir/$profile/libtillkit_ffi.so"
[ "$(uname -s)" = Darwin ] && library="$target_dir/$profile/libtillkit_ffi.dylib"
out=bindings/generated
rm -rf "$out/kotlin" "$out/kotlin-android" "$out/swift"
bindgen() {
  # --no-format: ktlint and swiftformat are not required to build.
  "$target_dir/debug/uniffi-bindgen" generate --no-format "$@" "$library"
}
bindgen --language kotlin --out-dir "$out/kotlin"
bindgen --language swift --out-dir "$out/swift"
bindgen --language kotlin --config bindings/uniffi-android.toml --out-dir "$out/kotlin-android"

# The Android copy must never reach java.lang.ref.Cleaner (API 33; minSdk is 26), the host
# copy must not need android.*: check both, so a UniFFI upgrade cannot change it silently.
kotlin_file=app/tillkit/ffi/tillkit_ffi.kt
grep -q 'android.system.SystemCleaner' "$out/kotlin-android/$kotlin_file" \
  && ! grep -q 'java.lang.ref.Cleaner.create' "$out/kotlin-android/$kotlin_file" \
  || { echo "generate.sh: the Android bindings do not use the Android cleaner" >&2; exit 1; }
! grep -q '^import android' "$out/kotlin/$kotlin_file" \
  || { echo "generate.sh: the host-JVM bindings import android.*" >&2; exit 1; }
echo "generated from $library:"
find "$out" -type f | sort
