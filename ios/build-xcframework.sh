#!/usr/bin/env bash
# Builds TillkitFFI.xcframework (static libtillkit_ffi for iOS devices, the iOS simulators and
# macOS, with the UniFFI header and module map) and copies the generated Swift into
# Sources/Tillkit/Generated/. Needs macOS with Xcode and rustup. Usage: ios/build-xcframework.sh
set -euo pipefail
IOS_DIR="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$IOS_DIR/.." && pwd)"
cd "$REPO"

[ "$(uname -s)" = Darwin ] || { echo "build-xcframework.sh needs macOS with Xcode" >&2; exit 1; }

DEVICE=aarch64-apple-ios
SIMULATORS=(aarch64-apple-ios-sim x86_64-apple-ios)
# The macOS slice is only there so that `swift test` can run the package's tests on a Mac.
MACS=(aarch64-apple-darwin x86_64-apple-darwin)
rustup target add "$DEVICE" "${SIMULATORS[@]}" "${MACS[@]}"

# Same floors as Package.swift. SQLCipher uses CommonCrypto on Apple targets (no OpenSSL):
# an OPENSSL_DIR left in the environment would switch it to OpenSSL, so drop it.
export IPHONEOS_DEPLOYMENT_TARGET=16.0 MACOSX_DEPLOYMENT_TARGET=13.0
unset OPENSSL_DIR OPENSSL_LIB_DIR OPENSSL_INCLUDE_DIR
for target in "$DEVICE" "${SIMULATORS[@]}" "${MACS[@]}"; do
  cargo build --release --lib -p tillkit-ffi --target "$target"
done

target_dir="${CARGO_TARGET_DIR:-target}"
lib() { echo "$target_dir/$1/release/libtillkit_ffi.a"; }
work="$target_dir/xcframework"
rm -rf "$work" && mkdir -p "$work/headers" "$work/swift" "$work/ios-simulator" "$work/macos"

# Library mode reads the interface from the built library itself.
cargo run -q --release -p tillkit-ffi --features cli --bin uniffi-bindgen -- \
  generate --no-format --language swift --out-dir "$work/swift" "$(lib "$DEVICE")"
cp "$work/swift/TillkitFFI.h" "$work/headers/"
# An XCFramework's headers need the module map under this exact name.
cp "$work/swift/TillkitFFI.modulemap" "$work/headers/module.modulemap"

# One slice per platform: the simulators' and the Macs' architectures are merged with lipo.
lipo -create "$(lib "${SIMULATORS[0]}")" "$(lib "${SIMULATORS[1]}")" -output "$work/ios-simulator/libtillkit_ffi.a"
lipo -create "$(lib "${MACS[0]}")" "$(lib "${MACS[1]}")" -output "$work/macos/libtillkit_ffi.a"

rm -rf "$IOS_DIR/TillkitFFI.xcframework"
xcodebuild -create-xcframework \
  -library "$(lib "$DEVICE")" -headers "$work/headers" \
  -library "$work/ios-simulator/libtillkit_ffi.a" -headers "$work/headers" \
  -library "$work/macos/libtillkit_ffi.a" -headers "$work/headers" \
  -output "$IOS_DIR/TillkitFFI.xcframework"

mkdir -p "$IOS_DIR/Sources/Tillkit/Generated"
cp "$work/swift/Tillkit.swift" "$IOS_DIR/Sources/Tillkit/Generated/Tillkit.swift"
echo "built $IOS_DIR/TillkitFFI.xcframework and Sources/Tillkit/Generated/Tillkit.swift"
