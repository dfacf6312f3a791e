//! What the device-side fuzz targets promise, as plain functions: the fuzz targets call them
//! with libFuzzer's inputs and `core/tests/fuzz_regressions.rs` with the committed corpus.
//! They panic only on a bug; they must use no dependency beyond the core's own.

use tillkit_core::catalog::{self, CatalogPayload};
use tillkit_core::store::key::MemoryVault;
use tillkit_core::sync::protocol::{self, ErrorBody};
use tillkit_core::{Config, Error, Till};

/// The store whose catalogue is loaded before any input, so deltas have something to amend.
pub const BASE_STORE: &str = "uk-01";

/// The catalogue loaded first and restored after every accepted input.
pub const BASE_CATALOG: &str = include_str!("../corpus/catalog_import/snapshot_uk.json");

/// A real encrypted till in a temp dir holding the base catalogue.
pub struct Fixture {
    // Dropped after `till`, so the files outlive the connections.
    pub till: Till,
    _dir: tempfile::TempDir,
}

impl Fixture {
    /// Opens a fresh till and loads `BASE_CATALOG`.
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let till = Till::open_with_vault(Config::new(dir.path()), &MemoryVault::default())
            .expect("open a fresh till");
        till.import_catalog_json(BASE_CATALOG).expect("the base catalogue imports");
        Fixture { till, _dir: dir }
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}

/// Bytes -> catalogue JSON -> `Till::import_catalog_json`, the path a downloaded or
/// app-supplied catalogue takes. An accepted payload is exactly what the store holds
/// afterwards; a refused one is refused as invalid input and changes nothing.
pub fn catalog_import(fx: &Fixture, bytes: &[u8]) {
    let Ok(json) = std::str::from_utf8(bytes) else {
        return;
    };
    let till = &fx.till;
    let parsed = serde_json::from_str::<CatalogPayload>(json).ok();
    let before = parsed.as_ref().map(|p| store_state(till, &p.store_id));
    match till.import_catalog_json(json) {
        Ok(summary) => {
            let p = parsed.expect("an imported payload parses");
            assert_eq!(summary.cursor, p.cursor);
            assert_eq!(till.catalog_cursor(&p.store_id).expect("read cursor"), Some(p.cursor.clone()));
            check_products(till, &p);
            restore(till, &p.store_id);
        }
        Err(e) => {
            assert!(
                matches!(e, Error::InvalidCatalog(_) | Error::Tax(_) | Error::InvalidInput { .. }),
                "bad catalogue input must be refused as invalid, not as {e:?}"
            );
            if let (Some(p), Some(before)) = (&parsed, before) {
                assert_eq!(store_state(till, &p.store_id), before, "a refused catalogue changed the store ({e})");
            }
        }
    }
}

/// Every product of an accepted payload reads back as sent, by id, barcode and SKU, and
/// searching for its name works.
fn check_products(till: &Till, p: &CatalogPayload) {
    till.with_reader(|c| {
        for pr in &p.products {
            let got = catalog::product(c, &p.store_id, &pr.id)?.expect("an imported product exists");
            assert_eq!(
                (&got.sku, &got.name, got.price, &got.tax_category, &got.barcodes, got.stock_tracked, got.stock, got.active),
                (&pr.sku, &pr.name, pr.price, &pr.tax_category, &pr.barcodes, pr.stock_tracked, pr.stock, pr.active),
                "product {:?} reads back differently",
                pr.id
            );
            for code in &pr.barcodes {
                let by_code = catalog::by_barcode(c, &p.store_id, code)?.expect("barcode finds its product");
                assert_eq!(by_code.id, pr.id, "barcode {code:?}");
            }
            catalog::search(c, &p.store_id, &pr.name, 50)?;
            if pr.active && pr.sku.trim() == pr.sku {
                let by_sku = catalog::search(c, &p.store_id, &pr.sku, 50)?;
                assert!(by_sku.iter().any(|h| h.id == pr.id), "sku {:?} does not find its product", pr.sku);
            }
        }
        Ok(())
    })
    .expect("reading back an imported catalogue");
}

/// What a refused import must leave alone: the store row and its whole catalogue.
fn store_state(till: &Till, store_id: &str) -> Vec<String> {
    const QUERIES: [&str; 4] = [
        "SELECT store_id || '|' || name || '|' || tax_settings_id || '|' || coalesce(catalog_cursor, '<none>')
         FROM stores WHERE store_id = ?1",
        "SELECT product_id || '|' || sku || '|' || name || '|' || price || '|' || coalesce(tax_category, '')
                || '|' || stock_tracked || '|' || stock_milli || '|' || active || '|' || barcodes
         FROM products WHERE store_id = ?1 ORDER BY product_id",
        "SELECT barcode || '|' || product_id FROM barcodes WHERE store_id = ?1 ORDER BY barcode",
        "SELECT discount_id || '|' || definition FROM discounts WHERE store_id = ?1 ORDER BY discount_id",
    ];
    till.with_reader(|c| {
        let mut out = Vec::new();
        for sql in QUERIES {
            let mut stmt = c.prepare_cached(sql)?;
            let rows = stmt.query_map([store_id], |r| r.get::<_, String>(0))?;
            for row in rows {
                out.push(row?);
            }
            out.push("--".into());
        }
        Ok(out)
    })
    .expect("reading the store's state")
}

/// Puts the till back as `Fixture::new` left it, so every input starts from the same
/// state and a crash reproduces from its input alone.
fn restore(till: &Till, store_id: &str) {
    till.with_writer(|c| {
        for table in ["barcodes", "products", "discounts", "stores", "tax_settings"] {
            c.execute(&format!("DELETE FROM {table} WHERE store_id = ?1"), [store_id])?;
        }
        Ok(())
    })
    .expect("clearing an imported store");
    if store_id == BASE_STORE {
        till.import_catalog_json(BASE_CATALOG).expect("the base catalogue imports");
    }
}

/// Bytes -> what the device decodes from the server: a batch upload response, a catalogue
/// download, an error body. Decoding never panics, and what decodes re-encodes to itself.
pub fn sync_response(bytes: &[u8]) {
    if let Ok(r) = protocol::decode_batch_response(bytes) {
        let again = serde_json::to_vec(&r).expect("a batch response encodes");
        assert_eq!(protocol::decode_batch_response(&again).as_ref(), Ok(&r));
    }
    if let Ok(p) = serde_json::from_slice::<CatalogPayload>(bytes) {
        let again = serde_json::to_vec(&p).expect("a catalogue encodes");
        let back: CatalogPayload = serde_json::from_slice(&again).expect("a re-encoded catalogue decodes");
        assert_eq!(back, p);
    }
    let _ = serde_json::from_slice::<ErrorBody>(bytes);
}
