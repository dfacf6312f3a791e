//! Completing a sale: payment checks, then the sale, its lines, payments, tax breakdown,
//! stock movements and outbox row written in ONE transaction. Nothing half-written, ever.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::cart::{AppliedDiscount, Cart};
use crate::catalog::to_milli;
use crate::error::{Error, Result};
use crate::money::{self, MAX_AMOUNT};
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
        Ok(tax::compute(settings, &inputs, self.cart_discount.as_ref())?)
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
}

/// How the payments settle the total: what is due, tendered, rounded and given back.
struct Settlement {
    amount_due: Decimal,
    tendered: Decimal,
    cash_rounding: Decimal,
    change_due: Decimal,
}

/// Validates payments against the total: card never over-pays, cash may (change is given),
/// only the cash part is cash-rounded, and server-backed tenders are refused offline.
fn settle(settings: &TaxSettings, total: Decimal, payments: &[Payment]) -> Result<Settlement> {
    let minor = settings.minor_units();
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
                let ok = p
                    .reference
                    .as_deref()
                    .is_some_and(|r| !r.trim().is_empty() && r.chars().count() <= 128);
                if !ok {
                    return Err(Error::invalid("a card payment needs the terminal's reference (1 to 128 characters)"));
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
    if card > total {
        return Err(Error::invalid(format!("card payments {card} exceed the total {total}")));
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
        tendered: card + cash,
        cash_rounding: rounding,
        change_due: cash - cash_due,
    })
}

/// Validates and writes a sale in one transaction; returns it only once committed.
/// `offline` records the attempt for the outage success-rate metric, in the same commit.
pub fn complete(
    conn: &mut Connection,
    session: &Session,
    cart: &Cart,
    payments: &[Payment],
    offline: bool,
) -> Result<CompletedSale> {
    if cart.lines.is_empty() {
        return Err(Error::EmptyCart);
    }
    if cart.store_id != session.store_id {
        return Err(Error::invalid("this cart belongs to another store's session"));
    }
    let totals = cart.totals()?;
    let settlement = settle(&cart.tax, totals.total, payments)?;
    let sale_id = Uuid::now_v7();
    let created_at = crate::time::now_ms();
    let span = tracing::info_span!("complete_sale", sale = %sale_id, lines = cart.lines.len());
    let _enter = span.enter();

    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let seq: i64 = tx
        .prepare_cached(
            "INSERT INTO register_seq (store_id, register_id, last_seq) VALUES (?1, ?2, 1)
             ON CONFLICT (store_id, register_id) DO UPDATE SET last_seq = last_seq + 1
             RETURNING last_seq",
        )?
        .query_row(params![session.store_id, session.register_id], |r| r.get(0))?;

    let mut lines = Vec::with_capacity(cart.lines.len());
    let mut oversold = false;
    {
        let mut stock = tx.prepare_cached(
            "UPDATE products SET stock_milli = stock_milli - ?3
             WHERE store_id = ?1 AND product_id = ?2 AND stock_tracked = 1 RETURNING stock_milli",
        )?;
        for (i, (line, t)) in cart.lines.iter().zip(&totals.lines).enumerate() {
            if line.stock_tracked {
                let milli = to_milli(line.quantity).ok_or_else(|| Error::invalid("quantity has more than 3 decimals"))?;
                let left: Option<i64> = stock
                    .query_row(params![session.store_id, line.product_id, milli], |r| r.get(0))
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
                discount: line.discount.as_ref().map(|d: &AppliedDiscount| d.discount.clone()),
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
        receipt_no: format!("{}-{seq:06}", session.register_id),
        seq: seq as u64,
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
    };
    write_record(&tx, &record, &cart.tax)?;
    if offline {
        crate::metrics::record_attempt(&tx, &session.store_id, true)?;
    }
    tx.commit()?;
    tracing::info!(receipt = %record.receipt_no, oversold, "sale completed");
    Ok(CompletedSale { record })
}

/// Inserts every row of a sale (called inside the sale's transaction).
fn write_record(tx: &rusqlite::Transaction<'_>, r: &SaleRecord, settings: &TaxSettings) -> Result<()> {
    let id = r.sale_id.to_string();
    let dec = |d: Decimal| d.to_string();
    tx.prepare_cached(
        "INSERT INTO sales (sale_id, store_id, register_id, staff_id, receipt_no, seq, created_at,
           currency, subtotal, discount_total, net_total, tax_total, total, cash_rounding,
           amount_due, tendered, change_due, oversold, cart_discount, tax_settings)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
    )?
    .execute(params![
        id,
        r.store_id,
        r.register_id,
        r.staff_id,
        r.receipt_no,
        r.seq as i64,
        r.created_at,
        r.currency,
        dec(r.subtotal),
        dec(r.discount_total),
        dec(r.net_total),
        dec(r.tax_total),
        dec(r.total),
        dec(r.cash_rounding),
        dec(r.amount_due),
        dec(r.tendered),
        dec(r.change_due),
        r.oversold,
        r.cart_discount.as_ref().map(serde_json::to_string).transpose()?,
        serde_json::to_string(settings)?,
    ])?;
    let mut line_stmt = tx.prepare_cached(
        "INSERT INTO sale_lines (sale_id, line_no, product_id, sku, name, unit_price, quantity,
           tax_category, discount, amount, line_discount, cart_discount, net, tax, gross)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?;
    let mut move_stmt = tx.prepare_cached(
        "INSERT INTO stock_movements (store_id, product_id, sale_id, delta_milli, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for l in &r.lines {
        line_stmt.execute(params![
            id,
            l.line_no,
            l.product_id,
            l.sku,
            l.name,
            dec(l.unit_price),
            dec(l.quantity),
            l.tax_category,
            l.discount.as_ref().map(serde_json::to_string).transpose()?,
            dec(l.amount),
            dec(l.line_discount),
            dec(l.cart_discount),
            dec(l.net),
            dec(l.tax),
            dec(l.gross),
        ])?;
        if l.stock_tracked {
            let milli = to_milli(l.quantity).ok_or_else(|| Error::invalid("quantity has more than 3 decimals"))?;
            move_stmt.execute(params![r.store_id, l.product_id, id, -milli, r.created_at])?;
        }
    }
    let mut pay_stmt = tx.prepare_cached(
        "INSERT INTO sale_payments (sale_id, idx, method, amount, reference) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (i, p) in r.payments.iter().enumerate() {
        let method = serde_json::to_value(p.method)?;
        pay_stmt.execute(params![id, i as i64, method.as_str(), dec(p.amount), p.reference])?;
    }
    let mut tax_stmt = tx.prepare_cached(
        "INSERT INTO sale_taxes (sale_id, rate_id, label, percent, taxable_base, tax) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for t in &r.taxes {
        tax_stmt.execute(params![id, t.rate_id, t.label, dec(t.percent), dec(t.taxable_base), dec(t.tax)])?;
    }
    crate::outbox::enqueue(tx, r)?;
    Ok(())
}

fn parse_dec(s: &str) -> Result<Decimal> {
    s.parse()
        .map_err(|_| Error::Storage(format!("stored amount {s:?} is not a decimal")))
}

/// Reads a stored sale back from its tables (not from the queue), with the tax settings
/// its totals were computed with; `None` if no such sale exists.
pub fn load(conn: &Connection, sale_id: &str) -> Result<Option<(SaleRecord, TaxSettings)>> {
    type Head = (Vec<String>, i64, i64, bool, Option<String>, String);
    let head: Option<Head> = conn
        .prepare_cached(
            "SELECT store_id, register_id, staff_id, receipt_no, currency, subtotal, discount_total,
                    net_total, tax_total, total, cash_rounding, amount_due, tendered, change_due,
                    seq, created_at, oversold, cart_discount, tax_settings
             FROM sales WHERE sale_id = ?1",
        )?
        .query_row([sale_id], |r| {
            let mut texts = Vec::with_capacity(14);
            for i in 0..14 {
                texts.push(r.get::<_, String>(i)?);
            }
            Ok((texts, r.get(14)?, r.get(15)?, r.get(16)?, r.get(17)?, r.get(18)?))
        })
        .optional()?;
    let Some((t, seq, created_at, oversold, cart_discount, settings)) = head else {
        return Ok(None);
    };
    let mut lines = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT l.line_no, l.product_id, l.sku, l.name, l.unit_price, l.quantity, l.tax_category,
                l.discount, l.amount, l.line_discount, l.cart_discount, l.net, l.tax, l.gross,
                EXISTS (SELECT 1 FROM stock_movements m WHERE m.sale_id = l.sale_id AND m.product_id = l.product_id)
         FROM sale_lines l WHERE l.sale_id = ?1 ORDER BY l.line_no",
    )?;
    let mut rows = stmt.query([sale_id])?;
    while let Some(r) = rows.next()? {
        let d = |i: usize| -> Result<Decimal> { parse_dec(&r.get::<_, String>(i)?) };
        let discount: Option<String> = r.get(7)?;
        lines.push(SaleLine {
            line_no: r.get(0)?,
            product_id: r.get(1)?,
            sku: r.get(2)?,
            name: r.get(3)?,
            unit_price: d(4)?,
            quantity: d(5)?,
            tax_category: r.get(6)?,
            discount: discount.map(|j| serde_json::from_str(&j)).transpose()?,
            amount: d(8)?,
            line_discount: d(9)?,
            cart_discount: d(10)?,
            net: d(11)?,
            tax: d(12)?,
            gross: d(13)?,
            stock_tracked: r.get(14)?,
        });
    }
    let mut payments = Vec::new();
    let mut stmt =
        conn.prepare_cached("SELECT method, amount, reference FROM sale_payments WHERE sale_id = ?1 ORDER BY idx")?;
    let mut rows = stmt.query([sale_id])?;
    while let Some(r) = rows.next()? {
        payments.push(Payment {
            method: serde_json::from_value(serde_json::Value::String(r.get(0)?))?,
            amount: parse_dec(&r.get::<_, String>(1)?)?,
            reference: r.get(2)?,
        });
    }
    let mut taxes = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT rate_id, label, percent, taxable_base, tax FROM sale_taxes WHERE sale_id = ?1",
    )?;
    let mut rows = stmt.query([sale_id])?;
    while let Some(r) = rows.next()? {
        taxes.push(TaxPortion {
            rate_id: r.get(0)?,
            label: r.get(1)?,
            percent: parse_dec(&r.get::<_, String>(2)?)?,
            taxable_base: parse_dec(&r.get::<_, String>(3)?)?,
            tax: parse_dec(&r.get::<_, String>(4)?)?,
        });
    }
    let settings: TaxSettings = serde_json::from_str(&settings)?;
    // The breakdown is stored keyed by rate; put it back in the settings' rate order.
    taxes.sort_by_key(|p| settings.rates.iter().position(|r| r.id == p.rate_id));
    let record = SaleRecord {
        sale_id: sale_id
            .parse()
            .map_err(|_| Error::Storage(format!("stored sale id {sale_id:?} is not a UUID")))?,
        store_id: t[0].clone(),
        register_id: t[1].clone(),
        staff_id: t[2].clone(),
        receipt_no: t[3].clone(),
        currency: t[4].clone(),
        subtotal: parse_dec(&t[5])?,
        discount_total: parse_dec(&t[6])?,
        net_total: parse_dec(&t[7])?,
        tax_total: parse_dec(&t[8])?,
        total: parse_dec(&t[9])?,
        cash_rounding: parse_dec(&t[10])?,
        amount_due: parse_dec(&t[11])?,
        tendered: parse_dec(&t[12])?,
        change_due: parse_dec(&t[13])?,
        seq: seq as u64,
        created_at,
        oversold,
        cart_discount: cart_discount.map(|j| serde_json::from_str(&j)).transpose()?,
        lines,
        taxes,
        payments,
    };
    Ok(Some((record, settings)))
}
