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
        till.import_catalog_json(BASE_CATALOG)
            .expect("the base catalogue imports");
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
/// afterwards; a refused one is refused as invalid input and changes nothing. Returns
/// whether it was accepted.
pub fn catalog_import(fx: &Fixture, bytes: &[u8]) -> bool {
    let Ok(json) = std::str::from_utf8(bytes) else {
        return false;
    };
    let till = &fx.till;
    let parsed = serde_json::from_str::<CatalogPayload>(json).ok();
    let before = parsed.as_ref().map(|p| store_state(till, &p.store_id));
    match till.import_catalog_json(json) {
        Ok(summary) => {
            let p = parsed.expect("an imported payload parses");
            assert_eq!(summary.cursor, p.cursor);
            assert_eq!(
                till.catalog_cursor(&p.store_id).expect("read cursor"),
                Some(p.cursor.clone())
            );
            check_products(till, &p);
            restore(till, &p.store_id);
            true
        }
        Err(e) => {
            assert!(
                matches!(
                    e,
                    Error::InvalidCatalog(_) | Error::Tax(_) | Error::InvalidInput { .. }
                ),
                "bad catalogue input must be refused as invalid, not as {e:?}"
            );
            if let (Some(p), Some(before)) = (&parsed, before) {
                assert_eq!(
                    store_state(till, &p.store_id),
                    before,
                    "a refused catalogue changed the store ({e})"
                );
            }
            false
        }
    }
}

/// Every product of an accepted payload reads back as sent, by id, barcode and SKU, and
/// searching for its name works.
fn check_products(till: &Till, p: &CatalogPayload) {
    tillkit_core::testing::inspect(till, |c| {
        for pr in &p.products {
            let got =
                catalog::product(c, &p.store_id, &pr.id)?.expect("an imported product exists");
            assert_eq!(
                (
                    &got.sku,
                    &got.name,
                    got.price,
                    &got.tax_category,
                    &got.barcodes,
                    got.stock_tracked,
                    got.stock,
                    got.active
                ),
                (
                    &pr.sku,
                    &pr.name,
                    pr.price,
                    &pr.tax_category,
                    &pr.barcodes,
                    pr.stock_tracked,
                    pr.stock,
                    pr.active
                ),
                "product {:?} reads back differently",
                pr.id
            );
            for code in &pr.barcodes {
                let by_code =
                    catalog::by_barcode(c, &p.store_id, code)?.expect("barcode finds its product");
                assert_eq!(by_code.id, pr.id, "barcode {code:?}");
            }
            catalog::search(c, &p.store_id, &pr.name, 50)?;
            if pr.active && pr.sku.trim() == pr.sku {
                let by_sku = catalog::search(c, &p.store_id, &pr.sku, 50)?;
                assert!(
                    by_sku.iter().any(|h| h.id == pr.id),
                    "sku {:?} does not find its product",
                    pr.sku
                );
            }
        }
        Ok(())
    })
    .expect("reading back an imported catalogue");
}

/// What a refused import must leave alone: the store row and its whole catalogue.
fn store_state(till: &Till, store_id: &str) -> Vec<String> {
    const QUERIES: [&str; 5] = [
        "SELECT store_id || '|' || name || '|' || tax_settings_id || '|' || coalesce(catalog_cursor, '<none>')
         FROM stores WHERE store_id = ?1",
        "SELECT product_id || '|' || sku || '|' || name || '|' || price || '|' || coalesce(tax_category, '')
                || '|' || stock_tracked || '|' || active || '|' || barcodes
         FROM products WHERE store_id = ?1 ORDER BY product_id",
        "SELECT product_id || '|' || stock_milli FROM stock_levels WHERE store_id = ?1 ORDER BY product_id",
        "SELECT barcode || '|' || product_id FROM barcodes WHERE store_id = ?1 ORDER BY barcode",
        "SELECT discount_id || '|' || definition FROM discounts WHERE store_id = ?1 ORDER BY discount_id",
    ];
    tillkit_core::testing::inspect(till, |c| {
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
    tillkit_core::testing::tamper(till, |c| {
        for table in [
            "barcodes",
            "products",
            "discounts",
            "stores",
            "tax_settings",
        ] {
            c.execute(
                &format!("DELETE FROM {table} WHERE store_id = ?1"),
                [store_id],
            )?;
        }
        Ok(())
    })
    .expect("clearing an imported store");
    if store_id == BASE_STORE {
        till.import_catalog_json(BASE_CATALOG)
            .expect("the base catalogue imports");
    }
}

/// Bytes -> what the device decodes from the server: a batch upload response, a catalogue
/// download, an error body. Decoding never panics, and what decodes re-encodes to itself.
pub fn sync_response(bytes: &[u8]) {
    if let Ok(r) = protocol::decode_batch_response(bytes) {
        let again = serde_json::to_vec(&r).expect("a batch response encodes");
        assert_eq!(
            protocol::decode_batch_response(&again).ok().as_ref(),
            Some(&r)
        );
    }
    if let Ok(p) = serde_json::from_slice::<CatalogPayload>(bytes) {
        let again = serde_json::to_vec(&p).expect("a catalogue encodes");
        let back: CatalogPayload =
            serde_json::from_slice(&again).expect("a re-encoded catalogue decodes");
        assert_eq!(back, p);
    }
    let _ = serde_json::from_slice::<ErrorBody>(bytes);
}

/// Reads choices from fuzz bytes; past the end every choice is the first option.
struct Choices<'a>(&'a [u8]);

impl Choices<'_> {
    fn byte(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        first
    }
    fn pick<T: Copy>(&mut self, options: &[T]) -> T {
        options[usize::from(self.byte()) % options.len()]
    }
    fn flag(&mut self) -> bool {
        self.byte() & 1 == 1
    }
    fn some<T: Copy>(&mut self, options: &[T], max: u8) -> Vec<T> {
        (0..self.byte() % (max + 1))
            .map(|_| self.pick(options))
            .collect()
    }
}

/// Builds a catalogue payload from fuzz bytes out of small pools of ids, SKUs, barcodes
/// and amounts that collide with each other and with `BASE_CATALOG`, so most inputs get
/// past JSON decoding into validation and the import transaction (duplicates, barcode
/// conflicts, removals, orphaned tax categories) where a byte-level mutation rarely goes.
pub fn catalog_payload_from_bytes(bytes: &[u8]) -> String {
    use serde_json::{Value, json};
    const IDS: &[&str] = &[
        "p-kettle", "p-seat", "p-bread", "p-cheese", "p-old", "p-new", "p-x", " ",
    ];
    const SKUS: &[&str] = &[
        "KET-001", "CHS-002", "BRD-003", "CHZ-004", "OLD-005", "NEW-006", "", "a b",
    ];
    const NAMES: &[&str] = &[
        "Kettle",
        "Brass Kettle Zanzibar",
        "",
        "\"quoted\" NEAR(a b)* OR",
        "Ünïcödé 緑茶 café",
        "-_-",
    ];
    const PRICES: &[&str] = &[
        "0",
        "3.20",
        "34.99",
        "1.001",
        "-1",
        "-0",
        "1000000000000",
        "1000000000000.01",
        "1e3",
    ];
    const STOCKS: &[&str] = &[
        "0",
        "3",
        "5.5",
        "-2",
        "0.0001",
        "1000000000000",
        "1000000000000.001",
        "-0.001",
    ];
    const CATEGORIES: &[Option<&str>] = &[
        None,
        Some("standard"),
        Some("reduced"),
        Some("zero"),
        Some("nope"),
    ];
    const CODES: &[&str] = &[
        "5012345678900",
        "5012345678917",
        "2100000000001",
        "999",
        " ",
        "a b",
        "",
    ];
    const DISCOUNT_IDS: &[&str] = &["staff10", "manager", "damaged", "new", ""];
    const VALUES: &[Option<&str>] = &[
        None,
        Some("0"),
        Some("10"),
        Some("100"),
        Some("100.5"),
        Some("20.001"),
        Some("-1"),
    ];
    let long = "x".repeat(501);
    let mut c = Choices(bytes);

    let tax: Value = match c.byte() % 5 {
        0 => Value::Null,
        1 => serde_json::from_str::<Value>(BASE_CATALOG).expect("base catalogue")["tax"].clone(),
        2 => json!({"currency": "GBP", "price_mode": "tax_inclusive", "rounding_rule": "half_up",
                    "rounding_level": "line", "rates": [{"id": "vat20", "label": "VAT", "percent": "20"}],
                    "categories": [{"id": "standard", "rate_ids": ["vat20"]}]}),
        3 => json!({"currency": "CHF", "price_mode": "tax_exclusive", "rounding_rule": "half_even",
                    "rounding_level": "invoice", "rates": [], "categories": [{"id": "zero", "rate_ids": []}],
                    "cash_rounding": {"increment": c.pick(&["0.05", "0.001", "0", "-0.05"]), "rule": "half_up"}}),
        _ => json!({"currency": c.pick(&["XXX", "JPY", "KWD"]), "price_mode": "tax_inclusive",
                    "rounding_rule": "half_up", "rounding_level": "line",
                    "rates": [{"id": "r", "label": "r", "percent": c.pick(&["8", "101", "-1", "8.1234567"])}],
                    "categories": [{"id": "standard", "rate_ids": c.some(&["r", "missing"], 2)}]}),
    };
    let products: Vec<Value> = (0..c.byte() % 6)
        .map(|_| {
            json!({
                "id": c.pick(IDS), "sku": c.pick(SKUS),
                "name": if c.byte() == 255 { long.as_str() } else { c.pick(NAMES) },
                "price": c.pick(PRICES), "tax_category": c.pick(CATEGORIES),
                "barcodes": c.some(CODES, 2), "stock_tracked": c.flag(), "stock": c.pick(STOCKS),
                "active": c.flag(),
            })
        })
        .collect();
    let discounts: Vec<Value> = (0..c.byte() % 3)
        .map(|_| {
            json!({
                "id": c.pick(DISCOUNT_IDS), "label": "d", "kind": c.pick(&["percent", "amount"]),
                "scope": c.pick(&["line", "cart"]), "value": c.pick(VALUES), "max": c.pick(VALUES),
                "offline_allowed": c.flag(),
            })
        })
        .collect();
    json!({
        "store_id": c.pick(&[BASE_STORE, BASE_STORE, "ch-01", " "]),
        "kind": c.pick(&["delta", "snapshot"]),
        "cursor": if c.byte() == 255 { long.as_str() } else { c.pick(&["2", "1", ""]) },
        "tax": tax,
        "products": products,
        "removed_product_ids": c.some(IDS, 2),
        "discounts": discounts,
        "removed_discount_ids": c.some(DISCOUNT_IDS, 1),
    })
    .to_string()
}
