//! The production key path: the database key lives in the OS keychain through
//! keyring-core (here its in-memory mock store, set explicitly as the default store).

mod common;

use common::*;
use tillkit_core::store::key::{KeyVault, Keychain};
use tillkit_core::{Config, Error, Till};

#[test]
fn the_key_is_created_in_the_keychain_reused_rotated_and_required() {
    keyring_core::set_default_store(keyring_core::mock::Store::new().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path());
    config.keychain_account = "register-R07".into();

    let till = Till::open(config.clone()).unwrap();
    let sale = sell_one_loaf(&till);
    drop(till);

    let keychain = Keychain::new(&config.keychain_service, &config.keychain_account).unwrap();
    let first = keychain
        .load()
        .unwrap()
        .expect("the key was stored in the keychain");
    // Reopening reuses it.
    let till = Till::open(config.clone()).unwrap();
    assert!(till.load_sale(&sale.sale_id.to_string()).unwrap().is_some());
    // Rotation goes through the keychain's staged slot and leaves it empty.
    till.rotate_key(&keychain).unwrap();
    let second = keychain.load().unwrap().unwrap();
    assert_ne!(first.id, second.id);
    assert!(keychain.load_next().unwrap().is_none());
    drop(till);
    let till = Till::open(config.clone()).unwrap();
    assert!(till.load_sale(&sale.sale_id.to_string()).unwrap().is_some());
    drop(till);

    // Another account has no key for this file: typed error, file kept.
    let mut other = config.clone();
    other.keychain_account = "someone-else".into();
    assert!(matches!(Till::open(other).err(), Some(Error::KeyMissing)));
    assert!(dir.path().join("tillkit.db").exists());
}
