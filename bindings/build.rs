//! Link settings of the binding library: on Android, ELF segments aligned to 16 KB.
//! It generates no code and changes nothing for other targets.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // Devices with 16 KB memory pages (Android 15 and later) refuse to load a library whose
    // segments are aligned to 4 KB. NDK r28+ links this way by default; saying it here keeps
    // it true whichever NDK or build tool links the library.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("android") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,max-page-size=16384");
    }
}
