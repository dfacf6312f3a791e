#!/usr/bin/env bash
# Builds libtillkit_ffi.so for the Android ABIs into tillkit/src/main/jniLibs/ with cargo-ndk,
# and generates the Kotlin bindings into bindings/generated/kotlin (read by :tillkit).
# Needs: the Android NDK (ANDROID_NDK_HOME), cargo-ndk, the rustup targets (see README.md).
# Usage: android/build-rust.sh [--debug]     (default: release)
set -euo pipefail
ANDROID_DIR="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$ANDROID_DIR/.." && pwd)"
cd "$REPO"

profile=(--release)
case "${1:-}" in
  "") ;;
  --debug) profile=() ;;
  *) echo "usage: android/build-rust.sh [--debug]" >&2; exit 2 ;;
esac

command -v cargo-ndk >/dev/null || { echo "cargo-ndk missing: cargo install cargo-ndk" >&2; exit 1; }
: "${ANDROID_NDK_HOME:?set ANDROID_NDK_HOME to the NDK (e.g. \$ANDROID_HOME/ndk/<version>)}"

# SQLCipher needs a libcrypto for each Android target (Android has no public one). Either the
# workspace builds OpenSSL from source for Android (rusqlite's bundled-sqlcipher-vendored-openssl,
# which pulls in openssl-src) or <TARGET>_OPENSSL_DIR points at a prebuilt OpenSSL per target.
if ! cargo tree -q -p tillkit-ffi --target aarch64-linux-android -i openssl-src >/dev/null 2>&1 \
  && [ -z "${AARCH64_LINUX_ANDROID_OPENSSL_DIR:-}" ]; then
  cat >&2 <<'EOF'
No OpenSSL for Android: SQLCipher's libcrypto would not link (-lcrypto not found). Either set
AARCH64_LINUX_ANDROID_OPENSSL_DIR, ARMV7_LINUX_ANDROIDEABI_OPENSSL_DIR and
X86_64_LINUX_ANDROID_OPENSSL_DIR to OpenSSL builds for those targets, or have the workspace
enable rusqlite's "bundled-sqlcipher-vendored-openssl" feature for target_os = "android".
EOF
  exit 1
fi

# minSdk 26, as in tillkit/build.gradle.kts.
cargo ndk --platform 26 -t arm64-v8a -t armeabi-v7a -t x86_64 \
  -o "$ANDROID_DIR/tillkit/src/main/jniLibs" build "${profile[@]}" -p tillkit-ffi

# Library mode reads the same interface from the host build of the crate.
bindings/generate.sh "${profile[@]}"

find "$ANDROID_DIR/tillkit/src/main/jniLibs" -name '*.so' | sort
