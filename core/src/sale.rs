//! Completing a sale: payment checks, then the sale, its lines, payments, tax breakdown,
//! stock movements and outbox row written in ONE transaction. Nothing half-written, ever,
//! and never twice: the sale's id is its cart's, so completing a cart again finds its sale.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::cart::{AppliedDiscount, Cart};
use crate::catalog::to_milli;
use crate::error::{Error, Result};
use crate::journal::{self, JournalLink, ledger};
use crate::limits;
use crate::money::{self, MAX_AMOUNT};
use crate::offline_limits::{self, Tenders};
use crate::session::Session;
use crate::tax::{self, Discount, TaxPortion, TaxSettings, Totals};

/// How a payment was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    Cash,
    /// Paid on an external card terminal; its reference is recorded.
    Card,
    /// Needs the server: refused offline.
    StoreCredit,
    /// Needs the server: refused offline.
    GiftCard,
    /// Needs the server: refused offline.
    Loyalty,
}

/// A payment as the cashier entered it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    pub method: PaymentMethod,
    /// For cash, the amount tendered; change is computed.
    pub amount: Decimal,
    /// The card terminal's transaction reference (card only).
    #[serde(default)]
    pub reference: Option<String>,
}

/// One line of a completed sale, with the snapshot of name, price and tax at sale time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaleLine {
    pub line_no: u32,
    pub product_id: String,
    pub sku: String,
    pub name: String,
    pub unit_price: Decimal,
    pub quantity: Decimal,
    pub tax_category: Option<String>,
    pub discount: Option<Discount>,
    pub amount: Decimal,
    pub line_discount: Decimal,
    pub cart_discount: Decimal,
    pub net: Decimal,
    pub tax: Decimal,
    pub gross: Decimal,
    /// Whether stock is tracked (and so moved) for this product.
    pub stock_tracked: bool,
}

/// A completed sale exactly as stored and as uploaded (the sync wire format).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaleRecord {
    pub sale_id: Uuid,
    pub store_id: String,
    pub register_id: String,
    pub staff_id: String,
    pub receipt_no: String,
    pub seq: u64,
    /// Device clock at completion (Unix ms); the server keeps its own receive time too.
    pub created_at: i64,
    pub currency: String,
    pub lines: Vec<SaleLine>,
    pub cart_discount: Option<Discount>,
    pub subtotal: Decimal,
    pub discount_total: Decimal,
    pub net_total: Decimal,
    pub tax_total: Decimal,
    pub total: Decimal,
    pub taxes: Vec<TaxPortion>,
    /// Cash rounding adjustment (its own recorded line; never changes tax).
    pub cash_rounding: Decimal,
    /// What the customer owed after cash rounding.
    pub amount_due: Decimal,
    pub tendered: Decimal,
    pub change_due: Decimal,
    pub payments: Vec<Payment>,
    /// Some tracked product went below zero stock with this sale.
    pub oversold: bool,
    /// Where the sale sits in its register's journal; absent on sales made before the
    /// journal existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<JournalLink>,
}

impl SaleRecord {
    /// Recomputes this sale's totals from its lines with `settings`.
    pub fn recompute(&self, settings: &TaxSettings) -> Result<Totals> {
        let inputs: Vec<tax::LineInput> = self
            .lines
            .iter()
            .map(|l| tax::LineInput {
                unit_price: l.unit_price,
                quantity: l.quantity,
                category_id: l.tax_category.clone(),
                discount: l.discount.clone(),
            })
            .collect();
        Ok(tax::compute(
            settings,
            &inputs,
            self.cart_discount.as_ref(),
        )?)
    }

    /// True when the stored totals equal `totals` (used to check integrity and by the server).
    pub fn totals_match(&self, totals: &Totals) -> bool {
        self.subtotal == totals.subtotal
            && self.discount_total == totals.discount_total
            && self.net_total == totals.net_total
            && self.tax_total == totals.tax_total
            && self.total == totals.total
            && self.taxes == totals.breakdown
            && self.lines.len() == totals.lines.len()
            && self.lines.iter().zip(&totals.lines).all(|(a, b)| {
                a.amount == b.amount
                    && a.line_discount == b.line_discount
                    && a.cart_discount == b.cart_discount
                    && a.net == b.net
                    && a.tax == b.tax
                    && a.gross == b.gross
            })
    }
}

/// What the cashier sees after a sale completed.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletedSale {
    pub record: SaleRecord,
    /// Bytes the stored record takes (what its upload will send).
    pub stored_bytes: u64,
    /// True when an earlier call had already written this cart's sale (a retry): this call
    /// returned it as stored and wrote nothing.
    pub already_written: bool,
}

/// How the payments settle the total: what is due, tendered, rounded and given back.
struct Settlement {
    amount_due: Decimal,
    /// What the card payments paid (never more than the total).
    card: Decimal,
    tendered: Decimal,
    cash_rounding: Decimal,
    change_due: Decimal,
}

/// Validates payments against the total: card never over-pays, cash may (change is given),
/// only the cash part is cash-rounded, and server-backed tenders are refused offline.
fn settle(settings: &TaxSettings, total: Decimal, payments: &[Payment]) -> Result<Settlement> {
    let minor = settings.minor_units();
    if payments.len() > limits::MAX_PAYMENTS_PER_SALE {
        return Err(Error::invalid(format!(
            "a sale takes at most {} payments",
            limits::MAX_PAYMENTS_PER_SALE
        )));
    }
    let mut card = Decimal::ZERO;
    let mut cash = Decimal::ZERO;
    for p in payments {
        if p.amount <= Decimal::ZERO || p.amount > MAX_AMOUNT || money::decimals(p.amount) > minor {
            return Err(Error::invalid(format!(
                "payment amount {} must be positive, at most {MAX_AMOUNT}, with at most {minor} decimals",
                p.amount
            )));
        }
        match p.method {
            PaymentMethod::Cash => {
                if p.reference.is_some() {
                    return Err(Error::invalid("a cash payment has no reference"));
                }
                cash += p.amount;
            }
            PaymentMethod::Card => {
                let ok = p.reference.as_deref().is_some_and(|r| {
                    !r.trim().is_empty() && r.chars().count() <= limits::MAX_REFERENCE_CHARS
                });
                if !ok {
                    return Err(Error::invalid(format!(
                        "a card payment needs the terminal's reference (1 to {} characters)",
                        limits::MAX_REFERENCE_CHARS
                    )));
                }
                card += p.amount;
            }
            PaymentMethod::StoreCredit | PaymentMethod::GiftCard | PaymentMethod::Loyalty => {
                return Err(Error::NeedsConnection {
                    what: format!("{:?} payment", p.method),
                });
            }
        }
    }
    // Every figure of the sale is bounded, what was handed over too (and so the change).
    if card + cash > MAX_AMOUNT {
        return Err(Error::invalid(format!(
            "payments of {} exceed the maximum of {MAX_AMOUNT}",
            card + cash
        )));
    }
    if card > total {
        return Err(Error::invalid(format!(
            "card payments {card} exceed the total {total}"
        )));
    }
    let cash_part = total - card;
    let due = if cash > Decimal::ZERO || cash_part > Decimal::ZERO {
        tax::cash_due(settings, cash_part)
    } else {
        tax::CashDue {
            due: Decimal::ZERO,
            rounding: Decimal::ZERO,
        }
    };
    // A card pays the exact total; only a remainder paid in cash is rounded.
    let (cash_due, rounding) = if cash > Decimal::ZERO || card == Decimal::ZERO {
        (due.due, due.rounding)
    } else {
        (cash_part, Decimal::ZERO)
    };
    if cash < cash_due {
        return Err(Error::Underpaid {
            due: card + cash_due,
            paid: card + cash,
        });
    }
    Ok(Settlement {
        amount_due: card + cash_due,
        card,
        tendered: card + cash,
        cash_rounding: rounding,
        change_due: cash - cash_due,
    })
}

/// Why `cart` paid with `payments` is not the sale `record` it already wrote, if it is not.
fn differs(record: &SaleRecord, cart: &Cart, payments: &[Payment]) -> Option<&'static str> {
    if record.store_id != cart.store_id {
        return Some("it was sold in another store");
    }
    let same_lines = record.lines.len() == cart.lines.len()
        && record.lines.iter().zip(&cart.lines).all(|(s, c)| {
            s.product_id == c.product_id
                && s.unit_price == c.unit_price
                && s.quantity == c.quantity
                && s.discount.as_ref() == c.discount.as_ref().map(|d| &d.discount)
        });
    if !same_lines
        || record.cart_discount.as_ref() != cart.cart_discount.as_ref().map(|d| &d.discount)
    {
        return Some("its cart now holds other lines or discounts");
    }
    if record.payments != payments {
        return Some("it was paid with other payments");
    }
    None
}

/// The sale `cart` was already completed as, if it was: returned as stored when it is the
/// same cart paid with the same `payments`, otherwise `SaleAlreadyCompleted`.
fn already_written(
    conn: &Connection,
    cart: &Cart,
    payments: &[Payment],
) -> Result<Option<CompletedSale>> {
    let sale_id = cart.sale_id.to_string();
    let row: Option<(String, Option<String>, String)> = conn
        .prepare_cached("SELECT record, refund_of, receipt_no FROM sales WHERE sale_id = ?1")?
        .query_row([&sale_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((text, refund_of, receipt_no)) = row else {
        return Ok(None);
    };
    let refused = |reason: &str| Error::SaleAlreadyCompleted {
        sale_id: sale_id.clone(),
        receipt_no: receipt_no.clone(),
        reason: reason.into(),
    };
    if refund_of.is_some() {
        return Err(refused("that id is a refund's"));
    }
    let record: SaleRecord = serde_json::from_str(&text)?;
    if let Some(reason) = differs(&record, cart, payments) {
        return Err(refused(reason));
    }
    Ok(Some(CompletedSale {
        stored_bytes: text.len() as u64,
        record,
        already_written: true,
    }))
}

/// Validates and writes a sale in one transaction; returns it only once committed.
/// A cart whose sale is already written (a retry of a call whose answer was lost) gets that
/// sale back as stored, with `already_written`, and nothing is written; asked with other
/// payments or other lines, `SaleAlreadyCompleted`. Either way the cart no longer changes.
/// `offline` (the register is out of contact with the server) records the attempt for the
/// outage success-rate metric, in the same commit, and makes it an offline sale for the
/// store's offline limits (`offline_limits`), which may refuse it before anything is written.
pub fn complete(
    conn: &mut Connection,
    session: &Session,
    cart: &Cart,
    payments: &[Payment],
    offline: bool,
) -> Result<CompletedSale> {
    if cart.store_id != session.store_id {
        return Err(Error::invalid(
            "this cart belongs to another store's session",
        ));
    }
    // Before any check that may have changed since (offline limits, the catalogue): the
    // retry of a written sale returns it. The caller holds the only writer, so no other
    // call can write this sale between this read and the insert below.
    if let Some(done) = already_written(conn, cart, payments)? {
        cart.mark_written(&done.record.receipt_no);
        tracing::info!(receipt = %done.record.receipt_no, "sale already completed: returned as stored");
        return Ok(done);
    }
    if cart.lines.is_empty() {
        return Err(Error::EmptyCart);
    }
    let totals = cart.totals()?;
    let settlement = settle(&cart.tax, totals.total, payments)?;
    let sale_id = cart.sale_id;
    let created_at = crate::time::now_ms();
    let span = tracing::info_span!("complete_sale", sale = %sale_id, lines = cart.lines.len());
    let _enter = span.enter();

    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let tenders = Tenders {
        card: settlement.card,
        cash: settlement.amount_due - settlement.card,
    };
    let now = offline_limits::Reading::now();
    // Refused here, the transaction rolls back having written nothing.
    let window = offline_limits::admit(&tx, &session.store_id, tenders, !offline, now)?;
    let claim = ledger::claim(&tx, &session.store_id, &session.register_id)?;
    let seq = claim.seq;

    let mut lines = Vec::with_capacity(cart.lines.len());
    // Stock may go negative: overselling is allowed offline and flagged on the sale.
    let mut oversold = false;
    {
        let mut stock = tx.prepare_cached(
            "UPDATE stock_levels SET stock_milli = stock_milli - ?3
             WHERE store_id = ?1 AND product_id = ?2 RETURNING stock_milli",
        )?;
        for (i, (line, t)) in cart.lines.iter().zip(&totals.lines).enumerate() {
            if line.stock_tracked {
                let milli = to_milli(line.quantity)
                    .ok_or_else(|| Error::invalid("quantity has more than 3 decimals"))?;
                let left: Option<i64> = stock
                    .query_row(params![session.store_id, line.product_id, milli], |r| {
                        r.get(0)
                    })
                    .optional()?;
                oversold |= left.is_some_and(|l| l < 0);
            }
            lines.push(SaleLine {
                line_no: i as u32 + 1,
                product_id: line.product_id.clone(),
                sku: line.sku.clone(),
                name: line.name.clone(),
                unit_price: line.unit_price,
                quantity: line.quantity,
                tax_category: line.tax_category.clone(),
                discount: line
                    .discount
                    .as_ref()
                    .map(|d: &AppliedDiscount| d.discount.clone()),
                amount: t.amount,
                line_discount: t.line_discount,
                cart_discount: t.cart_discount,
                net: t.net,
                tax: t.tax,
                gross: t.gross,
                stock_tracked: line.stock_tracked,
            });
        }
    }
    let record = SaleRecord {
        sale_id,
        store_id: session.store_id.clone(),
        register_id: session.register_id.clone(),
        staff_id: session.staff_id.clone(),
        receipt_no: receipt_no(&session.register_id, seq),
        seq,
        created_at,
        currency: cart.tax.currency.clone(),
        lines,
        cart_discount: cart.cart_discount.as_ref().map(|d| d.discount.clone()),
        subtotal: totals.subtotal,
        discount_total: totals.discount_total,
        net_total: totals.net_total,
        tax_total: totals.tax_total,
        total: totals.total,
        taxes: totals.breakdown.clone(),
        cash_rounding: settlement.cash_rounding,
        amount_due: settlement.amount_due,
        tendered: settlement.tendered,
        change_due: settlement.change_due,
        payments: payments.to_vec(),
        oversold,
        journal: Some(claim.link),
    };
    // Serialized once: the text stored and uploaded is the text hashed.
    let text = serde_json::to_string(&record)?;
    let hash = journal::text_hash(text.as_bytes()).map_err(|e| Error::Storage(e.to_string()))?;
    ledger::advance(&tx, &session.store_id, &session.register_id, seq, &hash)?;
    let stored_bytes = write_record(&tx, &record, text, cart.tax_settings_id)?;
    if let Some(window) = &window {
        offline_limits::record(&tx, window)?;
    }
    if offline {
        crate::metrics::record_attempt(&tx, &session.store_id, true)?;
    }
    tx.commit()?;
    cart.mark_written(&record.receipt_no);
    tracing::info!(receipt = %record.receipt_no, oversold, "sale completed");
    Ok(CompletedSale {
        record,
        stored_bytes,
        already_written: false,
    })
}

/// The receipt number of a register's record `seq` (sales and refunds share the numbering).
pub fn receipt_no(register_id: &str, seq: u64) -> String {
    format!("{register_id}-{seq:06}")
}

/// Inserts the sale, its stock movements and its queue row (inside the sale's transaction);
/// returns the size of the stored record.
fn write_record(
    tx: &rusqlite::Transaction<'_>,
    r: &SaleRecord,
    record: String,
    tax_settings_id: i64,
) -> Result<u64> {
    let record_len = record.len();
    if record_len > limits::MAX_SALE_BYTES {
        // One sale alone must fit a request the server accepts; nothing is written.
        return Err(Error::invalid(format!(
            "the sale takes {record_len} bytes; at most {} fit one upload",
            limits::MAX_SALE_BYTES
        )));
    }
    let sale_ref: i64 = tx
        .prepare_cached(
            "INSERT INTO sales (sale_id, store_id, register_id, receipt_no, seq, created_at, currency,
               total, oversold, tax_settings_id, record)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING id",
        )?
        .query_row(
            params![
                r.sale_id.to_string(),
                r.store_id,
                r.register_id,
                r.receipt_no,
                r.seq as i64,
                r.created_at,
                r.currency,
                r.total.to_string(),
                r.oversold,
                tax_settings_id,
                record,
            ],
            |row| row.get(0),
        )?;
    let mut move_stmt = tx.prepare_cached(
        "INSERT INTO stock_movements (sale_ref, store_id, product_id, delta_milli, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for l in r.lines.iter().filter(|l| l.stock_tracked) {
        let milli = to_milli(l.quantity)
            .ok_or_else(|| Error::invalid("quantity has more than 3 decimals"))?;
        move_stmt.execute(params![
            sale_ref,
            r.store_id,
            l.product_id,
            -milli,
            r.created_at
        ])?;
    }
    crate::outbox::enqueue(tx, sale_ref, &r.store_id, r.created_at, record_len)?;
    Ok(record_len as u64)
}

/// Reads a stored sale back, with the tax settings its totals were computed with;
/// `None` if no such sale exists (a refund is not a sale: `refund::load`).
pub fn load(conn: &Connection, sale_id: &str) -> Result<Option<(SaleRecord, TaxSettings)>> {
    let row: Option<(String, String)> = conn
        .prepare_cached(
            "SELECT s.record, t.settings FROM sales s JOIN tax_settings t ON t.id = s.tax_settings_id
             WHERE s.sale_id = ?1 AND s.refund_of IS NULL",
        )?
        .query_row([sale_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match row {
        Some((record, settings)) => Ok(Some((
            serde_json::from_str(&record)?,
            serde_json::from_str(&settings)?,
        ))),
        None => Ok(None),
    }
}
