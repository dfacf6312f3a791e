//! Receipt numbers never restart: they are reserved in blocks in the keychain before a sale
//! takes one, so after a recovery, a fresh start or a reinstall that kept the keychain a
//! register continues after every number it may have issued, before the server is reached;
//! the keychain's "established" mark keeps a vanished store from coming back empty.
//! The production keychain path runs here through keyring-core's in-memory mock store.

mod common;

use std::path::Path;

use common::*;
use tillkit_core::store::key::{KeyVault, Keychain};
use tillkit_core::store::receipts::Reservations;
use tillkit_core::store::recovery;
use tillkit_core::{Config, Error, Till};

/// One in-memory keychain for the whole binary (tests run in parallel in one process).
fn use_mock_keychain() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| keyring_core::set_default_store(keyring_core::mock::Store::new().unwrap()));
}

/// A data directory whose key and reservations live in the (mock) OS keychain under an
/// account of its own.
fn keychain_config(dir: &Path, account: &str, block: u64) -> Config {
    use_mock_keychain();
    let mut config = Config::new(dir);
    config.keychain_account = format!("receipts-test-{account}");
    config.receipt_block = block;
    config
}

fn reservations(config: &Config) -> Reservations {
    Keychain::new(&config.keychain_service, &config.keychain_account)
        .unwrap()
        .receipt_book()
        .unwrap()
        .load()
        .unwrap()
}

fn selling(till: Till) -> Till {
    till.import_catalog(&uk_catalog()).unwrap();
    till.login("uk-01", "R07", "alice").unwrap();
    till
}

/// Rings `n` one-loaf sales in the open session; returns their receipt numbers.
fn ring(till: &Till, n: usize) -> Vec<u64> {
    (0..n).map(|_| loaf(till).unwrap()).collect()
}

fn loaf(till: &Till) -> tillkit_core::Result<u64> {
    let mut cart = till.new_cart()?;
    till.add_product(&mut cart, "p-bread", d("1"))?;
    let total = cart.totals()?.total;
    let payment = tillkit_core::sale::Payment {
        method: tillkit_core::sale::PaymentMethod::Cash,
        amount: total,
        reference: None,
    };
    Ok(till.complete_sale(&cart, &[payment])?.record.seq)
}

fn empty_the_directory(dir: &Path) {
    std::fs::remove_dir_all(dir).unwrap();
    std::fs::create_dir(dir).unwrap();
}

#[test]
fn receipt_numbers_are_reserved_in_the_keychain_before_a_sale_takes_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = keychain_config(dir.path(), "blocks", 10);
    let till = selling(Till::open(config.clone()).unwrap());
    assert!(
        reservations(&config).established,
        "marked once the store is ready"
    );
    let mut through = Vec::new();
    for _ in 0..25 {
        let seq = ring(&till, 1)[0];
        let reserved = reservations(&config).through("uk-01", "R07");
        assert!(reserved >= seq, "sale {seq} was reserved ({reserved})");
        // A block of 10, the next one reserved when half is used: never far ahead.
        assert!(reserved < seq + 10, "sale {seq}: {reserved}");
        through.push(reserved);
    }
    through.dedup();
    assert_eq!(
        through,
        [10, 15, 20, 25, 30],
        "one keychain write per half block"
    );
    // A store that was here all along keeps its own gapless counter.
    drop(till);
    let till = selling(Till::open(config.clone()).unwrap());
    assert_eq!(ring(&till, 1), [26]);
}

#[test]
fn a_reinstall_that_kept_the_keychain_is_refused_then_continues_after_every_reserved_number() {
    let dir = tempfile::tempdir().unwrap();
    let config = keychain_config(dir.path(), "reinstall", 100);
    let till = selling(Till::open(config.clone()).unwrap());
    assert_eq!(ring(&till, 5), [1, 2, 3, 4, 5]);
    drop(till);
    // The app is deleted and installed again: its files are gone, sidecar and all; the
    // keychain (iOS keeps it) still holds the key and the reservations.
    empty_the_directory(dir.path());
    for _ in 0..2 {
        match Till::open(config.clone()).err() {
            Some(Error::NeedsRecovery { reason, .. }) => {
                assert!(reason.contains("keychain"), "{reason}")
            }
            other => panic!("a vanished store must not come back empty: {other:?}"),
        }
    }
    let report = Till::recover(&config).unwrap();
    assert_eq!(report.sales_recovered, 0);
    let till = selling(Till::open(config.clone()).unwrap());
    assert!(till.needs_seq_floor().unwrap(), "the server is still asked");
    assert_eq!(
        ring(&till, 2),
        [101, 102],
        "after every reserved number, offline"
    );
    // The floor is applied once: a restart before the server answers keeps counting.
    drop(till);
    let till = selling(Till::open(config.clone()).unwrap());
    assert_eq!(ring(&till, 1), [103]);
    till.raise_seq_floor("uk-01", "R07", 5).unwrap();
    assert_eq!(
        ring(&till, 1),
        [104],
        "the server's lower number changes nothing"
    );
}

#[test]
fn a_fresh_start_continues_after_the_reserved_numbers_before_the_server_answers() {
    let t = uk_till();
    let rung = ring(&t.till, 30);
    assert_eq!(rung.last(), Some(&30));
    let TestTill { dir, vault, till } = t;
    drop(till);
    let path = dir.path().join("tillkit.db");
    let mut bytes = std::fs::read(&path).unwrap();
    for b in &mut bytes[..4096] {
        *b ^= 0x5a;
    }
    std::fs::write(&path, bytes).unwrap();
    let config = Config::new(dir.path());
    assert!(matches!(
        Till::open_with_vault(config.clone(), &vault).err(),
        Some(Error::NeedsRecovery { .. })
    ));
    recovery::start_fresh(&config, &vault).unwrap();
    let till = selling(Till::open_with_vault(config.clone(), &vault).unwrap());
    assert_eq!(ring(&till, 1), [101], "never 000001 again, even offline");
}

#[test]
fn a_keychain_that_refuses_a_write_refuses_only_a_sale_past_the_reservation() {
    let dir = tempfile::tempdir().unwrap();
    let config = keychain_config(dir.path(), "refusing", 4);
    let till = selling(Till::open(config.clone()).unwrap());
    let refuse_next_write = || {
        let entry = keyring_core::Entry::new(
            &config.keychain_service,
            &format!("{}.receipts", config.keychain_account),
        )
        .unwrap();
        entry
            .as_any()
            .downcast_ref::<keyring_core::mock::Cred>()
            .expect("the mock store's credential")
            .set_error(keyring_core::Error::NoStorageAccess(Box::new(
                std::io::Error::other("the keychain is locked"),
            )));
    };
    assert_eq!(ring(&till, 2), [1, 2]);
    assert_eq!(reservations(&config).through("uk-01", "R07"), 4);
    // Numbers 3 and 4 are reserved: a failed write to reserve more does not stop them.
    refuse_next_write();
    assert_eq!(ring(&till, 1), [3]);
    refuse_next_write();
    assert_eq!(ring(&till, 1), [4]);
    // Number 5 is not: that sale is refused, typed, with nothing written.
    refuse_next_write();
    let err = loaf(&till).err();
    assert!(matches!(err, Some(Error::Keychain(_))), "{err:?}");
    assert_eq!(till.queue_counts().unwrap().pending, 4);
    assert_eq!(ring(&till, 1), [5], "once the keychain answers again");
    assert_eq!(reservations(&config).through("uk-01", "R07"), 8);
}

#[test]
fn a_vault_keeps_reservations_per_register_and_never_lowers_them() {
    let t = uk_till();
    ring(&t.till, 3);
    t.till.login("uk-01", "R08", "bob").unwrap();
    ring(&t.till, 1);
    let book = t.vault.receipt_book().unwrap();
    let r = book.load().unwrap();
    assert_eq!(
        (r.through("uk-01", "R07"), r.through("uk-01", "R08")),
        (100, 100)
    );
    assert_eq!(r.through("uk-02", "R07"), 0);
    // A counter raised by the server is reserved past before the next sale takes a number.
    t.till.raise_seq_floor("uk-01", "R08", 500).unwrap();
    assert_eq!(ring(&t.till, 1), [501]);
    assert_eq!(book.load().unwrap().through("uk-01", "R08"), 600);
    assert_eq!(book.load().unwrap().through("uk-01", "R07"), 100);
}

/// The keychain entry of the reservations (mock store).
fn book_entry(config: &Config) -> keyring_core::Entry {
    keyring_core::Entry::new(
        &config.keychain_service,
        &format!("{}.receipts", config.keychain_account),
    )
    .unwrap()
}

#[test]
fn an_unreadable_receipt_book_never_locks_the_register_and_numbers_skip_ahead() {
    let dir = tempfile::tempdir().unwrap();
    let config = keychain_config(dir.path(), "unreadable", 10);
    let till = selling(Till::open(config.clone()).unwrap());
    assert_eq!(ring(&till, 3), [1, 2, 3]);
    assert!(till.receipt_book_note().is_none());
    drop(till);
    let mut last = 3;
    let too_high = format!(
        r#"{{"established":true,"registers":[{{"store_id":"uk-01","register_id":"R07","through":{}}}]}}"#,
        u64::MAX
    );
    for bad in [b"not json".to_vec(), too_high.into_bytes()] {
        book_entry(&config).set_secret(&bad).unwrap();
        let till = selling(Till::open(config.clone()).expect("opens over an unreadable book"));
        assert!(till.receipt_book_note().is_some(), "the app is told");
        assert!(till.needs_seq_floor().unwrap(), "the server is asked");
        // Unknown reservations: two blocks of 10 skipped, never a number reused.
        assert_eq!(ring(&till, 1), [last + 20 + 1]);
        last += 21;
        assert!(
            reservations(&config).established,
            "the book is written again"
        );
        assert!(reservations(&config).through("uk-01", "R07") >= last);
    }
    // The keychain cannot unwrap the entry (Android: BadDataFormat).
    book_entry(&config)
        .as_any()
        .downcast_ref::<keyring_core::mock::Cred>()
        .unwrap()
        .set_error(keyring_core::Error::BadDataFormat(
            vec![1, 2, 3],
            Box::new(std::io::Error::other("MAC check failed")),
        ));
    let till = selling(Till::open(config.clone()).expect("opens over an unwrappable book"));
    assert_eq!(ring(&till, 1), [last + 21]);
}

#[test]
fn a_person_confirmed_reset_of_the_receipt_book_skips_ahead_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = keychain_config(dir.path(), "reset", 10);
    let till = selling(Till::open(config.clone()).unwrap());
    assert_eq!(ring(&till, 2), [1, 2]);
    drop(till);
    Till::reset_receipt_book(&config).unwrap();
    assert!(reservations(&config).reset);
    let till = selling(Till::open(config.clone()).unwrap());
    assert!(till.receipt_book_note().unwrap().contains("reset"));
    assert_eq!(ring(&till, 1), [23]);
    assert!(!reservations(&config).reset, "cleared once applied");
    drop(till);
    let till = selling(Till::open(config.clone()).unwrap());
    assert!(till.receipt_book_note().is_none());
    assert_eq!(ring(&till, 1), [24], "applied once");
}

#[test]
fn a_receipt_book_reset_beside_an_open_till_is_busy_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = keychain_config(dir.path(), "reset-busy", 10);
    config.lock_wait = std::time::Duration::ZERO;
    let till = selling(Till::open(config.clone()).unwrap());
    assert_eq!(ring(&till, 2), [1, 2]);
    let before = reservations(&config);
    assert!(matches!(
        Till::reset_receipt_book(&config),
        Err(Error::Busy)
    ));
    assert_eq!(reservations(&config), before, "the book is untouched");
    assert_eq!(ring(&till, 1), [3], "the open till sells on");
    drop(till);
    Till::reset_receipt_book(&config).unwrap();
    assert!(reservations(&config).reset);
}

/// A vault whose receipt book refuses the next `fail` writes.
#[derive(Default)]
struct FlakyVault {
    keys: tillkit_core::store::key::MemoryVault,
    book: std::sync::Arc<FlakyBook>,
}

#[derive(Default)]
struct FlakyBook {
    kept: tillkit_core::store::receipts::MemoryBook,
    fail: std::sync::atomic::AtomicUsize,
}

impl tillkit_core::store::receipts::ReceiptBook for FlakyBook {
    fn load(&self) -> tillkit_core::Result<Reservations> {
        self.kept.load()
    }
    fn save(&self, r: &Reservations) -> tillkit_core::Result<()> {
        use std::sync::atomic::Ordering;
        if self
            .fail
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(Error::Keychain("the keychain is locked".into()));
        }
        self.kept.save(r)
    }
}

impl KeyVault for FlakyVault {
    fn load(&self) -> tillkit_core::Result<Option<tillkit_core::store::key::DbKey>> {
        self.keys.load()
    }
    fn save(&self, key: &tillkit_core::store::key::DbKey) -> tillkit_core::Result<()> {
        self.keys.save(key)
    }
    fn receipt_book(
        &self,
    ) -> Option<std::sync::Arc<dyn tillkit_core::store::receipts::ReceiptBook>> {
        Some(self.book.clone())
    }
}

#[test]
fn a_failed_established_write_never_blocks_the_open_and_is_written_at_the_next_sale() {
    use tillkit_core::store::receipts::ReceiptBook;
    let dir = tempfile::tempdir().unwrap();
    let vault = FlakyVault::default();
    vault
        .book
        .fail
        .store(1, std::sync::atomic::Ordering::SeqCst);
    let mut config = Config::new(dir.path());
    config.receipt_block = 10;
    let till = selling(Till::open_with_vault(config.clone(), &vault).expect("opens"));
    assert!(!vault.book.load().unwrap().established, "not kept yet");
    assert_eq!(ring(&till, 1), [1]);
    let book = vault.book.load().unwrap();
    assert!(book.established, "written with the first reservation");
    assert_eq!(book.through("uk-01", "R07"), 10);
    // Out of reserved numbers while the keychain refuses: the reserved ones are used, then
    // the sale is refused, typed, nothing written; never an unreserved (reusable) number.
    vault
        .book
        .fail
        .store(usize::MAX, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(ring(&till, 9), (2..=10).collect::<Vec<_>>());
    assert!(matches!(loaf(&till).err(), Some(Error::Keychain(_))));
    assert_eq!(till.queue_counts().unwrap().pending, 10);
    vault
        .book
        .fail
        .store(0, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(ring(&till, 1), [11]);
}

#[test]
fn no_key_no_database_and_an_established_book_start_fresh_with_a_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = keychain_config(dir.path(), "nokey", 10);
    let till = selling(Till::open(config.clone()).unwrap());
    assert_eq!(ring(&till, 3), [1, 2, 3]);
    drop(till);
    empty_the_directory(dir.path());
    keyring_core::Entry::new(&config.keychain_service, &config.keychain_account)
        .unwrap()
        .delete_credential()
        .unwrap();
    assert!(matches!(
        Till::open(config.clone()).err(),
        Some(Error::NeedsRecovery { .. })
    ));
    Till::start_fresh(&config).expect("a way out: nothing was kept to orphan");
    let till = selling(Till::open(config.clone()).unwrap());
    assert_eq!(ring(&till, 1), [11], "after every reserved number");
}

#[test]
fn a_new_store_asks_the_server_for_the_registers_highest_number() {
    let t = uk_till();
    assert!(
        t.till.needs_seq_floor().unwrap(),
        "a new store may be paired to a register that numbered before"
    );
    ring(&t.till, 2);
    t.till.raise_seq_floor("uk-01", "R07", 700).unwrap();
    assert!(!t.till.needs_seq_floor().unwrap());
    assert_eq!(ring(&t.till, 1), [701]);
}

#[test]
fn a_huge_receipt_block_is_clamped_and_never_overflows() {
    let dir = tempfile::tempdir().unwrap();
    let vault = FlakyVault::default();
    let mut config = Config::new(dir.path());
    config.receipt_block = u64::MAX;
    let till = selling(Till::open_with_vault(config, &vault).unwrap());
    assert_eq!(ring(&till, 2), [1, 2]);
    use tillkit_core::store::receipts::{MAX_BLOCK, ReceiptBook};
    assert_eq!(
        vault.book.load().unwrap().through("uk-01", "R07"),
        MAX_BLOCK
    );
}
