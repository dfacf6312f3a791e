//! Refunds and returns of a sale this device holds: whole or some lines, tax reversed from the
//! sale's own figures, written with its journal link, stock movements and queue row in ONE
//! transaction. It never recomputes tax with today's rates and never refunds more than was
//! sold minus earlier refunds.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalog::to_milli;
use crate::error::{Error, Result};
use crate::journal::{self, JournalLink, ledger};
use crate::limits;
use crate::money::{self, RoundingRule, round_money};
use crate::sale::{Payment, PaymentMethod, SaleRecord, receipt_no};
use crate::session::Session;
use crate::tax::{self, TaxPortion, TaxSettings};

/// Which sale a refund reverses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaleRef {
    /// Its receipt number as printed (or scanned from the receipt's barcode).
    Receipt(String),
    /// Its `sale_id`.
    SaleId(String),
}

/// Some quantity of one line of the sale.
#[derive(Debug, Clone, PartialEq)]
pub struct RefundItem {
    /// The sale's `line_no`.
    pub line_no: u32,
    /// How much of it comes back (> 0, at most what is left to refund).
    pub quantity: Decimal,
    /// Whether it goes back to stock (ignored for products whose stock is not tracked).
    pub restock: bool,
}

/// What is refunded.
#[derive(Debug, Clone, PartialEq)]
pub enum RefundLines {
    /// Everything still refundable on every line.
    Everything { restock: bool },
    /// These lines and quantities.
    Items(Vec<RefundItem>),
}

/// How the money goes back to the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundTender {
    /// In cash, with the store's cash rounding.
    Cash,
    /// To the card, on the terminal (its reference for the refund).
    Card { reference: String },
}

/// A refund as the cashier asks for it.
#[derive(Debug, Clone, PartialEq)]
pub struct RefundRequest {
    /// The refund's id, made once by the caller when the refund screen opens and sent again
    /// on every retry: a refund whose id is written already is returned, never given twice.
    pub refund_id: Uuid,
    pub sale: SaleRef,
    pub lines: RefundLines,
    pub tender: RefundTender,
    /// Why, in words (optional, printed on the refund receipt).
    pub reason: Option<String>,
}

/// The `kind` of a refund record (sales carry none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Refund,
}

/// One refunded line: the sale line's snapshot and the part of its figures coming back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundLine {
    /// The sale's line.
    pub line_no: u32,
    pub product_id: String,
    pub sku: String,
    pub name: String,
    pub unit_price: Decimal,
    /// Quantity coming back.
    pub quantity: Decimal,
    pub tax_category: Option<String>,
    pub net: Decimal,
    pub tax: Decimal,
    pub gross: Decimal,
    /// Tax given back per rate, from the sale's own per-rate figures.
    pub taxes: Vec<TaxPortion>,
    /// Back to stock (a stock movement was written).
    pub restock: bool,
    pub stock_tracked: bool,
    /// Quantity of the line refunded before this refund, as the device counted it (its own
    /// refunds and those a held copy listed): the server reworks the figures from it, so
    /// they come out exactly even when another register refunded the same line unseen.
    /// Absent on refunds of devices that did not send it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refunded_before: Option<Decimal>,
}

/// A refund exactly as stored and uploaded. Amounts are positive: what goes back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundRecord {
    pub kind: RecordKind,
    pub refund_id: Uuid,
    /// The sale it reverses.
    pub refund_of: Uuid,
    /// That sale's receipt number.
    pub refund_of_receipt: String,
    pub store_id: String,
    pub register_id: String,
    pub staff_id: String,
    /// Its own number in the register's sequence (shared with sales).
    pub receipt_no: String,
    pub seq: u64,
    /// Device clock (Unix ms).
    pub created_at: i64,
    pub currency: String,
    pub lines: Vec<RefundLine>,
    pub net_total: Decimal,
    pub tax_total: Decimal,
    /// What is owed back before cash rounding.
    pub total: Decimal,
    /// Tax given back per rate, in the sale's breakdown order.
    pub taxes: Vec<TaxPortion>,
    /// Cash rounding of what is paid back (0 for a card).
    pub cash_rounding: Decimal,
    /// What was paid back: `total + cash_rounding`.
    pub amount_paid: Decimal,
    /// How it was paid back (none when nothing was owed).
    pub payments: Vec<Payment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub journal: Option<JournalLink>,
}

/// What the cashier sees after a refund completed.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletedRefund {
    pub record: RefundRecord,
    /// Bytes the stored record takes.
    pub stored_bytes: u64,
    /// True when an earlier call had already written this refund (a retry with the same
    /// `refund_id`): this call returned it as stored and wrote nothing.
    pub already_written: bool,
}

/// What can still be refunded of one line of a sale.
#[derive(Debug, Clone, PartialEq)]
pub struct Refundable {
    pub line_no: u32,
    pub product_id: String,
    pub name: String,
    pub sold: Decimal,
    pub refunded: Decimal,
    /// `sold - refunded`.
    pub left: Decimal,
    pub stock_tracked: bool,
}

/// A sale held here, with what its refunds so far took back.
struct Held {
    record: SaleRecord,
    settings: TaxSettings,
    tax_settings_id: i64,
    /// Quantity refunded so far, by line.
    refunded: BTreeMap<u32, Decimal>,
    /// Paid back to card so far.
    card_refunded: Decimal,
    /// What the cash refunds so far owed back before cash rounding (their exact `total`s):
    /// a cash refund pays the rounding of the running sum less the rounding of the sum
    /// before it, so refunds in pieces never pay out more than one whole refund.
    cash_owed_before: Decimal,
}

/// The sale `sale` names, as this device holds it, with its earlier refunds.
fn hold(c: &rusqlite::Connection, session: &Session, sale: &SaleRef) -> Result<Held> {
    let store_id = session.store_id.as_str();
    let row: Option<(String, Option<String>, String, String, i64)> = match sale {
        SaleRef::Receipt(r) => {
            check_text("receipt number", r, limits::MAX_ID_CHARS)?;
            // No index on receipt numbers (a sale writes no page more for refunds): a scan,
            // paid only when refunding.
            c.prepare_cached(
                "SELECT s.sale_id, s.refund_of, s.record, t.settings, s.tax_settings_id
                 FROM sales s JOIN tax_settings t ON t.id = s.tax_settings_id
                 WHERE s.store_id = ?1 AND s.receipt_no = ?2",
            )?
            .query_row(params![store_id, r.trim()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()?
        }
        SaleRef::SaleId(id) => {
            let id = Uuid::parse_str(id.trim())
                .map_err(|_| Error::invalid(format!("sale id {id:?} is not a UUID")))?;
            c.prepare_cached(
                "SELECT s.sale_id, s.refund_of, s.record, t.settings, s.tax_settings_id
                 FROM sales s JOIN tax_settings t ON t.id = s.tax_settings_id
                 WHERE s.store_id = ?1 AND s.sale_id = ?2",
            )?
            .query_row(params![store_id, id.to_string()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()?
        }
    };
    // Not one of this device's own records: a copy fetched from the server (crate::held),
    // whose refunds then were the server's, from every register.
    let (sale_id, record, settings, tax_settings_id, fetched) = match row {
        Some((sale_id, refund_of, record, settings, tax_settings_id)) => {
            if refund_of.is_some() {
                return Err(Error::invalid(format!(
                    "{sale_id} is a refund, not a sale: it cannot be refunded"
                )));
            }
            (sale_id, record, settings, tax_settings_id, Vec::new())
        }
        None => match crate::held::find(c, store_id, sale)? {
            Some(h) => (
                h.sale_id,
                h.record,
                h.settings,
                h.tax_settings_id,
                h.refunds,
            ),
            None => {
                if let SaleRef::Receipt(r) = sale
                    && holds_all_own(c, session, r)?
                {
                    return Err(Error::UnknownReceipt {
                        receipt: r.trim().to_string(),
                    });
                }
                let what = match sale {
                    SaleRef::Receipt(r) => {
                        format!("a refund of receipt {r}, which this device does not hold,")
                    }
                    SaleRef::SaleId(id) => {
                        format!("a refund of sale {id}, which this device does not hold,")
                    }
                };
                return Err(Error::NeedsConnection { what });
            }
        },
    };
    let record: SaleRecord = serde_json::from_str(&record)?;
    let settings: TaxSettings = serde_json::from_str(&settings)?;
    let mut refunded = BTreeMap::new();
    let mut card_refunded = Decimal::ZERO;
    let mut cash_owed_before = Decimal::ZERO;
    let mut stmt = c.prepare_cached("SELECT record FROM sales WHERE refund_of = ?1")?;
    let rows = stmt.query_map([&sale_id], |r| r.get::<_, String>(0))?;
    let mut earlier_refunds = rows
        .map(|text| Ok(serde_json::from_str::<RefundRecord>(&text?)?))
        .collect::<Result<Vec<_>>>()?;
    // The server's list holds this device's refunds it received: each counts once.
    for r in fetched {
        if !earlier_refunds.iter().any(|e| e.refund_id == r.refund_id) {
            earlier_refunds.push(r);
        }
    }
    for earlier in earlier_refunds {
        for l in &earlier.lines {
            *refunded.entry(l.line_no).or_insert(Decimal::ZERO) += l.quantity;
        }
        let to_card = earlier
            .payments
            .iter()
            .filter(|p| p.method == PaymentMethod::Card)
            .map(|p| p.amount)
            .sum::<Decimal>();
        card_refunded += to_card;
        // A card refund always pays its whole total to the card; one without a card payment
        // was a cash refund (perhaps paying nothing after rounding).
        if !earlier
            .payments
            .iter()
            .any(|p| p.method == PaymentMethod::Card)
        {
            cash_owed_before += earlier.total;
        }
    }
    Ok(Held {
        record,
        settings,
        tax_settings_id,
        refunded,
        card_refunded,
        cash_owed_before,
    })
}

/// True when `receipt` is a number this register prints and this device holds every record
/// the register numbered, so a number it does not hold was never printed: `UnknownReceipt`
/// offline, without asking the server.
///
/// Chosen: answer offline only when nothing can have gone missing, and ask the server in
/// every other case. The device never deletes a record, and sales and refunds share the
/// register's gapless counter, so a store that holds every number from 1 to its counter,
/// each of them rung here, holds them all. It does not claim so when:
/// - the store was salvaged after damage (`store::recovery::recover` may lose records on
///   unreadable pages) or started fresh (`start_fresh` drops the old store): both leave the
///   journal's restart marker (`ledger::RESTART_KEY`), which is never cleared;
/// - the server has not yet told this register its highest number (`SEQ_FLOOR_KEY`, set for
///   a new store, a register paired to a new device, a recovery, a fresh start or an
///   unreadable receipt book): the register may have numbered on another device;
/// - the register's numbers do not run 1, 2, ... up to its counter, each once: the counter
///   skipped ahead (the keychain's reservation, the server's highest) over numbers this
///   device never saw, or a record is missing.
///
/// Held copies fetched from the server live in `held_sales` and never count here. Numbers
/// above the counter count as never printed: one register, one device (pairing a register
/// revokes its earlier device's token, and the new device continues after the server's
/// highest).
fn holds_all_own(c: &rusqlite::Connection, session: &Session, receipt: &str) -> Result<bool> {
    let receipt = receipt.trim();
    let own = receipt
        .strip_prefix(session.register_id.as_str())
        .and_then(|rest| rest.strip_prefix('-'))
        .and_then(|digits| digits.parse::<u64>().ok())
        .is_some_and(|seq| receipt_no(&session.register_id, seq) == receipt);
    if !own {
        return Ok(false);
    }
    let unsure: bool = c
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM meta WHERE key IN (?1, ?2))")?
        .query_row(
            params![ledger::RESTART_KEY, crate::store::recovery::SEQ_FLOOR_KEY],
            |r| r.get(0),
        )?;
    if unsure {
        return Ok(false);
    }
    let counter: Option<i64> = c
        .prepare_cached(
            "SELECT last_seq FROM register_seq WHERE store_id = ?1 AND register_id = ?2",
        )?
        .query_row(params![session.store_id, session.register_id], |r| r.get(0))
        .optional()?;
    let Some(counter) = counter.filter(|n| *n >= 1) else {
        return Ok(false);
    };
    // One pass over the register's rows, paid only for a number this device does not hold.
    let (distinct, rows, lowest, highest): (i64, i64, Option<i64>, Option<i64>) = c
        .prepare_cached(
            "SELECT count(DISTINCT seq), count(*), min(seq), max(seq) FROM sales
             WHERE store_id = ?1 AND register_id = ?2",
        )?
        .query_row(params![session.store_id, session.register_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
    Ok(lowest == Some(1) && highest == Some(counter) && distinct == counter && rows == counter)
}

impl Held {
    fn lines(&self) -> Vec<Refundable> {
        self.record
            .lines
            .iter()
            .map(|l| {
                let refunded = self
                    .refunded
                    .get(&l.line_no)
                    .copied()
                    .unwrap_or(Decimal::ZERO);
                Refundable {
                    line_no: l.line_no,
                    product_id: l.product_id.clone(),
                    name: l.name.clone(),
                    sold: l.quantity,
                    refunded,
                    // Registers refunding one line offline can together take back more
                    // than was sold (the server stores and audits it): then nothing is left.
                    left: (l.quantity - refunded).max(Decimal::ZERO),
                    stock_tracked: l.stock_tracked,
                }
            })
            .collect()
    }
}

/// Each line of `sale`'s tax per rate as the sale charged it. Recomputed with `settings`,
/// the settings the sale was decided with (never today's), and used only when that gives
/// back the stored figures; a line whose category has a single rate needs no recomputation
/// at all.
pub fn sale_line_portions(
    sale: &SaleRecord,
    settings: &TaxSettings,
) -> Result<Vec<Vec<TaxPortion>>> {
    if let Ok(totals) = sale.recompute(settings)
        && sale.totals_match(&totals)
    {
        return Ok(totals.lines.into_iter().map(|l| l.taxes).collect());
    }
    sale.lines
        .iter()
        .map(|l| {
            let Some(cat) = &l.tax_category else {
                return Ok(Vec::new());
            };
            let rates = settings
                .categories
                .iter()
                .find(|c| &c.id == cat)
                .map(|c| c.rate_ids.as_slice())
                .unwrap_or_default();
            match rates {
                [] => Ok(Vec::new()),
                [rate_id] => {
                    let p = sale
                        .taxes
                        .iter()
                        .find(|p| &p.rate_id == rate_id)
                        .ok_or_else(|| {
                            Error::Storage(format!(
                                "sale {} has no tax portion for rate {rate_id}",
                                sale.sale_id
                            ))
                        })?;
                    Ok(vec![TaxPortion {
                        rate_id: p.rate_id.clone(),
                        label: p.label.clone(),
                        percent: p.percent,
                        taxable_base: l.net,
                        tax: l.tax,
                    }])
                }
                _ => Err(Error::Storage(format!(
                    "sale {}'s per-rate tax of line {} cannot be read back",
                    sale.sale_id, l.line_no
                ))),
            }
        })
        .collect()
}

/// What can still be refunded of the sale, per line (read in one snapshot).
pub(crate) fn refundable(
    c: &rusqlite::Connection,
    session: &Session,
    sale: &SaleRef,
) -> Result<(SaleRecord, Vec<Refundable>)> {
    let held = hold(c, session, sale)?;
    let lines = held.lines();
    Ok((held.record, lines))
}

fn check_text(what: &str, s: &str, max: usize) -> Result<()> {
    if s.trim().is_empty() || s.chars().count() > max {
        return Err(Error::invalid(format!(
            "{what} must have 1 to {max} characters"
        )));
    }
    Ok(())
}

/// Some quantity of one sale line coming back, and how much of the line came back before.
#[derive(Debug, Clone, PartialEq)]
pub struct RefundShare {
    /// The sale's `line_no`.
    pub line_no: u32,
    /// Quantity coming back now (> 0).
    pub quantity: Decimal,
    /// Quantity of the line refunded before, by every earlier refund of the sale.
    pub refunded_before: Decimal,
}

/// One refund line's figures: its part of the sale line's.
#[derive(Debug, Clone, PartialEq)]
pub struct RefundLineFigures {
    pub line_no: u32,
    pub net: Decimal,
    pub tax: Decimal,
    pub gross: Decimal,
    /// Tax given back per rate, in the line's order.
    pub taxes: Vec<TaxPortion>,
}

/// A refund's figures as the sale's own reverse them.
#[derive(Debug, Clone, PartialEq)]
pub struct RefundFigures {
    /// One per share, in their order.
    pub lines: Vec<RefundLineFigures>,
    pub net_total: Decimal,
    pub tax_total: Decimal,
    /// What is owed back before cash rounding.
    pub total: Decimal,
    /// Tax given back per rate, in the sale's breakdown order, rates given nothing left out.
    pub taxes: Vec<TaxPortion>,
}

/// What a refund of `shares` of `sale` gives back: each line's part of the sale line's
/// gross and per-rate base and tax, rounded as the sale's jurisdiction rounds
/// (`settings`, the settings the sale was decided with), as the difference of the shares
/// refunded up to and before it, so refunds of a line in pieces add up exactly to the
/// line's figures. Pure: the device computes its refunds with it, and the server recomputes
/// them with it from the sale it stores.
pub fn refund_figures(
    sale: &SaleRecord,
    settings: &TaxSettings,
    shares: &[RefundShare],
) -> Result<RefundFigures> {
    let portions = sale_line_portions(sale, settings)?;
    let dp = settings.minor_units();
    let rule = settings.rounding_rule;
    let mut lines = Vec::with_capacity(shares.len());
    // Per rate of the sale's breakdown: refunded base and tax.
    let mut per_rate: Vec<(Decimal, Decimal)> =
        vec![(Decimal::ZERO, Decimal::ZERO); sale.taxes.len()];
    for s in shares {
        let Some(i) = sale.lines.iter().position(|l| l.line_no == s.line_no) else {
            return Err(Error::invalid(format!(
                "the sale has no line {}",
                s.line_no
            )));
        };
        let l = &sale.lines[i];
        let (before, q) = (s.refunded_before, s.quantity);
        let within = before.checked_add(q).is_some_and(|upto| upto <= l.quantity);
        if q <= Decimal::ZERO || before < Decimal::ZERO || !within {
            return Err(Error::invalid(format!(
                "line {}: {q} back after {before} is not a part of the {} sold",
                l.line_no, l.quantity
            )));
        }
        let gross = slice(l.gross, before, q, l.quantity, dp, rule)?;
        let line_portions = portions.get(i).map(Vec::as_slice).unwrap_or_default();
        let mut taxes = Vec::with_capacity(line_portions.len());
        for p in line_portions {
            let portion = TaxPortion {
                rate_id: p.rate_id.clone(),
                label: p.label.clone(),
                percent: p.percent,
                taxable_base: slice(p.taxable_base, before, q, l.quantity, dp, rule)?,
                tax: slice(p.tax, before, q, l.quantity, dp, rule)?,
            };
            if let Some(k) = sale.taxes.iter().position(|t| t.rate_id == p.rate_id) {
                per_rate[k].0 += portion.taxable_base;
                per_rate[k].1 += portion.tax;
            }
            taxes.push(portion);
        }
        let tax: Decimal = taxes.iter().map(|t| t.tax).sum();
        lines.push(RefundLineFigures {
            line_no: l.line_no,
            net: gross - tax,
            tax,
            gross,
            taxes,
        });
    }
    let total: Decimal = lines.iter().map(|l| l.gross).sum();
    let tax_total: Decimal = lines.iter().map(|l| l.tax).sum();
    let taxes = sale
        .taxes
        .iter()
        .zip(&per_rate)
        .filter(|(_, (base, tax))| !base.is_zero() || !tax.is_zero())
        .map(|(p, (base, tax))| TaxPortion {
            rate_id: p.rate_id.clone(),
            label: p.label.clone(),
            percent: p.percent,
            taxable_base: *base,
            tax: *tax,
        })
        .collect();
    Ok(RefundFigures {
        lines,
        net_total: total - tax_total,
        tax_total,
        total,
        taxes,
    })
}

/// The part of `x` that `part` of `whole` carries, rounded as the sale's jurisdiction rounds;
/// all of it exactly when the part is the whole.
fn share(
    x: Decimal,
    part: Decimal,
    whole: Decimal,
    dp: u32,
    rule: RoundingRule,
) -> Result<Decimal> {
    if part == whole {
        return Ok(x);
    }
    let v = x
        .checked_mul(part)
        .and_then(|v| v.checked_div(whole))
        .ok_or_else(|| Error::invalid("refund figures out of range"))?;
    Ok(round_money(v, dp, rule))
}

/// The part of `x` that the quantities `before..before + now` of `whole` carry: the
/// difference of two cumulative shares, so refunds in pieces add up exactly to `x`.
fn slice(
    x: Decimal,
    before: Decimal,
    now: Decimal,
    whole: Decimal,
    dp: u32,
    rule: RoundingRule,
) -> Result<Decimal> {
    Ok(share(x, before + now, whole, dp, rule)? - share(x, before, whole, dp, rule)?)
}

/// What a cash refund owing `owed` pays out after the sale's cash refunds so far owed
/// `owed_before`: `R(owed_before + owed) - R(owed_before)`, with `R` the store's cash
/// rounding. Each payment is a multiple of the increment with a rounding of at most one
/// increment (exactly one only under half-even rounding), and the pieces of a sale add up to the rounding of their sum: never more than
/// one refund of it all would pay, however the sale is refunded in pieces.
pub fn cumulative_cash_due(
    store: &TaxSettings,
    owed_before: Decimal,
    owed: Decimal,
) -> tax::CashDue {
    // Amounts are bounded far below `Decimal`'s range; a sum beyond it rounds on its own.
    let due = match owed_before.checked_add(owed) {
        Some(sum) => tax::cash_due(store, sum).due - tax::cash_due(store, owed_before).due,
        None => tax::cash_due(store, owed).due,
    };
    tax::CashDue {
        due,
        rounding: due - owed,
    }
}

/// The requested quantities per line, checked: (line index, quantity, restock).
fn requested(held: &Held, lines: &RefundLines) -> Result<Vec<(usize, Decimal, bool)>> {
    let left = held.lines();
    let mut out = Vec::new();
    match lines {
        RefundLines::Everything { restock } => {
            for (i, l) in left.iter().enumerate() {
                if l.left > Decimal::ZERO {
                    out.push((i, l.left, *restock));
                }
            }
            if out.is_empty() {
                let Some(l) = left.first() else {
                    return Err(Error::invalid(format!(
                        "sale {} has no lines: there is nothing to refund",
                        held.record.receipt_no
                    )));
                };
                return Err(Error::OverRefund {
                    line_no: l.line_no,
                    requested: l.sold,
                    sold: l.sold,
                    refunded: l.refunded,
                });
            }
        }
        RefundLines::Items(items) => {
            if items.is_empty() {
                return Err(Error::invalid("a refund needs at least one line"));
            }
            if items.len() > left.len() {
                return Err(Error::invalid(format!(
                    "the sale has {} lines; the refund names {}",
                    left.len(),
                    items.len()
                )));
            }
            for item in items {
                let Some(i) = left.iter().position(|l| l.line_no == item.line_no) else {
                    return Err(Error::invalid(format!(
                        "the sale has no line {}",
                        item.line_no
                    )));
                };
                if out.iter().any(|(j, _, _)| *j == i) {
                    return Err(Error::invalid(format!(
                        "line {} is named twice",
                        item.line_no
                    )));
                }
                let q = item.quantity;
                if q <= Decimal::ZERO
                    || q > limits::MAX_QUANTITY
                    || money::decimals(q) > limits::QUANTITY_DECIMALS
                {
                    return Err(Error::invalid(format!(
                        "line {}: quantity {q} must be above 0, at most {} with at most {} decimals",
                        item.line_no,
                        limits::MAX_QUANTITY,
                        limits::QUANTITY_DECIMALS
                    )));
                }
                let l = &left[i];
                if q > l.left {
                    return Err(Error::OverRefund {
                        line_no: l.line_no,
                        requested: q,
                        sold: l.sold,
                        refunded: l.refunded,
                    });
                }
                out.push((i, q, item.restock));
            }
        }
    }
    Ok(out)
}

/// Validates and writes a refund in one transaction: its record with its own receipt number
/// and journal link, its stock movements and its queue row. `store` is the store's current
/// tax settings, for the cash rounding of what is paid back in cash.
pub(crate) fn refund(
    conn: &mut rusqlite::Connection,
    session: &Session,
    store: &TaxSettings,
    request: &RefundRequest,
) -> Result<CompletedRefund> {
    if let Some(reason) = &request.reason {
        check_text("a refund's reason", reason, limits::MAX_TEXT_CHARS)?;
    }
    if let RefundTender::Card { reference } = &request.tender {
        check_text(
            "a card refund's terminal reference",
            reference,
            limits::MAX_REFERENCE_CHARS,
        )?;
    }
    let refund_id = request.refund_id;
    if refund_id.is_nil() {
        return Err(Error::invalid("a refund id must not be the nil UUID"));
    }
    let created_at = crate::time::now_ms();
    let span = tracing::info_span!("complete_refund", refund = %refund_id);
    let _enter = span.enter();

    // Everything below is read and checked inside the write transaction, so two refunds of
    // one sale cannot both take the same quantity, nor one refund id be written twice.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if let Some(done) = already_given(&tx, session, request)? {
        tracing::info!(receipt = %done.record.receipt_no, "refund already given: returned as stored");
        return Ok(done);
    }
    let held = hold(&tx, session, &request.sale)?;
    let sale = &held.record;
    if store.currency != sale.currency {
        return Err(Error::invalid(format!(
            "the sale was in {}; the store now takes {}",
            sale.currency, store.currency
        )));
    }
    let wanted = requested(&held, &request.lines)?;
    let shares: Vec<RefundShare> = wanted
        .iter()
        .map(|&(i, quantity, _)| {
            let line_no = sale.lines[i].line_no;
            RefundShare {
                line_no,
                quantity,
                refunded_before: held
                    .refunded
                    .get(&line_no)
                    .copied()
                    .unwrap_or(Decimal::ZERO),
            }
        })
        .collect();
    let figures = refund_figures(sale, &held.settings, &shares)?;
    let mut lines = Vec::with_capacity(wanted.len());
    for ((&(i, q, restock), share), f) in wanted.iter().zip(&shares).zip(figures.lines) {
        let l = &sale.lines[i];
        lines.push(RefundLine {
            line_no: l.line_no,
            product_id: l.product_id.clone(),
            sku: l.sku.clone(),
            name: l.name.clone(),
            unit_price: l.unit_price,
            quantity: q,
            tax_category: l.tax_category.clone(),
            net: f.net,
            tax: f.tax,
            gross: f.gross,
            taxes: f.taxes,
            restock: restock && l.stock_tracked,
            stock_tracked: l.stock_tracked,
            refunded_before: Some(share.refunded_before),
        });
    }
    let RefundFigures {
        total,
        tax_total,
        taxes,
        ..
    } = figures;

    let (amount_paid, cash_rounding, payments) = match &request.tender {
        RefundTender::Cash => {
            let due = cumulative_cash_due(store, held.cash_owed_before, total);
            let payments = if due.due > Decimal::ZERO {
                vec![Payment {
                    method: PaymentMethod::Cash,
                    amount: due.due,
                    reference: None,
                }]
            } else {
                Vec::new()
            };
            (due.due, due.rounding, payments)
        }
        RefundTender::Card { reference } => {
            let card_paid: Decimal = sale
                .payments
                .iter()
                .filter(|p| p.method == PaymentMethod::Card)
                .map(|p| p.amount)
                .sum();
            let card_left = card_paid - held.card_refunded;
            if total > card_left {
                return Err(Error::RefundExceedsCard {
                    requested: total,
                    paid_by_card: card_paid,
                    refunded_to_card: held.card_refunded,
                });
            }
            let payments = if total > Decimal::ZERO {
                vec![Payment {
                    method: PaymentMethod::Card,
                    amount: total,
                    reference: Some(reference.trim().to_string()),
                }]
            } else {
                Vec::new()
            };
            (total, Decimal::ZERO, payments)
        }
    };

    let claim = ledger::claim(&tx, &session.store_id, &session.register_id)?;
    let record = RefundRecord {
        kind: RecordKind::Refund,
        refund_id,
        refund_of: sale.sale_id,
        refund_of_receipt: sale.receipt_no.clone(),
        store_id: session.store_id.clone(),
        register_id: session.register_id.clone(),
        staff_id: session.staff_id.clone(),
        receipt_no: receipt_no(&session.register_id, claim.seq),
        seq: claim.seq,
        created_at,
        currency: sale.currency.clone(),
        lines,
        net_total: total - tax_total,
        tax_total,
        total,
        taxes,
        cash_rounding,
        amount_paid,
        payments,
        reason: request.reason.clone(),
        journal: Some(claim.link),
    };
    let text = serde_json::to_string(&record)?;
    let hash = journal::text_hash(text.as_bytes()).map_err(|e| Error::Storage(e.to_string()))?;
    ledger::advance(
        &tx,
        &session.store_id,
        &session.register_id,
        record.seq,
        &hash,
    )?;
    let stored_bytes = write_record(&tx, &record, text, held.tax_settings_id)?;
    tx.commit()?;
    tracing::info!(receipt = %record.receipt_no, of = %record.refund_of_receipt, "refund completed");
    Ok(CompletedRefund {
        record,
        stored_bytes,
        already_written: false,
    })
}

/// The refund `request.refund_id` was already written as, if it was: returned as stored
/// when it is for the same sale with the same lines and tender (its reason may differ),
/// otherwise `RefundAlreadyGiven`.
fn already_given(
    tx: &Transaction<'_>,
    session: &Session,
    request: &RefundRequest,
) -> Result<Option<CompletedRefund>> {
    let refund_id = request.refund_id.to_string();
    let row: Option<(String, Option<String>, String)> = tx
        .prepare_cached("SELECT record, refund_of, receipt_no FROM sales WHERE sale_id = ?1")?
        .query_row([&refund_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((text, refund_of, receipt_no)) = row else {
        return Ok(None);
    };
    let refused = |reason: &str| Error::RefundAlreadyGiven {
        refund_id: refund_id.clone(),
        receipt_no: receipt_no.clone(),
        reason: reason.into(),
    };
    if refund_of.is_none() {
        return Err(refused("that id is a sale's"));
    }
    let record: RefundRecord = serde_json::from_str(&text)?;
    if record.store_id != session.store_id {
        return Err(refused("it was given in another store"));
    }
    let same_sale = match &request.sale {
        // Canonical as `hold` looks it up: the number without surrounding blanks.
        SaleRef::Receipt(r) => r.trim() == record.refund_of_receipt,
        SaleRef::SaleId(id) => Uuid::parse_str(id.trim()).is_ok_and(|id| id == record.refund_of),
    };
    if !same_sale {
        return Err(refused(&format!(
            "it refunds receipt {}",
            record.refund_of_receipt
        )));
    }
    let same_lines = match &request.lines {
        RefundLines::Items(items) => {
            items.len() == record.lines.len()
                && items.iter().all(|i| {
                    record.lines.iter().any(|l| {
                        l.line_no == i.line_no
                            && l.quantity == i.quantity
                            && l.restock == (i.restock && l.stock_tracked)
                    })
                })
        }
        RefundLines::Everything { restock } => {
            // It took everything its sale had left then: what is left now plus its own lines.
            let held = hold(tx, session, &SaleRef::SaleId(record.refund_of.to_string()))?;
            let left_before: Vec<(u32, Decimal, bool)> = held
                .lines()
                .into_iter()
                .map(|l| {
                    let own = record
                        .lines
                        .iter()
                        .filter(|r| r.line_no == l.line_no)
                        .map(|r| r.quantity)
                        .sum::<Decimal>();
                    (l.line_no, l.left + own, l.stock_tracked)
                })
                .filter(|(_, left, _)| *left > Decimal::ZERO)
                .collect();
            left_before.len() == record.lines.len()
                && left_before.iter().all(|(line_no, left, tracked)| {
                    record.lines.iter().any(|l| {
                        l.line_no == *line_no
                            && l.quantity == *left
                            && l.restock == (*restock && *tracked)
                    })
                })
        }
    };
    if !same_lines {
        return Err(refused("it refunded other lines or quantities"));
    }
    let same_tender = match &request.tender {
        RefundTender::Cash => record
            .payments
            .iter()
            .all(|p| p.method == PaymentMethod::Cash),
        RefundTender::Card { reference } => record.payments.iter().all(|p| {
            p.method == PaymentMethod::Card && p.reference.as_deref() == Some(reference.trim())
        }),
    };
    if !same_tender {
        return Err(refused("it was paid back another way"));
    }
    Ok(Some(CompletedRefund {
        stored_bytes: text.len() as u64,
        record,
        already_written: true,
    }))
}

/// Inserts the refund (a `sales` row with `refund_of` set; its listed total negative), its
/// restocking movements and its queue row, inside the refund's transaction.
fn write_record(
    tx: &Transaction<'_>,
    r: &RefundRecord,
    text: String,
    tax_settings_id: i64,
) -> Result<u64> {
    let len = text.len();
    if len > limits::MAX_SALE_BYTES {
        return Err(Error::invalid(format!(
            "the refund takes {len} bytes; at most {} fit one upload",
            limits::MAX_SALE_BYTES
        )));
    }
    let row: i64 = tx
        .prepare_cached(
            "INSERT INTO sales (sale_id, store_id, register_id, receipt_no, seq, created_at,
               currency, total, oversold, tax_settings_id, record, refund_of)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9, ?10, ?11) RETURNING id",
        )?
        .query_row(
            params![
                r.refund_id.to_string(),
                r.store_id,
                r.register_id,
                r.receipt_no,
                r.seq as i64,
                r.created_at,
                r.currency,
                (-r.total).to_string(),
                tax_settings_id,
                text,
                r.refund_of.to_string(),
            ],
            |row| row.get(0),
        )?;
    let mut stock = tx.prepare_cached(
        "UPDATE stock_levels SET stock_milli = stock_milli + ?3
         WHERE store_id = ?1 AND product_id = ?2",
    )?;
    let mut movement = tx.prepare_cached(
        "INSERT INTO stock_movements (sale_ref, store_id, product_id, delta_milli, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for l in r.lines.iter().filter(|l| l.restock) {
        let milli = to_milli(l.quantity)
            .ok_or_else(|| Error::invalid("quantity has more than 3 decimals"))?;
        stock.execute(params![r.store_id, l.product_id, milli])?;
        movement.execute(params![row, r.store_id, l.product_id, milli, r.created_at])?;
    }
    crate::outbox::enqueue(tx, row, &r.store_id, r.created_at, len)?;
    Ok(len as u64)
}

/// Reads a stored refund back; `None` if no such refund exists.
pub(crate) fn load(c: &rusqlite::Connection, refund_id: &str) -> Result<Option<RefundRecord>> {
    let text: Option<String> = c
        .prepare_cached("SELECT record FROM sales WHERE sale_id = ?1 AND refund_of IS NOT NULL")?
        .query_row([refund_id], |r| r.get(0))
        .optional()?;
    text.map(|t| serde_json::from_str(&t).map_err(Error::from))
        .transpose()
}
