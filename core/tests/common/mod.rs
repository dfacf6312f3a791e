//! Shared fixtures for the core's integration tests: a keyed till in a temp dir and
//! sample catalogues.
#![allow(dead_code)]

use std::str::FromStr;

use rust_decimal::Decimal;
use tillkit_core::catalog::CatalogPayload;
use tillkit_core::sale::{Payment, PaymentMethod, SaleRecord};
use tillkit_core::store::key::MemoryVault;
use tillkit_core::{Config, Till};

pub fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// On a fresh till: the UK catalogue, a session of register R07, one loaf paid exactly in cash.
pub fn sell_one_loaf(till: &Till) -> SaleRecord {
    till.import_catalog(&uk_catalog()).unwrap();
    till.login("uk-01", "R07", "alice").unwrap();
    let mut cart = till.new_cart().unwrap();
    till.add_product(&mut cart, "p-bread", d("1")).unwrap();
    till.complete_sale(
        &cart,
        &[Payment {
            method: PaymentMethod::Cash,
            amount: d("3.20"),
            reference: None,
        }],
    )
    .unwrap()
    .record
}

/// A UK store: VAT-inclusive prices at 20%, 5% and 0%, a few products, two discounts.
pub fn uk_catalog() -> CatalogPayload {
    serde_json::from_value(serde_json::json!({
        "store_id": "uk-01",
        "store_name": "Camden High St",
        "kind": "snapshot",
        "cursor": "1",
        "tax": {
            "currency": "GBP", "price_mode": "tax_inclusive", "rounding_rule": "half_up",
            "rounding_level": "line",
            "rates": [
                {"id": "vat20", "label": "VAT 20%", "percent": "20"},
                {"id": "vat5", "label": "VAT 5%", "percent": "5"},
                {"id": "vat0", "label": "VAT 0%", "percent": "0"}
            ],
            "categories": [
                {"id": "standard", "rate_ids": ["vat20"]},
                {"id": "reduced", "rate_ids": ["vat5"]},
                {"id": "zero", "rate_ids": ["vat0"]}
            ]
        },
        "products": [
            {"id": "p-kettle", "sku": "KET-001", "name": "Brass Kettle Zanzibar", "price": "34.99",
             "tax_category": "standard", "barcodes": ["5012345678900"], "stock_tracked": true, "stock": "3"},
            {"id": "p-seat", "sku": "CHS-002", "name": "Child Car Seat", "price": "89.00",
             "tax_category": "reduced", "barcodes": ["5012345678917"], "stock_tracked": true, "stock": "10"},
            {"id": "p-bread", "sku": "BRD-003", "name": "Sourdough Loaf", "price": "3.20",
             "tax_category": "zero", "barcodes": ["5012345678924"]},
            {"id": "p-cheese", "sku": "CHZ-004", "name": "Cheddar by weight", "price": "18.40",
             "tax_category": "zero", "barcodes": ["2100000000001"], "stock_tracked": true, "stock": "5.5"},
            {"id": "p-old", "sku": "OLD-005", "name": "Discontinued Mug", "price": "4.00",
             "tax_category": "standard", "active": false}
        ],
        "discounts": [
            {"id": "staff10", "label": "Staff 10%", "kind": "percent", "scope": "cart", "value": "10", "offline_allowed": true},
            {"id": "manager", "label": "Manager override", "kind": "amount", "scope": "line", "max": "20", "offline_allowed": false},
            {"id": "damaged", "label": "Damaged item", "kind": "percent", "scope": "line", "max": "50", "offline_allowed": true}
        ]
    }))
    .unwrap()
}

/// A Swiss store with cash rounding to 0.05, for cash payment tests.
pub fn ch_catalog() -> CatalogPayload {
    serde_json::from_value(serde_json::json!({
        "store_id": "ch-01",
        "kind": "snapshot",
        "cursor": "1",
        "tax": {
            "currency": "CHF", "price_mode": "tax_inclusive", "rounding_rule": "half_up",
            "rounding_level": "line",
            "rates": [{"id": "mwst", "label": "MWST 8.1%", "percent": "8.1"}],
            "categories": [{"id": "normal", "rate_ids": ["mwst"]}],
            "cash_rounding": {"increment": "0.05", "rule": "half_up"}
        },
        "products": [
            {"id": "p-choc", "sku": "CH-1", "name": "Schokolade", "price": "3.92", "tax_category": "normal"}
        ]
    }))
    .unwrap()
}

/// A till in a fresh temp dir with an in-memory key vault.
pub struct TestTill {
    pub dir: tempfile::TempDir,
    pub vault: MemoryVault,
    pub till: Till,
}

pub fn open_till() -> TestTill {
    let dir = tempfile::tempdir().unwrap();
    let vault = MemoryVault::default();
    let till = Till::open_with_vault(Config::new(dir.path()), &vault).unwrap();
    TestTill { dir, vault, till }
}

impl TestTill {
    /// Closes and reopens the till on the same files and key.
    pub fn reopen(self) -> TestTill {
        let TestTill { dir, vault, till } = self;
        drop(till);
        let till = Till::open_with_vault(Config::new(dir.path()), &vault).unwrap();
        TestTill { dir, vault, till }
    }
}

/// A till with the UK catalogue loaded and a session open.
pub fn uk_till() -> TestTill {
    let t = open_till();
    t.till.import_catalog(&uk_catalog()).unwrap();
    t.till.login("uk-01", "R07", "alice").unwrap();
    t
}

/// Writes one queued sale (record `{"x":1}`) straight into a migrated schema, for tests of
/// migrations that must keep it.
pub fn insert_queued_sale(c: &rusqlite::Connection) {
    c.execute_batch(
        "INSERT INTO tax_settings (id, store_id, settings) VALUES (1, 'st', '{}');
         INSERT INTO sales (id, sale_id, store_id, register_id, receipt_no, seq, created_at,
           currency, total, oversold, tax_settings_id, record)
         VALUES (1, 's1', 'st', 'R1', 'R1-000001', 1, 0, 'GBP', '1', 0, 1, '{\"x\":1}');
         INSERT INTO outbox (sale_ref, store_id, enqueued_at, bytes) VALUES (1, 'st', 0, 7);",
    )
    .unwrap();
}

/// The schema as SQLite describes it (type, name, SQL), to compare two databases' schemas.
pub fn schema_of(c: &rusqlite::Connection) -> Vec<(String, String, String)> {
    let mut stmt = c
        .prepare(
            "SELECT type, name, COALESCE(sql, '') FROM sqlite_master
             WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// xorshift64*: small, seeded, reproducible.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Flips `len` bytes of the file at `path` from byte `at` (XOR with `mask`): damage a page.
pub fn flip_bytes(path: &std::path::Path, at: usize, len: usize, mask: u8) {
    let mut bytes = std::fs::read(path).unwrap();
    for b in &mut bytes[at..at + len] {
        *b ^= mask;
    }
    std::fs::write(path, bytes).unwrap();
}
