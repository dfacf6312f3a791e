//! Security promises of the device: after a realistic day of sales nothing readable is
//! left in any file of the data directory, and the sync client refuses insecure transport.

mod common;

use common::*;
use tillkit_core::Error;
use tillkit_core::catalog::{PayloadKind, ProductRecord};
use tillkit_core::sale::{Payment, PaymentMethod};
use tillkit_core::store::key::KeyVault;
use tillkit_core::sync::{SyncConfig, SyncEngine};

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_day_of_sales_leaves_nothing_readable_in_any_file_of_the_data_directory() {
    let t = uk_till();
    // Distinctive names and prices that cannot appear by chance.
    let mut p = uk_catalog();
    p.kind = PayloadKind::Delta;
    p.cursor = "2".into();
    p.tax = None;
    p.products = (0..40)
        .map(|i| ProductRecord {
            id: format!("day-{i}"),
            sku: format!("QZX-{i:04}"),
            name: format!("Quetzalcoatl Espresso Blend {i}"),
            price: d(&format!("{}.{:02}", 700 + i, 17 + i)),
            tax_category: Some("standard".into()),
            barcodes: vec![format!("9771234{i:06}")],
            stock_tracked: true,
            stock: d("1000"),
            active: true,
        })
        .collect();
    t.till.import_catalog(&p).unwrap();
    let mut receipts = Vec::new();
    let mut card_refs = Vec::new();
    let mut totals = Vec::new();
    for s in 0..300 {
        let mut cart = t.till.new_cart().unwrap();
        for k in 0..3 {
            t.till
                .add_product(&mut cart, &format!("day-{}", (s * 7 + k * 13) % 40), d("1"))
                .unwrap();
        }
        let total = cart.totals().unwrap().total;
        let payment = if s % 2 == 0 {
            let r = format!("VISA-AUTH-{s:06}-XQ");
            card_refs.push(r.clone());
            Payment {
                method: PaymentMethod::Card,
                amount: total,
                reference: Some(r),
            }
        } else {
            Payment {
                method: PaymentMethod::Cash,
                amount: total.ceil(),
                reference: None,
            }
        };
        let sale = t.till.complete_sale(&cart, &[payment]).unwrap().record;
        receipts.push(sale.receipt_no);
        totals.push(sale.total.to_string());
    }
    let key = t.vault.load().unwrap().unwrap();
    let key_text = key.encode();
    let key_hex = key_text.split_once(':').unwrap().1.to_string();
    let key_bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&key_hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();

    let mut needles: Vec<Vec<u8>> = vec![
        b"Quetzalcoatl".to_vec(),
        b"Espresso Blend".to_vec(),
        b"QZX-00".to_vec(),
        b"9771234".to_vec(),
        b"SQLite format 3".to_vec(),
        key_hex.as_bytes().to_vec(),
        key_hex.to_uppercase().as_bytes().to_vec(),
        key_bytes,
    ];
    // Every receipt number and card reference shares these prefixes; a few whole ones too.
    needles.push(b"R07-0".to_vec());
    needles.push(b"VISA-AUTH-".to_vec());
    needles.extend(receipts.iter().step_by(50).map(|r| r.as_bytes().to_vec()));
    needles.extend(card_refs.iter().step_by(50).map(|r| r.as_bytes().to_vec()));
    needles.extend(
        totals
            .iter()
            .filter(|t| t.len() >= 6)
            .step_by(30)
            .map(|t| t.as_bytes().to_vec()),
    );

    let mut scanned = 0;
    for entry in std::fs::read_dir(t.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        scanned += bytes.len();
        for n in &needles {
            assert!(
                !contains(&bytes, n),
                "{} contains {:?} in plaintext",
                path.display(),
                String::from_utf8_lossy(n)
            );
        }
    }
    assert!(
        scanned > 100_000,
        "the scan must cover the real files ({scanned} bytes)"
    );
    assert!(
        t.dir.path().join("tillkit.db-wal").exists(),
        "the WAL is part of the scan"
    );
}

#[test]
fn the_sync_client_refuses_plain_http_to_anything_but_loopback() {
    let t = uk_till();
    let till = std::sync::Arc::new(t.till);
    let refused = |url: &str, allow: bool| {
        let mut cfg = SyncConfig::new(url, "token");
        cfg.allow_http_loopback = allow;
        SyncEngine::start(till.clone(), cfg).err()
    };
    for url in [
        "http://sync.example.com",
        "http://10.0.0.7:8787",
        "http://192.168.1.20",
        "ftp://sync.example.com",
    ] {
        assert!(
            matches!(refused(url, true), Some(Error::InvalidInput { .. })),
            "{url} must be refused"
        );
    }
    assert!(
        matches!(
            refused("http://127.0.0.1:8787", false),
            Some(Error::InvalidInput { .. })
        ),
        "loopback needs the flag"
    );
    for url in [
        "http://127.0.0.1:8787",
        "http://localhost:8787",
        "http://[::1]:8787",
    ] {
        assert!(
            refused(url, true).is_none(),
            "{url} is allowed for development"
        );
    }
    assert!(refused("https://sync.example.com", false).is_none());
    assert!(matches!(
        refused("not a url", false),
        Some(Error::InvalidInput { .. })
    ));
}
