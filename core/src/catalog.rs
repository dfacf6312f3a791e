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

/// Checks a payload's own fields (not its products, which are checked as they are written).
fn validate_head(p: &CatalogPayload, max_text: usize) -> Result<()> {
    if p.store_id.trim().is_empty() || p.cursor.len() > max_text {
        return Err(Error::InvalidCatalog(
            "store id missing or cursor too long".into(),
        ));
    }
    Ok(())
}

/// Checks products and discounts against each other and the tax settings. The server runs
/// the same checks before it serves a catalogue, so a device never receives one it refuses.
pub fn check_contents(
    products: &[ProductRecord],
    discounts: &[DiscountRule],
    tax: &TaxSettings,
    max_text: usize,
) -> Result<()> {
    let mut contents = Contents::new(tax, max_text)?;
    products.iter().try_for_each(|pr| contents.product(pr))?;
    contents.discounts(discounts)
}

fn bad<T>(msg: String) -> Result<T> {
    Err(Error::InvalidCatalog(msg))
}

/// The checks of one payload's contents, one product at a time (duplicates across the whole
/// payload included), so a catalogue can be checked as it is read, without holding it.
struct Contents<'t> {
    minor: u32,
    max_text: usize,
    categories: HashSet<&'t str>,
    ids: HashSet<String>,
    skus: HashSet<String>,
    codes: HashSet<String>,
}

impl<'t> Contents<'t> {
    /// Checks the tax settings' own texts, which end up in every sale.
    fn new(tax: &'t TaxSettings, max_text: usize) -> Result<Self> {
        let contents = Contents {
            minor: tax.minor_units(),
            max_text,
            categories: tax.categories.iter().map(|c| c.id.as_str()).collect(),
            ids: HashSet::new(),
            skus: HashSet::new(),
            codes: HashSet::new(),
        };
        // Rate ids, labels and category ids are held to the sale's limits.
        for r in &tax.rates {
            if !contents.text_ok(&r.id) || r.label.chars().count() > max_text {
                return bad(format!(
                    "tax rate {:?}: id must be 1..={max_text} characters and its label at most {max_text}",
                    r.id
                ));
            }
        }
        for c in &tax.categories {
            if !contents.text_ok(&c.id) {
                return bad(format!(
                    "tax category {:?}: id must be 1..={max_text} characters",
                    c.id
                ));
            }
        }
        Ok(contents)
    }

    fn text_ok(&self, s: &str) -> bool {
        !s.trim().is_empty() && s.chars().count() <= self.max_text
    }

    /// Checks one product, and that no earlier one shares its id, SKU or a barcode.
    fn product(&mut self, pr: &ProductRecord) -> Result<()> {
        let (max_text, minor) = (self.max_text, self.minor);
        if !self.text_ok(&pr.id) || !self.text_ok(&pr.sku) || !self.text_ok(&pr.name) {
            return bad(format!(
                "product {:?}: id, sku and name must be 1..={max_text} characters",
                pr.id
            ));
        }
        if !self.ids.insert(pr.id.clone()) {
            return bad(format!("duplicate product id {:?}", pr.id));
        }
        if !self.skus.insert(pr.sku.clone()) {
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
        if let Some(cat) = &pr.tax_category
            && !self.categories.contains(cat.as_str())
        {
            return bad(format!("product {:?}: unknown tax category {cat:?}", pr.id));
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
            if !self.codes.insert(code.clone()) {
                return bad(format!("duplicate barcode {code:?}"));
            }
        }
        Ok(())
    }

    fn discounts(&self, discounts: &[DiscountRule]) -> Result<()> {
        let minor = self.minor;
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
}

/// Applies a catalogue payload in one transaction; on any error nothing changes.
pub fn import(conn: &mut Connection, p: &CatalogPayload, max_text: usize) -> Result<ImportSummary> {
    import_with(conn, p, max_text, |each| {
        p.products.iter().try_for_each(each)
    })
}

/// A catalogue payload given as JSON, its fields but the products decoded (`head`); the
/// products stay in the JSON until the import reads them, one at a time.
pub struct CatalogJson<'a> {
    head: CatalogPayload,
    json: &'a [u8],
}

impl<'a> CatalogJson<'a> {
    /// Decodes everything but the products, which are skipped (their syntax checked).
    pub fn parse(json: &'a [u8]) -> serde_json::Result<Self> {
        let head = serde_json::from_slice::<stream::Head>(json)?.into();
        Ok(CatalogJson { head, json })
    }

    /// The payload without its products (`products` is empty).
    pub fn head(&self) -> &CatalogPayload {
        &self.head
    }
}

/// Applies a catalogue given as JSON in one transaction, reading its products one at a time
/// straight from the JSON into the store, so the whole list is never held (a 100,000-product
/// snapshot would be about 35 MB of records beside its 15 MB body). `Ok(Err(_))`: a product
/// is not one (nothing changed).
pub fn import_json(
    conn: &mut Connection,
    payload: &CatalogJson<'_>,
    max_text: usize,
) -> Result<std::result::Result<ImportSummary, serde_json::Error>> {
    let mut malformed = None;
    let imported = import_with(conn, &payload.head, max_text, |each| {
        stream::each_product(payload.json, each)?.map_err(|e| {
            malformed = Some(e);
            // Stops the import (rolled back); the caller answers with `malformed`.
            Error::InvalidCatalog("malformed payload".into())
        })
    });
    match malformed {
        Some(e) => Ok(Err(e)),
        None => imported.map(Ok),
    }
}

/// The import: checks the payload's own fields and tax settings, then, in one transaction,
/// writes the store's settings and every product `products` hands over (each checked first),
/// and commits only if all of it passed.
fn import_with(
    conn: &mut Connection,
    p: &CatalogPayload,
    max_text: usize,
    products: impl FnOnce(&mut dyn FnMut(&ProductRecord) -> Result<()>) -> Result<()>,
) -> Result<ImportSummary> {
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
    validate_head(p, max_text)?;
    let mut contents = Contents::new(&tax, max_text)?;
    contents.discounts(&p.discounts)?;
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
        products(&mut |pr| {
            contents.product(pr)?;
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
            Ok(())
        })?;
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
    if let Some(p) = by_barcode(conn, store_id, input)?
        && p.active
    {
        out.push(p);
    }
    let exact_sku = format!(
        "SELECT {PRODUCT_COLUMNS} FROM products p WHERE p.store_id = ?1 AND p.sku = ?2 AND p.active = 1"
    );
    if let Some(p) = conn
        .prepare_cached(&exact_sku)?
        .query_row([store_id, input], product_from_row)
        .optional()?
        && !out.iter().any(|q| q.id == p.id)
    {
        out.push(p);
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

/// Reading a JSON catalogue without holding its product list: the payload's other fields in
/// one pass (products skipped), then the products one at a time in a second pass.
mod stream {
    use std::fmt;

    use serde::Deserialize;
    use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

    use super::{CatalogPayload, DiscountRule, PayloadKind, ProductRecord};
    use crate::error::{Error, Result};
    use crate::offline_limits::OfflineLimits;
    use crate::tax::TaxSettings;

    /// `CatalogPayload` without `products` (unknown fields, `products` among them, ignored).
    #[derive(Deserialize)]
    pub(super) struct Head {
        store_id: String,
        #[serde(default)]
        store_name: Option<String>,
        kind: PayloadKind,
        cursor: String,
        #[serde(default)]
        tax: Option<TaxSettings>,
        #[serde(default)]
        removed_product_ids: Vec<String>,
        #[serde(default)]
        discounts: Vec<DiscountRule>,
        #[serde(default)]
        removed_discount_ids: Vec<String>,
        #[serde(default)]
        offline_limits: Option<OfflineLimits>,
    }

    impl From<Head> for CatalogPayload {
        fn from(h: Head) -> Self {
            CatalogPayload {
                store_id: h.store_id,
                store_name: h.store_name,
                kind: h.kind,
                cursor: h.cursor,
                tax: h.tax,
                products: Vec::new(),
                removed_product_ids: h.removed_product_ids,
                discounts: h.discounts,
                removed_discount_ids: h.removed_discount_ids,
                offline_limits: h.offline_limits,
            }
        }
    }

    /// Hands every product of the payload `json` to `each`, in order. `Ok(Err(_))`: `json` is
    /// not a payload; `Err(_)`: what `each` answered, which stops the reading.
    pub(super) fn each_product(
        json: &[u8],
        each: &mut dyn FnMut(&ProductRecord) -> Result<()>,
    ) -> Result<std::result::Result<(), serde_json::Error>> {
        let mut stopped = None;
        let mut de = serde_json::Deserializer::from_slice(json);
        let payload = Payload(Products {
            each,
            stopped: &mut stopped,
        });
        let read = serde::Deserializer::deserialize_map(&mut de, payload).and_then(|()| de.end());
        match (stopped, read) {
            (Some(e), _) => Err(e),
            (None, read) => Ok(read),
        }
    }

    struct Products<'a, 'f> {
        each: &'a mut (dyn FnMut(&ProductRecord) -> Result<()> + 'f),
        /// The error `each` answered, if it stopped the reading.
        stopped: &'a mut Option<Error>,
    }

    /// The payload's object: `products` goes to `Products`, anything else is skipped.
    struct Payload<'a, 'f>(Products<'a, 'f>);

    impl<'de> Visitor<'de> for Payload<'_, '_> {
        type Value = ();

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a catalogue payload")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
            let mut products = Some(self.0);
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if key != "products" {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                let Some(seed) = products.take() else {
                    return Err(de::Error::duplicate_field("products"));
                };
                map.next_value_seed(seed)?;
            }
            Ok(())
        }
    }

    impl<'de> DeserializeSeed<'de> for Products<'_, '_> {
        type Value = ();

        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }

    impl<'de> Visitor<'de> for Products<'_, '_> {
        type Value = ();

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of products")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
            while let Some(product) = seq.next_element::<ProductRecord>()? {
                if let Err(e) = (self.each)(&product) {
                    *self.stopped = Some(e);
                    return Err(de::Error::custom("stopped by the import"));
                }
            }
            Ok(())
        }
    }
}
