// swift-tools-version:5.10
// Tillkit for iOS: the Rust core as a static XCFramework (built by build-xcframework.sh), its
// UniFFI-generated Swift (module Tillkit, nothing else in it), and the hand-written Swift
// apart from it (module TillkitKit: TillkitStore, the status AsyncStream, view state).
// Tools 5.10: UniFFI 0.32's generated Swift needs Swift 5.10 (Xcode 15.3+); Xcode 16 is the
// supported toolchain (README.md).
import PackageDescription

let package = Package(
    name: "Tillkit",
    // macOS only so that `swift test` runs on a Mac; the product is for iOS.
    platforms: [.iOS(.v16), .macOS(.v13)],
    products: [
        .library(name: "Tillkit", targets: ["Tillkit", "TillkitKit"]),
    ],
    targets: [
        // Static libtillkit_ffi for iOS, the simulators and macOS, with TillkitFFI.h and its module map.
        .binaryTarget(name: "TillkitFFI", path: "TillkitFFI.xcframework"),
        // Generated only (Sources/Tillkit/Generated, written by build-xcframework.sh).
        .target(
            name: "Tillkit",
            dependencies: ["TillkitFFI"],
            path: "Sources/Tillkit",
            linkerSettings: [
                // SQLCipher's CommonCrypto and the keychain store.
                .linkedFramework("Security"),
                .linkedFramework("CoreFoundation"),
            ]
        ),
        // Hand-written: everything the app uses beside the generated API.
        .target(
            name: "TillkitKit",
            dependencies: ["Tillkit"],
            path: "Sources/TillkitKit"
        ),
        .testTarget(
            name: "TillkitTests",
            dependencies: ["Tillkit", "TillkitKit"],
            path: "Tests/TillkitTests"
        ),
    ]
)
