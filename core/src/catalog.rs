//! The catalogue cached on the device: atomic import of snapshots and deltas, search,
//! barcode lookup. A payload that fails validation is refused whole; the old one stays.

use std::collections::HashSet;

use rusqlite::{Connection, OptionalExtension, Row, params};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::money::{self, MAX_AMOUNT};
use crate::tax::TaxSettings;

/// Whether a payload replaces the store's catalogue or amends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadKind {
    /// The whole catalogue: anything not in it is gone.
    Snapshot,
    /// Changes since the cursor the device last applied.
    Delta,
}

/// A catalogue download as the server sends it. Fields it does not know are ignored, so a
/// newer server never stops an older app (never `deny_unknown_fields` here or below).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogPayload {
    pub store_id: String,
    #[serde(default)]
    pub store_name: Option<String>,
    pub kind: PayloadKind,
    /// Opaque position to ask the next delta from.
    pub cursor: String,
    /// Tax settings; required in a snapshot, optional in a delta.
    #[serde(default)]
    pub tax: Option<TaxSettings>,
    #[serde(default)]
    pub products: Vec<ProductRecord>,
    #[serde(default)]
    pub removed_product_ids: Vec<String>,
    #[serde(default)]
    pub discounts: Vec<DiscountRule>,
    #[serde(default)]
    pub removed_discount_ids: Vec<String>,
    /// The store's offline limits. Absent from a snapshot (an older server): no limits;
    /// absent from a delta: the device keeps the ones it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline_limits: Option<crate::offline_limits::OfflineLimits>,
}

/// One product as the server describes it (unknown fields ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductRecord {
    pub id: String,
    pub sku: String,
    pub name: String,
    pub price: Decimal,
    #[serde(default)]
    pub tax_category: Option<String>,
    #[serde(default)]
    pub barcodes: Vec<String>,
    #[serde(default)]
    pub stock_tracked: bool,
    #[serde(default)]
    pub stock: Decimal,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// Whether a discount is a percentage or a fixed amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscountKind {
    Percent,
    Amount,
}

/// Whether a discount applies to one line or to the whole cart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscountScope {
    Line,
    Cart,
}

/// A discount the store allows, with its limits (unknown fields ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiscountRule {
    pub id: String,
    pub label: String,
    pub kind: DiscountKind,
    pub scope: DiscountScope,
    /// A fixed value; when absent the cashier enters one up to `max`.
    #[serde(default)]
    pub value: Option<Decimal>,
    /// Largest value a cashier may enter.
    #[serde(default)]
    pub max: Option<Decimal>,
    /// Only these may be applied without a connection.
    #[serde(default)]
    pub offline_allowed: bool,
}

/// A product as the device holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub id: String,
    pub sku: String,
    pub name: String,
    pub price: Decimal,
    pub tax_category: Option<String>,
    pub barcodes: Vec<String>,
    pub stock_tracked: bool,
    pub stock: Decimal,
    pub active: bool,
}

/// Stock is stored in thousandths so weighed goods stay exact in integer SQL.
pub(crate) fn to_milli(q: Decimal) -> Option<i64> {
    let scaled = q.checked_mul(Decimal::from(1000))?;
    if scaled.fract() != Decimal::ZERO {
        return None;
    }
    i64::try_from(scaled).ok()
}

pub(crate) fn from_milli(m: i64) -> Decimal {
    Decimal::new(m, 3).normalize()
}

/// Checks a payload against itself and the store's tax settings, before anything is written.
fn validate(p: &CatalogPayload, tax: &TaxSettings, max_text: usize) -> Result<()> {
    if p.store_id.trim().is_empty() || p.cursor.len() > max_text {
        return Err(Error::InvalidCatalog(
            "store id missing or cursor too long".into(),
        ));
    }
    check_contents(&p.products, &p.discounts, tax, max_text)
}

/// Checks products and discounts against each other and the tax settings. The server runs
/// the same checks before it serves a catalogue, so a device never receives one it refuses.
pub fn check_contents(
    products: &[ProductRecord],
    discounts: &[DiscountRule],
    tax: &TaxSettings,
    max_text: usize,
) -> Result<()> {
    let bad = |msg: String| Err(Error::InvalidCatalog(msg));
    let minor = tax.minor_units();
    let categories: HashSet<&str> = tax.categories.iter().map(|c| c.id.as_str()).collect();
    let mut ids = HashSet::new();
    let mut skus = HashSet::new();
    let mut codes = HashSet::new();
    let text_ok = |s: &str| !s.trim().is_empty() && s.chars().count() <= max_text;
    // Rate ids, labels and category ids end up in every sale: held to the sale's limits.
    for r in &tax.rates {
        if !text_ok(&r.id) || r.label.chars().count() > max_text {
            return bad(format!(
                "tax rate {:?}: id must be 1..={max_text} characters and its label at most {max_text}",
                r.id
            ));
        }
    }
    for c in &tax.categories {
        if !text_ok(&c.id) {
            return bad(format!(
                "tax category {:?}: id must be 1..={max_text} characters",
                c.id
            ));
        }
    }
    for pr in products {
        if !text_ok(&pr.id) || !text_ok(&pr.sku) || !text_ok(&pr.name) {
            return bad(format!(
                "product {:?}: id, sku and name must be 1..={max_text} characters",
                pr.id
            ));
        }
        if !ids.insert(pr.id.as_str()) {
            return bad(format!("duplicate product id {:?}", pr.id));
        }
        if !skus.insert(pr.sku.as_str()) {
            return bad(format!("duplicate sku {:?}", pr.sku));
        }
        if pr.price.is_sign_negative() || pr.price > MAX_AMOUNT {
            return bad(format!(
                "product {:?}: price {} is negative or beyond {MAX_AMOUNT}",
                pr.id, pr.price
            ));
        }
        if money::decimals(pr.price) > minor {
            return bad(format!(
                "product {:?}: price {} has more than {minor} decimals",
                pr.id, pr.price
            ));
        }
        if let Some(cat) = &pr.tax_category {
            if !categories.contains(cat.as_str()) {
                return bad(format!("product {:?}: unknown tax category {cat:?}", pr.id));
            }
        }
        if to_milli(pr.stock).is_none() || pr.stock.abs() > MAX_AMOUNT {
            return bad(format!(
                "product {:?}: stock {} must have at most 3 decimals",
                pr.id, pr.stock
            ));
        }
        for code in &pr.barcodes {
            if code.trim().is_empty() || code.len() > 64 || code.contains(char::is_whitespace) {
                return bad(format!("product {:?}: invalid barcode {code:?}", pr.id));
            }
            if !codes.insert(code.as_str()) {
                return bad(format!("duplicate barcode {code:?}"));
            }
        }
    }
    let mut discount_ids = HashSet::new();
    for d in discounts {
        if d.id.trim().is_empty() || !discount_ids.insert(d.id.as_str()) {
            return bad(format!("discount id {:?} empty or duplicated", d.id));
        }
        for v in [d.value, d.max].into_iter().flatten() {
            let in_range = match d.kind {
                DiscountKind::Percent => v >= Decimal::ZERO && v <= Decimal::ONE_HUNDRED,
                DiscountKind::Amount => {
                    v >= Decimal::ZERO && v <= MAX_AMOUNT && money::decimals(v) <= minor
                }
            };
            if !in_range {
                return bad(format!("discount {:?}: value {v} out of range", d.id));
            }
        }
        if d.value.is_none() && d.max.is_none() {
            return bad(format!("discount {:?}: needs a value or a max", d.id));
        }
    }
    Ok(())
}

/// Applies a catalogue payload in one transaction; on any error nothing changes.
pub fn import(conn: &mut Connection, p: &CatalogPayload, max_text: usize) -> Result<ImportSummary> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let existing = store_settings(&tx, &p.store_id)?;
    let tax = match (&p.tax, p.kind, existing) {
        (Some(tax), _, _) => tax.clone(),
        (None, PayloadKind::Delta, Some((_, tax, _))) => tax,
        (None, _, _) => {
            return Err(Error::InvalidCatalog(
                "tax settings are required in a snapshot or a first delta".into(),
            ));
        }
    };
    tax.validate()?;
    validate(p, &tax, max_text)?;
    if let Some(limits) = &p.offline_limits {
        limits
            .validate()
            .map_err(|e| Error::InvalidCatalog(format!("offline limits: {e}")))?;
    }

    let now = crate::time::now_ms();
    let name = p.store_name.clone().unwrap_or_else(|| p.store_id.clone());
    let settings_json = serde_json::to_string(&tax)?;
    tx.execute(
        "INSERT INTO tax_settings (store_id, settings) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        params![p.store_id, settings_json],
    )?;
    tx.execute(
        "INSERT INTO stores (store_id, name, tax_settings_id, catalog_cursor, updated_at)
         VALUES (?1, ?2, (SELECT id FROM tax_settings WHERE store_id = ?1 AND settings = ?3), ?4, ?5)
         ON CONFLICT (store_id) DO UPDATE SET name = excluded.name,
           tax_settings_id = excluded.tax_settings_id, catalog_cursor = excluded.catalog_cursor,
           updated_at = excluded.updated_at",
        params![p.store_id, name, settings_json, p.cursor, now],
    )?;
    crate::offline_limits::cache_limits(
        &tx,
        &p.store_id,
        p.offline_limits.as_ref(),
        p.kind == PayloadKind::Snapshot,
    )?;
    // Local sales the server has not acknowledged are not in its stock figures yet:
    // re-apply their movements on top of what the server sends.
    let unsynced: std::collections::HashMap<String, i64> = {
        let mut stmt = tx.prepare(
            "SELECT m.product_id, SUM(m.delta_milli) FROM stock_movements m
             JOIN outbox o ON o.sale_ref = m.sale_ref WHERE m.store_id = ?1 GROUP BY m.product_id",
        )?;
        let rows = stmt.query_map([&p.store_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    if p.kind == PayloadKind::Snapshot {
        tx.execute("DELETE FROM products WHERE store_id = ?1", [&p.store_id])?;
        tx.execute(
            "DELETE FROM stock_levels WHERE store_id = ?1",
            [&p.store_id],
        )?;
        tx.execute("DELETE FROM barcodes WHERE store_id = ?1", [&p.store_id])?;
        tx.execute("DELETE FROM discounts WHERE store_id = ?1", [&p.store_id])?;
    }
    {
        let mut del_product =
            tx.prepare("DELETE FROM products WHERE store_id = ?1 AND product_id = ?2")?;
        let mut del_codes =
            tx.prepare("DELETE FROM barcodes WHERE store_id = ?1 AND product_id = ?2")?;
        let mut del_stock =
            tx.prepare("DELETE FROM stock_levels WHERE store_id = ?1 AND product_id = ?2")?;
        for id in &p.removed_product_ids {
            del_product.execute(params![p.store_id, id])?;
            del_codes.execute(params![p.store_id, id])?;
            del_stock.execute(params![p.store_id, id])?;
        }
        let mut set_stock = tx.prepare(
            "INSERT INTO stock_levels (store_id, product_id, stock_milli) VALUES (?1, ?2, ?3)
             ON CONFLICT (store_id, product_id) DO UPDATE SET stock_milli = excluded.stock_milli",
        )?;
        let mut upsert = tx.prepare(
            "INSERT INTO products (store_id, product_id, sku, name, price, tax_category,
                                   stock_tracked, active, barcodes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (store_id, product_id) DO UPDATE SET sku = excluded.sku,
               name = excluded.name, price = excluded.price, tax_category = excluded.tax_category,
               stock_tracked = excluded.stock_tracked,
               active = excluded.active, barcodes = excluded.barcodes",
        )?;
        let mut insert_code =
            tx.prepare("INSERT INTO barcodes (store_id, barcode, product_id) VALUES (?1, ?2, ?3)")?;
        for pr in &p.products {
            let milli =
                to_milli(pr.stock).unwrap_or_default() + unsynced.get(&pr.id).copied().unwrap_or(0);
            if p.kind == PayloadKind::Delta {
                del_codes.execute(params![p.store_id, pr.id])?;
            }
            upsert
                .execute(params![
                    p.store_id,
                    pr.id,
                    pr.sku,
                    pr.name,
                    pr.price.to_string(),
                    pr.tax_category,
                    pr.stock_tracked,
                    pr.active,
                    pr.barcodes.join(" "),
                ])
                .map_err(|e| conflict(e, &format!("product {:?} (sku {:?})", pr.id, pr.sku)))?;
            set_stock.execute(params![p.store_id, pr.id, milli])?;
            for code in &pr.barcodes {
                insert_code
                    .execute(params![p.store_id, code, pr.id])
                    .map_err(|e| conflict(e, &format!("barcode {code:?}")))?;
            }
        }
        let mut del_discount =
            tx.prepare("DELETE FROM discounts WHERE store_id = ?1 AND discount_id = ?2")?;
        for id in &p.removed_discount_ids {
            del_discount.execute(params![p.store_id, id])?;
        }
        let mut put_discount = tx.prepare(
            "INSERT OR REPLACE INTO discounts (store_id, discount_id, definition) VALUES (?1, ?2, ?3)",
        )?;
        for d in &p.discounts {
            put_discount.execute(params![p.store_id, d.id, serde_json::to_string(d)?])?;
        }
    }
    // A delta may reference categories that only its new tax settings define, and a new
    // tax setting may drop a category still used by an untouched product.
    let orphan: Option<String> = {
        let cats: Vec<String> = tax.categories.iter().map(|c| c.id.clone()).collect();
        let mut stmt = tx.prepare(
            "SELECT DISTINCT tax_category FROM products WHERE store_id = ?1 AND tax_category IS NOT NULL",
        )?;
        let used = stmt.query_map([&p.store_id], |r| r.get::<_, String>(0))?;
        let mut found = None;
        for c in used {
            let c = c?;
            if !cats.contains(&c) {
                found = Some(c);
                break;
            }
        }
        found
    };
    if let Some(cat) = orphan {
        return Err(Error::InvalidCatalog(format!(
            "unknown tax category {cat:?}"
        )));
    }
    let products: i64 = tx.query_row(
        "SELECT count(*) FROM products WHERE store_id = ?1",
        [&p.store_id],
        |r| r.get(0),
    )?;
    tx.commit()?;
    tracing::info!(store = %p.store_id, kind = ?p.kind, products, "catalogue imported");
    Ok(ImportSummary {
        products: products as u64,
        cursor: p.cursor.clone(),
    })
}

/// What an import left on the device.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportSummary {
    /// Products the store now has on the device.
    pub products: u64,
    /// The cursor to ask the next delta from.
    pub cursor: String,
}

fn conflict(e: rusqlite::Error, what: &str) -> Error {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => {
            Error::InvalidCatalog(format!("{what} conflicts with an existing product"))
        }
        _ => e.into(),
    }
}

const PRODUCT_COLUMNS: &str =
    "p.product_id, p.sku, p.name, p.price, p.tax_category, p.barcodes, p.stock_tracked,
    COALESCE((SELECT s.stock_milli FROM stock_levels s
              WHERE s.store_id = p.store_id AND s.product_id = p.product_id), 0), p.active";

fn product_from_row(r: &Row<'_>) -> rusqlite::Result<Product> {
    let price: String = r.get(3)?;
    let codes: String = r.get(5)?;
    Ok(Product {
        id: r.get(0)?,
        sku: r.get(1)?,
        name: r.get(2)?,
        price: price.parse().map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, Box::new(e))
        })?,
        tax_category: r.get(4)?,
        barcodes: codes.split_whitespace().map(str::to_string).collect(),
        stock_tracked: r.get(6)?,
        stock: from_milli(r.get(7)?),
        active: r.get(8)?,
    })
}

/// The store's current tax settings (with their row id) and catalogue cursor, if a
/// catalogue was imported.
pub fn store_settings(
    conn: &Connection,
    store_id: &str,
) -> Result<Option<(i64, TaxSettings, Option<String>)>> {
    let row: Option<(i64, String, Option<String>)> = conn
        .prepare_cached(
            "SELECT t.id, t.settings, s.catalog_cursor FROM stores s
             JOIN tax_settings t ON t.id = s.tax_settings_id WHERE s.store_id = ?1",
        )?
        .query_row([store_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    match row {
        Some((id, json, cursor)) => Ok(Some((id, serde_json::from_str(&json)?, cursor))),
        None => Ok(None),
    }
}

/// One product by id (active or not).
pub fn product(conn: &Connection, store_id: &str, product_id: &str) -> Result<Option<Product>> {
    let sql = format!(
        "SELECT {PRODUCT_COLUMNS} FROM products p WHERE p.store_id = ?1 AND p.product_id = ?2"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([store_id, product_id], product_from_row)
        .optional()?)
}

/// The product a barcode belongs to (active or not).
pub fn by_barcode(conn: &Connection, store_id: &str, code: &str) -> Result<Option<Product>> {
    let sql = format!(
        "SELECT {PRODUCT_COLUMNS} FROM barcodes b JOIN products p
           ON p.store_id = b.store_id AND p.product_id = b.product_id
         WHERE b.store_id = ?1 AND b.barcode = ?2"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([store_id, code.trim()], product_from_row)
        .optional()?)
}

/// A discount rule by id.
pub fn discount(
    conn: &Connection,
    store_id: &str,
    discount_id: &str,
) -> Result<Option<DiscountRule>> {
    let json: Option<String> = conn
        .prepare_cached(
            "SELECT definition FROM discounts WHERE store_id = ?1 AND discount_id = ?2",
        )?
        .query_row([store_id, discount_id], |r| r.get(0))
        .optional()?;
    Ok(json.map(|j| serde_json::from_str(&j)).transpose()?)
}

/// Turns what a cashier typed into an FTS5 query: every word must match as a prefix.
fn fts_query(input: &str) -> Option<String> {
    let words: Vec<String> = input
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
        .filter(|w| !w.is_empty())
        .take(8)
        .map(|w| format!("\"{w}\"*"))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// Active products matching words or prefixes of the name, a SKU or a barcode.
/// An exact barcode or SKU match comes first.
pub fn search(
    conn: &Connection,
    store_id: &str,
    input: &str,
    limit: usize,
) -> Result<Vec<Product>> {
    let input = input.trim();
    let mut out = Vec::new();
    if input.is_empty() || limit == 0 {
        return Ok(out);
    }
    if let Some(p) = by_barcode(conn, store_id, input)? {
        if p.active {
            out.push(p);
        }
    }
    let exact_sku = format!(
        "SELECT {PRODUCT_COLUMNS} FROM products p WHERE p.store_id = ?1 AND p.sku = ?2 AND p.active = 1"
    );
    if let Some(p) = conn
        .prepare_cached(&exact_sku)?
        .query_row([store_id, input], product_from_row)
        .optional()?
    {
        if !out.iter().any(|q| q.id == p.id) {
            out.push(p);
        }
    }
    let Some(q) = fts_query(input) else {
        return Ok(out);
    };
    let sql = format!(
        "SELECT {PRODUCT_COLUMNS} FROM product_fts f JOIN products p ON p.id = f.rowid
         WHERE product_fts MATCH ?1 AND p.store_id = ?2 AND p.active = 1
         LIMIT ?3"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        params![q, store_id, (limit + out.len()) as i64],
        product_from_row,
    )?;
    for p in rows {
        let p = p?;
        if out.len() >= limit {
            break;
        }
        if !out.iter().any(|q| q.id == p.id) {
            out.push(p);
        }
    }
    Ok(out)
}
