#!/usr/bin/env bash
# Builds libtillkit_ffi and generates its Kotlin and Swift bindings in library mode into
# bindings/generated/{kotlin,swift} (not committed: the Android and iOS builds run this).
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
rm -rf "$out/kotlin" "$out/swift"
for language in kotlin swift; do
  # --no-format: ktlint and swiftformat are not required to build.
  "$target_dir/debug/uniffi-bindgen" generate --no-format \
    --language "$language" --out-dir "$out/$language" "$library"
done
echo "generated from $library:"
find "$out" -type f | sort
