//! Shared set-up for the core benchmarks: a large store on disk, built once and reused.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use rust_decimal::Decimal;
use tillkit_core::catalog::{CatalogPayload, PayloadKind, ProductRecord};
use tillkit_core::sale::{Payment, PaymentMethod};
use tillkit_core::store::key::{DbKey, KeyVault};
use tillkit_core::{Config, Error, Result, Till};

pub fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// Benchmarks keep their files under target/ so both sides of a comparison share a disk.
pub fn bench_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/bench-data")
        .join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Key kept in a file next to the benchmark data (benchmarks only).
pub struct FileVault(pub PathBuf);
impl KeyVault for FileVault {
    fn load(&self) -> Result<Option<DbKey>> {
        match std::fs::read(&self.0) {
            Ok(b) => DbKey::decode(&b).map(Some),
            Err(_) => Ok(None),
        }
    }
    fn save(&self, key: &DbKey) -> Result<()> {
        std::fs::write(&self.0, key.encode().as_bytes()).map_err(|e| Error::Keychain(e.to_string()))
    }
}

pub fn open(dir: &Path) -> Till {
    Till::open_with_vault(Config::new(dir.join("data")), &FileVault(dir.join("key"))).unwrap()
}

const WORDS: &[&str] = &[
    "organic",
    "apple",
    "banana",
    "cherry",
    "dark",
    "chocolate",
    "milk",
    "whole",
    "wheat",
    "bread",
    "sparkling",
    "water",
    "green",
    "tea",
    "coffee",
    "beans",
    "roast",
    "cheddar",
    "cheese",
    "butter",
    "salted",
    "free",
    "range",
    "eggs",
    "large",
    "small",
    "pack",
    "family",
    "size",
    "tomato",
    "sauce",
    "basil",
    "pasta",
    "penne",
    "rice",
    "basmati",
    "olive",
    "oil",
    "extra",
    "virgin",
    "yogurt",
    "greek",
    "honey",
    "almond",
    "oat",
    "drink",
    "vanilla",
    "ice",
    "cream",
    "frozen",
    "peas",
    "carrot",
    "soup",
];

/// Deterministic catalogue of `n` products (names of 3-4 words, SKU, one EAN each).
pub fn big_catalog(n: usize) -> CatalogPayload {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let products = (0..n)
        .map(|i| {
            let words: Vec<&str> = (0..3 + next() % 2)
                .map(|_| WORDS[(next() % WORDS.len() as u64) as usize])
                .collect();
            ProductRecord {
                id: format!("p{i}"),
                sku: format!("SKU-{i:06}"),
                name: format!("{} {}", words.join(" "), i),
                price: Decimal::new((next() % 5000 + 50) as i64, 2),
                tax_category: Some(if i % 3 == 0 { "reduced" } else { "standard" }.into()),
                barcodes: vec![format!("50{i:011}")],
                stock_tracked: i % 2 == 0,
                stock: Decimal::from(100),
                active: i % 50 != 0,
            }
        })
        .collect();
    serde_json::from_value::<CatalogPayload>(serde_json::json!({
        "store_id": "bench", "kind": "snapshot", "cursor": "1",
        "tax": {
            "currency": "EUR", "price_mode": "tax_inclusive", "rounding_rule": "half_up",
            "rounding_level": "line",
            "rates": [{"id": "std", "label": "VAT 21%", "percent": "21"}, {"id": "red", "label": "VAT 9%", "percent": "9"}],
            "categories": [{"id": "standard", "rate_ids": ["std"]}, {"id": "reduced", "rate_ids": ["red"]}]
        }
    }))
    .map(|mut p| {
        p.kind = PayloadKind::Snapshot;
        p.products = products;
        p
    })
    .unwrap()
}

/// Rings a 5-line sale paid in cash.
pub fn ring_five_lines(till: &Till, seed: usize, n_products: usize) {
    let (cart, payments) = five_line_cart(till, seed, n_products);
    till.complete_sale(&cart, &payments).unwrap();
}

/// A 5-line cart and its cash payment, ready to complete.
pub fn five_line_cart(
    till: &Till,
    seed: usize,
    n_products: usize,
) -> (tillkit_core::cart::Cart, Vec<Payment>) {
    let mut cart = till.new_cart().unwrap();
    for k in 0..5 {
        let mut i = (seed * 7919 + k * 104_729) % n_products;
        if i.is_multiple_of(50) {
            i += 1; // inactive ones are not sold
        }
        till.add_product(&mut cart, &format!("p{i}"), d("1"))
            .unwrap();
    }
    let total = cart.totals().unwrap().total;
    (
        cart,
        vec![Payment {
            method: PaymentMethod::Cash,
            amount: total,
            reference: None,
        }],
    )
}

/// The 100,000-product, 10,000-sale store, built on first use and then reused.
pub fn large_store() -> PathBuf {
    let dir = bench_dir("large-store");
    let marker = dir.join("ready");
    if !marker.exists() {
        let _ = std::fs::remove_dir_all(dir.join("data"));
        let _ = std::fs::remove_file(dir.join("key"));
        eprintln!("building the 100,000-product / 10,000-sale store (once)...");
        let till = open(&dir);
        till.import_catalog(&big_catalog(100_000)).unwrap();
        till.login("bench", "R01", "bench").unwrap();
        for s in 0..10_000 {
            ring_five_lines(&till, s, 100_000);
        }
        tillkit_core::testing::tamper(&till, |c| {
            Ok(c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?)
        })
        .unwrap();
        std::fs::write(&marker, b"ok").unwrap();
    }
    dir
}

/// p-th percentile (nearest rank) of samples.
pub fn pct(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
