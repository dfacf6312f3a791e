//! The database key: a random 256-bit raw key kept in the OS keychain, never on disk.
//! Key bytes live only in zeroizing buffers; they never reach logs, errors or `Debug`.

use std::fmt;
use std::sync::Arc;
use zeroize::Zeroizing;

use super::receipts::{MemoryBook, ReceiptBook, Reservations};
use crate::error::{Error, Result};

/// Length of the SQLCipher raw key in bytes.
pub const KEY_LEN: usize = 32;

/// A raw database key; its bytes are wiped when dropped and never printed.
pub struct DbKey {
    /// Random id stored next to the key and in a sidecar file, so a wrong key is told
    /// apart from a damaged file without trying to decrypt anything.
    pub id: String,
    bytes: Zeroizing<[u8; KEY_LEN]>,
}

impl fmt::Debug for DbKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl DbKey {
    /// A fresh random key with a fresh id.
    pub fn generate() -> Result<Self> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        getrandom::fill(&mut bytes[..])
            .map_err(|e| Error::Keychain(format!("no randomness: {e}")))?;
        let mut id = [0u8; 8];
        getrandom::fill(&mut id).map_err(|e| Error::Keychain(format!("no randomness: {e}")))?;
        Ok(DbKey {
            id: hex(&id).to_string(),
            bytes,
        })
    }

    /// The `PRAGMA key` statement for this raw key (SQLCipher's `x'..'` form: no KDF).
    pub(crate) fn pragma(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("PRAGMA key = \"{}\";", self.sql_literal().as_str()))
    }

    /// The key as SQLCipher's raw-key literal `x'..'`, for `PRAGMA key` and `ATTACH .. KEY`.
    pub(crate) fn sql_literal(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("x'{}'", hex(&self.bytes[..]).as_str()))
    }

    /// Serialised form kept in the keychain: `id:hexkey`.
    pub fn encode(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{}:{}", self.id, hex(&self.bytes[..]).as_str()))
    }

    /// Parses the keychain form written by [`DbKey::encode`].
    pub fn decode(secret: &[u8]) -> Result<Self> {
        let bad = || Error::Keychain("the stored database key is malformed".into());
        let text = std::str::from_utf8(secret).map_err(|_| bad())?;
        let (id, key_hex) = text.split_once(':').ok_or_else(bad)?;
        if key_hex.len() != KEY_LEN * 2 || id.is_empty() {
            return Err(bad());
        }
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        for (i, out) in bytes.iter_mut().enumerate() {
            *out = u8::from_str_radix(key_hex.get(2 * i..2 * i + 2).ok_or_else(bad)?, 16)
                .map_err(|_| bad())?;
        }
        Ok(DbKey {
            id: id.to_string(),
            bytes,
        })
    }
}

fn hex(bytes: &[u8]) -> Zeroizing<String> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    Zeroizing::new(s)
}

/// Where the database key lives. The production implementation is [`Keychain`].
///
/// Key rotation stages the new key in a second slot before the database is re-encrypted,
/// so a crash at any point leaves a key that opens the file (see `Till::rotate_key`).
pub trait KeyVault: Send + Sync {
    /// The stored key, or `None` if the vault has no entry.
    fn load(&self) -> Result<Option<DbKey>>;
    /// Stores (or replaces) the key.
    fn save(&self, key: &DbKey) -> Result<()>;
    /// The key staged by an unfinished rotation, if any.
    fn load_next(&self) -> Result<Option<DbKey>> {
        Ok(None)
    }
    /// Stages the key a rotation is about to re-encrypt with.
    fn save_next(&self, _key: &DbKey) -> Result<()> {
        Err(Error::Keychain("this key vault cannot rotate keys".into()))
    }
    /// Forgets the staged key.
    fn clear_next(&self) -> Result<()> {
        Ok(())
    }
    /// Where this vault keeps the register's receipt-number reservations, beside the key
    /// (see `store::receipts`); `None`: nowhere, and only the database and the server
    /// keep receipt numbers from restarting.
    fn receipt_book(&self) -> Option<Arc<dyn ReceiptBook>> {
        None
    }
}

/// The OS keychain through keyring-core's default credential store.
pub struct Keychain {
    service: String,
    account: String,
}

impl Keychain {
    /// A keychain entry for `service`/`account`; installs the platform store if none is set.
    pub fn new(service: &str, account: &str) -> Result<Self> {
        install_platform_store()?;
        Ok(Keychain {
            service: service.into(),
            account: account.into(),
        })
    }

    fn entry(&self, slot: &str) -> Result<keyring_core::Entry> {
        platform_entry(&self.service, &format!("{}{slot}", self.account)).map_err(keychain_err)
    }

    fn load_slot(&self, slot: &str) -> Result<Option<DbKey>> {
        match self.entry(slot)?.get_secret() {
            Ok(secret) => {
                let secret = Zeroizing::new(secret);
                let key = DbKey::decode(&secret)?;
                upgrade_protection(&self.service, &format!("{}{slot}", self.account));
                Ok(Some(key))
            }
            Err(keyring_core::Error::NoEntry) => Ok(None),
            // Stored, but this device cannot unwrap it (Android: the Keystore key that
            // encrypts it did not come along in a device-to-device transfer).
            Err(
                e @ (keyring_core::Error::BadStoreFormat(_)
                | keyring_core::Error::BadDataFormat(..)),
            ) => Err(Error::KeyUnreadable(e.to_string())),
            Err(e) => Err(keychain_err(e)),
        }
    }

    fn save_slot(&self, slot: &str, key: &DbKey) -> Result<()> {
        self.entry(slot)?
            .set_secret(key.encode().as_bytes())
            .map_err(keychain_err)
    }
}

/// Keychain account suffix of the key staged by a rotation.
const NEXT_SLOT: &str = ".next";
/// Keychain account suffix of the receipt-number reservations.
const RECEIPTS_SLOT: &str = ".receipts";

/// The receipt-number reservations in the keychain entry beside the key's.
struct KeychainBook {
    service: String,
    account: String,
}

impl ReceiptBook for KeychainBook {
    fn load(&self) -> Result<Reservations> {
        let entry = platform_entry(&self.service, &self.account).map_err(keychain_err)?;
        match entry.get_secret() {
            Ok(bytes) => {
                let reservations = Reservations::decode(&bytes)?;
                upgrade_protection(&self.service, &self.account);
                Ok(reservations)
            }
            Err(keyring_core::Error::NoEntry) => Ok(Reservations::default()),
            Err(
                e @ (keyring_core::Error::BadStoreFormat(_)
                | keyring_core::Error::BadDataFormat(..)),
            ) => Err(Error::KeyUnreadable(e.to_string())),
            Err(e) => Err(keychain_err(e)),
        }
    }

    fn save(&self, reservations: &Reservations) -> Result<()> {
        platform_entry(&self.service, &self.account)
            .map_err(keychain_err)?
            .set_secret(&reservations.encode()?)
            .map_err(keychain_err)
    }
}

impl KeyVault for Keychain {
    fn load(&self) -> Result<Option<DbKey>> {
        self.load_slot("")
    }

    fn save(&self, key: &DbKey) -> Result<()> {
        self.save_slot("", key)
    }

    fn load_next(&self) -> Result<Option<DbKey>> {
        self.load_slot(NEXT_SLOT)
    }

    fn save_next(&self, key: &DbKey) -> Result<()> {
        self.save_slot(NEXT_SLOT, key)
    }

    fn clear_next(&self) -> Result<()> {
        match self.entry(NEXT_SLOT)?.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(keychain_err(e)),
        }
    }

    fn receipt_book(&self) -> Option<Arc<dyn ReceiptBook>> {
        Some(Arc::new(KeychainBook {
            service: self.service.clone(),
            account: format!("{}{RECEIPTS_SLOT}", self.account),
        }))
    }
}

/// iOS: the key is readable from the first unlock after a restart on (a background upload
/// while the phone is locked) and never leaves this device (no backup, no new phone).
/// Only the data-protection store takes that modifier; a test's in-memory store takes none.
#[cfg(target_os = "ios")]
pub(crate) fn platform_entry(
    service: &str,
    account: &str,
) -> keyring_core::Result<keyring_core::Entry> {
    if default_store_is::<apple_native_keyring_store::protected::Store>() {
        let modifiers =
            std::collections::HashMap::from([("access-policy", "AfterFirstUnlockThisDeviceOnly")]);
        keyring_core::Entry::new_with_modifiers(service, account, &modifiers)
    } else {
        keyring_core::Entry::new(service, account)
    }
}

/// iOS: an entry an earlier build created keeps the protection class it was made with (the
/// store's default `WhenUnlocked`: unreadable while a background upload runs on a locked
/// phone, and carried into backups and to a new phone). Called after the entry was read, so
/// only a readable item is touched: it is rewritten in place, once per entry and process, to
/// `AfterFirstUnlockThisDeviceOnly` (`SecItemUpdate`, which keeps the secret and, when it
/// fails, the item as it was; the failure is logged and the next launch tries again).
#[cfg(target_os = "ios")]
pub(crate) fn upgrade_protection(service: &str, account: &str) {
    use std::collections::BTreeSet;
    use std::sync::{Mutex, PoisonError};
    static DONE: Mutex<BTreeSet<(String, String)>> = Mutex::new(BTreeSet::new());
    if !default_store_is::<apple_native_keyring_store::protected::Store>() {
        return;
    }
    let first = DONE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert((service.to_owned(), account.to_owned()));
    if !first {
        return;
    }
    if let Err(status) =
        super::key_class::make_after_first_unlock_this_device_only(service, account)
    {
        // The item and its secret are as they were; only its class is old.
        tracing::warn!(
            status,
            "a keychain entry keeps its earlier protection class (AfterFirstUnlockThisDeviceOnly not set)"
        );
    }
}

/// Other platforms: the keychain item's protection is the store's own.
#[cfg(not(target_os = "ios"))]
pub(crate) fn upgrade_protection(_service: &str, _account: &str) {}

#[cfg(not(target_os = "ios"))]
pub(crate) fn platform_entry(
    service: &str,
    account: &str,
) -> keyring_core::Result<keyring_core::Entry> {
    keyring_core::Entry::new(service, account)
}

/// Whether the default credential store is an `S`.
#[cfg(any(target_os = "ios", test))]
fn default_store_is<S: 'static>() -> bool {
    keyring_core::get_default_store().is_some_and(|store| store.as_any().is::<S>())
}

pub(crate) fn keychain_err(e: keyring_core::Error) -> Error {
    // keyring-core errors describe the store, never the secret.
    Error::Keychain(e.to_string())
}

/// Makes the platform's native store the default unless the app (or a test) set one.
/// Android needs the app to have initialised the NDK context first (see bindings).
pub(crate) fn install_platform_store() -> Result<()> {
    if keyring_core::get_default_store().is_some() {
        return Ok(());
    }
    #[cfg(target_os = "macos")]
    let store = apple_native_keyring_store::keychain::Store::new();
    // iOS has only the data-protection keychain.
    #[cfg(target_os = "ios")]
    let store = apple_native_keyring_store::protected::Store::new();
    // It panics when the app has not handed over its Context (TillkitAndroid does, first):
    // a typed error instead of a panic across the FFI.
    #[cfg(target_os = "android")]
    let store =
        std::panic::catch_unwind(android_native_keyring_store::Store::new).map_err(|_| {
            Error::Keychain(
                "the Android keychain was not initialised with the app's Context".into(),
            )
        })?;
    #[cfg(target_os = "linux")]
    let store = linux_keyutils_keyring_store::Store::new();
    #[cfg(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "android",
        target_os = "linux"
    ))]
    {
        keyring_core::set_default_store(store.map_err(keychain_err)?);
        Ok(())
    }
    #[cfg(not(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "android",
        target_os = "linux"
    )))]
    Err(Error::Keychain(
        "no keychain store for this platform".into(),
    ))
}

type Slot = Option<(String, Zeroizing<[u8; KEY_LEN]>)>;

/// A vault held in memory, for tests and tools that manage the key themselves; it keeps
/// receipt reservations too, as the keychain does.
#[derive(Default)]
pub struct MemoryVault {
    keys: std::sync::Mutex<[Slot; 2]>,
    receipts: Arc<MemoryBook>,
}

impl MemoryVault {
    fn get(&self, slot: usize) -> Result<Option<DbKey>> {
        let guard = self
            .keys
            .lock()
            .map_err(|_| Error::Keychain("vault poisoned".into()))?;
        Ok(guard[slot].as_ref().map(|(id, bytes)| DbKey {
            id: id.clone(),
            bytes: bytes.clone(),
        }))
    }

    fn set(&self, slot: usize, key: Option<&DbKey>) -> Result<()> {
        let mut guard = self
            .keys
            .lock()
            .map_err(|_| Error::Keychain("vault poisoned".into()))?;
        guard[slot] = key.map(|k| (k.id.clone(), k.bytes.clone()));
        Ok(())
    }
}

impl KeyVault for MemoryVault {
    fn load(&self) -> Result<Option<DbKey>> {
        self.get(0)
    }
    fn save(&self, key: &DbKey) -> Result<()> {
        self.set(0, Some(key))
    }
    fn load_next(&self) -> Result<Option<DbKey>> {
        self.get(1)
    }
    fn save_next(&self, key: &DbKey) -> Result<()> {
        self.set(1, Some(key))
    }
    fn clear_next(&self) -> Result<()> {
        self.set(1, None)
    }
    fn receipt_book(&self) -> Option<Arc<dyn ReceiptBook>> {
        Some(self.receipts.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trips_and_debug_hides_bytes() {
        let key = DbKey::generate().unwrap();
        let decoded = DbKey::decode(key.encode().as_bytes()).unwrap();
        assert_eq!(decoded.id, key.id);
        assert_eq!(*decoded.bytes, *key.bytes);
        let debug = format!("{key:?}");
        assert!(!debug.contains(hex(&key.bytes[..]).as_str()));
    }

    #[test]
    fn the_store_check_tells_the_installed_store_apart() {
        // The only test of this binary that sets a store; the iOS modifier depends on it.
        keyring_core::set_default_store(keyring_core::mock::Store::new().unwrap());
        assert!(default_store_is::<keyring_core::mock::Store>());
        assert!(!default_store_is::<String>());
    }

    #[test]
    fn malformed_secret_is_a_typed_error() {
        for bad in [&b""[..], b"nocolon", b"id:zz", b"id:00", b"\xff\xfe"] {
            assert!(matches!(DbKey::decode(bad), Err(Error::Keychain(_))));
        }
    }
}
