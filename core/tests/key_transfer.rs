//! A stored key this device cannot unwrap (Android: app data moved to a new phone without
//! its Keystore key) is a typed error on open: never a new key, never a touched database.
//! The keychain store answers as Android's does, through keyring-core's mock and its errors.

mod common;

use common::*;
use tillkit_core::store::key::{KeyVault, Keychain};
use tillkit_core::{Config, Error, Till};

/// What android-native-keyring-store answers when the prefs holding the wrapped key came
/// along but the Keystore key did not, and when the wrapping key changed under it.
fn unwrap_failures() -> Vec<keyring_core::Error> {
    vec![
        keyring_core::Error::BadStoreFormat("Encryption key not found".into()),
        keyring_core::Error::BadDataFormat(
            b"wrapped".to_vec(),
            Box::new(std::io::Error::other(
                "Verification of data signature/MAC failed",
            )),
        ),
    ]
}

/// One in-memory store for the whole binary: the tests run in parallel under `cargo test`,
/// and a second store set by another test would hide this one's keys.
fn use_mock_keychain() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| keyring_core::set_default_store(keyring_core::mock::Store::new().unwrap()));
}

/// Makes the next read of the keychain entry `service`/`account` fail with `error`.
fn fail_next_read(service: &str, account: &str, error: keyring_core::Error) {
    let entry = keyring_core::Entry::new(service, account).unwrap();
    entry
        .as_any()
        .downcast_ref::<keyring_core::mock::Cred>()
        .expect("the mock store's credential")
        .set_error(error);
}

fn file_bytes(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn a_key_that_cannot_be_unwrapped_is_a_typed_error_and_makes_no_new_key() {
    use_mock_keychain();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path());
    config.keychain_account = "register-R07".into();

    let till = Till::open(config.clone()).unwrap();
    let sale = sell_one_loaf(&till);
    drop(till);
    let keychain = Keychain::new(&config.keychain_service, &config.keychain_account).unwrap();
    let key_id = keychain.load().unwrap().expect("a key").id;
    let files_before = file_bytes(dir.path());

    for failure in unwrap_failures() {
        fail_next_read(&config.keychain_service, &config.keychain_account, failure);
        match Till::open(config.clone()) {
            Err(Error::KeyUnreadable(reason)) => assert!(!reason.is_empty()),
            Err(other) => panic!("expected KeyUnreadable, got {other:?}"),
            Ok(_) => panic!("a key that cannot be unwrapped must not open the store"),
        }
        assert_eq!(
            keychain.load().unwrap().expect("the key is still there").id,
            key_id,
            "no new key was written over the old one"
        );
        assert_eq!(
            file_bytes(dir.path()),
            files_before,
            "the database files are untouched"
        );
    }

    // Once the key can be read again (the right device), the sale is there, still queued.
    let till = Till::open(config).unwrap();
    till.login("uk-01", "R07", "alice").unwrap();
    let pending = till.pending_sales(10).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].sale_id, sale.sale_id.to_string());
}

#[test]
fn a_key_that_cannot_be_unwrapped_without_a_database_still_makes_no_new_key() {
    // The prefs came along and the database did not: a new key here would be written into
    // a vault this device cannot read, and the next start would refuse it again.
    use_mock_keychain();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path().join("data"));
    config.keychain_account = "register-R08".into();
    Till::open(config.clone()).unwrap();
    std::fs::remove_dir_all(dir.path().join("data")).unwrap();

    for failure in unwrap_failures() {
        fail_next_read(&config.keychain_service, &config.keychain_account, failure);
        assert!(matches!(
            Till::open(config.clone()),
            Err(Error::KeyUnreadable(_))
        ));
    }
}
