//! Held copies: sales this register did not ring (another register's, or its own before a
//! fresh start), fetched from the server to refund them (`SyncEngine::refund`). A held copy
//! is kept in `held_sales`, apart from the register's own records: it is in no queue, no
//! journal chain and no upload, and takes no receipt number. A refund of it is this
//! register's own record like any other, and counts the refunds the server held when the
//! copy was fetched, from every register, beside this device's own.

use rusqlite::{OptionalExtension, params};

use crate::error::{Error, Result};
use crate::refund::{RefundRecord, SaleRef};
use crate::sync::protocol::SaleLookup;

/// A held copy as `refund::hold` reads it.
pub(crate) struct HeldCopy {
    pub sale_id: String,
    /// The `SaleRecord` JSON as the server holds it.
    pub record: String,
    /// The `TaxSettings` JSON the server decided the sale with.
    pub settings: String,
    pub tax_settings_id: i64,
    /// The sale's refunds the server held when it was fetched, from every register.
    pub refunds: Vec<RefundRecord>,
}

/// The held copy of `sale` in the store, if this device fetched one. `sale`'s form was
/// checked by the caller (a receipt number's length, a sale id's UUID form).
pub(crate) fn find(
    c: &rusqlite::Connection,
    store_id: &str,
    sale: &SaleRef,
) -> Result<Option<HeldCopy>> {
    let (column, value) = match sale {
        SaleRef::Receipt(r) => ("receipt_no", r.trim().to_string()),
        SaleRef::SaleId(id) => (
            "sale_id",
            uuid::Uuid::parse_str(id.trim())
                .map_err(|_| Error::invalid(format!("sale id {id:?} is not a UUID")))?
                .to_string(),
        ),
    };
    let row: Option<(String, String, String, i64, String)> = c
        .prepare_cached(&format!(
            "SELECT h.sale_id, h.record, t.settings, h.tax_settings_id, h.refunds
             FROM held_sales h JOIN tax_settings t ON t.id = h.tax_settings_id
             WHERE h.store_id = ?1 AND h.{column} = ?2
             ORDER BY h.fetched_at DESC LIMIT 1"
        ))?
        .query_row(params![store_id, value], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    row.map(|(sale_id, record, settings, tax_settings_id, refunds)| {
        Ok(HeldCopy {
            sale_id,
            record,
            settings,
            tax_settings_id,
            refunds: serde_json::from_str(&refunds)?,
        })
    })
    .transpose()
}

/// Keeps the server's answer as the held copy of its sale (replacing an earlier copy's
/// refunds), in one transaction. Checked first: the sale and its refunds are of `store_id`,
/// the refunds are of that sale, and the server kept the tax settings it decided the sale
/// with in the sale's currency; a sale this device holds as its own is left as it is.
pub(crate) fn keep(
    c: &mut rusqlite::Connection,
    store_id: &str,
    lookup: &SaleLookup,
) -> Result<()> {
    let sale = &lookup.sale;
    if sale.store_id != store_id {
        return Err(Error::invalid(format!(
            "the server answered with a sale of store {:?}, not of {store_id:?}",
            sale.store_id
        )));
    }
    if let Some(r) = lookup
        .refunds
        .iter()
        .find(|r| r.refund_of != sale.sale_id || r.store_id != store_id)
    {
        return Err(Error::invalid(format!(
            "the server listed refund {} as a refund of sale {}, which it is not",
            r.refund_id, sale.sale_id
        )));
    }
    let Some(settings) = &lookup.tax_settings else {
        return Err(Error::invalid(format!(
            "the server did not keep the tax settings sale {} was made with (it was stored \
             before the server kept them): refund it on the register that rang it",
            sale.receipt_no
        )));
    };
    if settings.currency != sale.currency {
        return Err(Error::invalid(format!(
            "the server's tax settings for sale {} are in {}, the sale in {}",
            sale.receipt_no, settings.currency, sale.currency
        )));
    }
    let record = serde_json::to_string(sale)?;
    let refunds = serde_json::to_string(&lookup.refunds)?;
    let settings = serde_json::to_string(settings)?;
    let tx = c.transaction()?;
    let own: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM sales WHERE sale_id = ?1)")?
        .query_row([sale.sale_id.to_string()], |r| r.get(0))?;
    if own {
        return Ok(());
    }
    tx.prepare_cached(
        "INSERT INTO tax_settings (store_id, settings) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
    )?
    .execute(params![store_id, settings])?;
    let tax_settings_id: i64 = tx
        .prepare_cached("SELECT id FROM tax_settings WHERE store_id = ?1 AND settings = ?2")?
        .query_row(params![store_id, settings], |r| r.get(0))?;
    tx.prepare_cached(
        "INSERT INTO held_sales (sale_id, store_id, receipt_no, tax_settings_id, record, refunds,
           fetched_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (sale_id) DO UPDATE SET receipt_no = excluded.receipt_no,
           tax_settings_id = excluded.tax_settings_id, record = excluded.record,
           refunds = excluded.refunds, fetched_at = excluded.fetched_at",
    )?
    .execute(params![
        sale.sale_id.to_string(),
        store_id,
        sale.receipt_no,
        tax_settings_id,
        record,
        refunds,
        crate::time::now_ms(),
    ])?;
    tx.commit()?;
    tracing::info!(receipt = %sale.receipt_no, refunds = lookup.refunds.len(), "sale fetched and held for a refund");
    Ok(())
}
