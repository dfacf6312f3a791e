//! Tillkit's Kotlin and Swift bindings (UniFFI proc-macros): the FFI types and conversions.
//! A thin skin over tillkit-core: it converts and forwards; all logic stays in the core.

mod background;
mod cart;
mod core;
mod error;
mod journal;
mod offline_limits;
mod records;
mod recovery;
mod runtime;
mod status;

#[cfg(target_os = "android")]
mod android;

pub use background::{DrainOutcome, DrainReport};
pub use cart::CartHandle;
pub use core::{CoreConfig, TillkitCore};
pub use error::TillkitError;
pub use journal::*;
pub use offline_limits::*;
pub use records::*;
pub use recovery::*;
pub use status::{StatusObserver, StatusSubscription};

uniffi::setup_scaffolding!();

/// Reads what the pairing screen's scanner (or the clipboard) gave: a pairing link
/// (`tillkit://pair?code=...&server=...`, what `admin pair-register --link` prints and a QR
/// code holds) or a bare code. Anything else is `InvalidInput` with words for the cashier;
/// nothing is sent. Pair with `pair(serverUrl ?: the register's server, code)`: a link made
/// for another server is refused there.
#[uniffi::export]
pub fn read_pairing_scan(text: String) -> Result<ScannedPairing, TillkitError> {
    Ok(tillkit_core::sync::read_pairing_scan(&text)?.into())
}

/// FOR TESTS ONLY: keeps database keys in process memory instead of the OS keychain, so
/// tests run where no keychain exists (e.g. containers without kernel keyutils). Keys are
/// lost when the process exits. Call it before the first `TillkitCore.open`; later calls
/// do nothing. Never call it in an app.
#[uniffi::export]
pub fn use_in_memory_keychain_for_tests() -> Result<(), TillkitError> {
    static ONCE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let store = keyring_core::mock::Store::new().map_err(|e| e.to_string())?;
        keyring_core::set_default_store(store);
        Ok(())
    })
    .clone()
    .map_err(|reason| TillkitError::Keychain { reason })
}
