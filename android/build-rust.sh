#!/usr/bin/env bash
# Builds libtillkit_ffi.so for the Android ABIs into tillkit/src/main/jniLibs/ with cargo-ndk
# (16 KB-aligned, checked), and generates the Kotlin bindings into bindings/generated/.
# Needs: NDK r28+ (ANDROID_NDK_HOME, or the catalog's version under ANDROID_HOME/ndk),
# cargo-ndk and the rustup targets (see README.md).
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
# The NDK the Gradle build names (ndkVersion), so the libraries it strips are the ones it built.
ndk_version=$(sed -n 's/^ndk = "\(.*\)"$/\1/p' "$ANDROID_DIR/gradle/libs.versions.toml")
: "${ANDROID_NDK_HOME:=${ANDROID_HOME:-/nonexistent}/ndk/$ndk_version}"
[ -f "$ANDROID_NDK_HOME/source.properties" ] || {
  echo "no NDK at $ANDROID_NDK_HOME: sdkmanager \"ndk;$ndk_version\" (or set ANDROID_NDK_HOME)" >&2
  exit 1
}
found=$(sed -n 's/^Pkg.Revision *= *//p' "$ANDROID_NDK_HOME/source.properties")
# r27 and older link 4 KB-aligned libraries unless told otherwise: refuse them outright.
case "$found" in
  2[89].*|[3-9][0-9].*) ;;
  *) echo "NDK ${found:-of unknown version} at $ANDROID_NDK_HOME is older than r28; use $ndk_version" >&2; exit 1 ;;
esac
[ "$found" = "$ndk_version" ] || echo "warning: NDK $found, but the Gradle build names $ndk_version" >&2
export ANDROID_NDK_HOME

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

# 16 KB pages (Android 15+): every 64-bit library must have 16 KB-aligned segments.
"$ANDROID_DIR/check-page-size.sh" "$ANDROID_DIR/tillkit/src/main/jniLibs"

# Library mode reads the same interface from the host build of the crate; this writes the
# Android copy (bindings/generated/kotlin-android, with UniFFI's Android cleaner) too.
bindings/generate.sh "${profile[@]}"
