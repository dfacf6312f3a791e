//! The UniFFI binding generator, built from this workspace so its version matches the library's.
fn main() {
    uniffi::uniffi_bindgen_main()
}
