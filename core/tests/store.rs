//! Promises of the encrypted store: nothing readable at rest, a wrong or missing key is a
//! typed error that keeps the file, a damaged file is kept for recovery, migrations keep sales.

mod common;

use common::*;
use rusqlite::Connection;
use tillkit_core::sale::{Payment, PaymentMethod};
use tillkit_core::store::key::{KeyVault, MemoryVault};
use tillkit_core::store::schema;
use tillkit_core::{Config, Error, Till};

fn ring_cash_sale(till: &Till, product: &str, qty: &str) -> String {
    let mut cart = till.new_cart().unwrap();
    till.add_product(&mut cart, product, d(qty)).unwrap();
    let total = cart.totals().unwrap().total;
    till.complete_sale(
        &cart,
        &[Payment {
            method: PaymentMethod::Cash,
            amount: total,
            reference: None,
        }],
    )
    .unwrap()
    .record
    .sale_id
    .to_string()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn sales_are_not_readable_in_the_database_or_its_wal() {
    let t = uk_till();
    let mut cart = t.till.new_cart().unwrap();
    t.till.add_product(&mut cart, "p-kettle", d("1")).unwrap();
    t.till.add_product(&mut cart, "p-seat", d("1")).unwrap();
    let total = cart.totals().unwrap().total;
    let sale = t
        .till
        .complete_sale(
            &cart,
            &[Payment {
                method: PaymentMethod::Card,
                amount: total,
                reference: Some("TERM-REF-99817".into()),
            }],
        )
        .unwrap();
    let db = std::fs::read(t.dir.path().join("tillkit.db")).unwrap();
    let wal = std::fs::read(t.dir.path().join("tillkit.db-wal")).unwrap();
    assert!(
        wal.len() > 4096,
        "the sale should still be in the WAL for this test to mean anything"
    );
    for needle in [
        "Zanzibar",
        "Brass Kettle",
        "123.99",
        "TERM-REF-99817",
        &sale.record.receipt_no,
        "KET-001",
        "SQLite format 3",
    ] {
        assert!(
            !contains(&db, needle),
            "{needle:?} found in plaintext in the database"
        );
        assert!(
            !contains(&wal, needle),
            "{needle:?} found in plaintext in the WAL"
        );
    }
    // And yet it is all there through the key.
    let (stored, _) = t
        .till
        .load_sale(&sale.record.sale_id.to_string())
        .unwrap()
        .unwrap();
    assert_eq!(stored, sale.record);
}

#[test]
fn wrong_key_is_a_typed_error_and_the_file_is_kept() {
    let t = uk_till();
    ring_cash_sale(&t.till, "p-bread", "2");
    drop(t.till);
    let path = t.dir.path().join("tillkit.db");
    let before = std::fs::read(&path).unwrap();
    let other = MemoryVault::default();
    other
        .save(&tillkit_core::store::key::DbKey::generate().unwrap())
        .unwrap();
    let err = Till::open_with_vault(Config::new(t.dir.path()), &other)
        .err()
        .unwrap();
    assert!(matches!(err, Error::KeyMismatch), "{err:?}");
    // Even without the key-id sidecar the wrong key is detected by SQLCipher and nothing is moved.
    std::fs::remove_file(t.dir.path().join("tillkit.keyid")).unwrap();
    let err = Till::open_with_vault(Config::new(t.dir.path()), &other)
        .err()
        .unwrap();
    assert!(matches!(err, Error::KeyMismatch), "{err:?}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the database file must be untouched"
    );
    // The right key still opens it, and the sale is there.
    let till = Till::open_with_vault(Config::new(t.dir.path()), &t.vault).unwrap();
    till.login("uk-01", "R07", "alice").unwrap();
    assert_eq!(till.queue_counts().unwrap().pending, 1);
}

#[test]
fn missing_key_is_a_typed_error_and_no_new_key_is_made() {
    let t = uk_till();
    ring_cash_sale(&t.till, "p-bread", "1");
    drop(t.till);
    let empty = MemoryVault::default();
    let err = Till::open_with_vault(Config::new(t.dir.path()), &empty)
        .err()
        .unwrap();
    assert!(matches!(err, Error::KeyMissing), "{err:?}");
    assert!(
        empty.load().unwrap().is_none(),
        "a new key would orphan the existing database"
    );
    assert!(t.dir.path().join("tillkit.db").exists());
}

#[test]
fn a_corrupt_file_is_kept_and_never_replaced_by_an_empty_store_on_the_next_open() {
    let t = open_till();
    drop(t.till);
    let path = t.dir.path().join("tillkit.db");
    // Garbage over the first page, with the right key: the file is damaged, not mis-keyed.
    let mut bytes = std::fs::read(&path).unwrap();
    for b in bytes.iter_mut().take(4096) {
        *b ^= 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();
    let _ = std::fs::remove_file(t.dir.path().join("tillkit.db-wal"));
    for _ in 0..2 {
        let err = Till::open_with_vault(Config::new(t.dir.path()), &t.vault)
            .err()
            .unwrap();
        let Error::NeedsRecovery { kept, .. } = err else {
            panic!("expected NeedsRecovery, got {err:?}")
        };
        assert_eq!(
            std::fs::read(&kept[0]).unwrap(),
            bytes,
            "the damaged file is kept as it was"
        );
        assert!(!path.exists(), "no empty store took its place");
    }
}

#[test]
fn store_uses_wal_full_sync_and_foreign_keys() {
    let t = open_till();
    tillkit_core::testing::tamper(&t.till, |c| {
        let mode: String = c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        let sync: i64 = c.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
        let fk: i64 = c.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
        let temp: i64 = c.query_row("PRAGMA temp_store", [], |r| r.get(0))?;
        let cipher: String = c.query_row("PRAGMA cipher_version", [], |r| r.get(0))?;
        assert_eq!((mode.as_str(), sync, fk, temp), ("wal", 2, 1, 2));
        assert!(!cipher.is_empty());
        Ok(())
    })
    .unwrap();
}

#[test]
fn every_old_schema_migrates_to_the_fresh_schema_keeping_unsent_sales() {
    let mut fresh = Connection::open_in_memory().unwrap();
    schema::migrate(&mut fresh).unwrap();
    assert_eq!(schema::version(&fresh).unwrap(), schema::latest_version());
    let expected = schema_of(&fresh);

    for start in 1..schema::latest_version() {
        let mut c = Connection::open_in_memory().unwrap();
        schema::migrate_to(&mut c, start).unwrap();
        assert_eq!(schema::version(&c).unwrap(), start);
        // An unsent sale as version 1 stores it (every later version must keep it).
        insert_queued_sale(&c);
        schema::migrate(&mut c).unwrap();
        assert_eq!(
            schema_of(&c),
            expected,
            "migrating from version {start} differs from a fresh schema"
        );
        let queued: String = c
            .query_row(
                "SELECT s.record FROM outbox o JOIN sales s ON s.id = o.sale_ref WHERE s.sale_id = 's1'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(queued, "{\"x\":1}");
    }
}
