//! What the server accepts: the per-sale decision (reject, duplicate, conflict, accept with
//! its tax check and stock movements) and catalogue checks. Pure: it never does I/O, so
//! every storage backend decides exactly alike.

use std::collections::HashSet;

use crate::error::StoreError;
use crate::protocol::CatalogFile;
use rust_decimal::Decimal;
use tillkit_core::journal::{self, JournalLink};
use tillkit_core::limits::{
    MAX_AMOUNT, MAX_ID_CHARS, MAX_LINES_PER_SALE, MAX_PAYMENTS_PER_SALE, MAX_QUANTITY,
    MAX_REFERENCE_CHARS, MAX_TEXT_CHARS, QUANTITY_DECIMALS,
};
use tillkit_core::money::decimals;
use tillkit_core::refund::{RefundRecord, RefundShare, refund_figures};
use tillkit_core::sale::{PaymentMethod, SaleRecord};
use tillkit_core::tax::{Discount, TaxSettings, Totals};

/// What to do with one uploaded sale.
// Nearly every sale is accepted, so boxing `Accepted` would only add an allocation per sale.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Store it now, with these extras.
    Accept(Accepted),
    /// Identical to the stored sale with the same id: nothing to do.
    Duplicate,
    /// A different sale with the same id is stored: change nothing.
    Conflict(String),
    /// Fails validation: store nothing.
    Rejected(String),
}

/// A sale that passed validation, ready to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// The canonical JSON stored and compared on retries.
    pub canonical: String,
    /// SHA-256 of the record's journal canonical bytes as it arrived (kept for the audit).
    pub record_hash: String,
    /// The server's own tax computation for it.
    pub tax_check: TaxCheck,
    /// One stock movement per stock-tracked line.
    pub movements: Vec<Movement>,
    /// For a refund: its lines (`line_no`) that, with the refunds of the sale stored before
    /// it from any register, take back more than was sold. Accepted all the same (the
    /// money left the drawer) and reported by the stock audit. Empty for a sale.
    pub over_refunded_lines: Vec<u32>,
}

/// The server's recomputation of a sale's tax with the store's current settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TaxCheck {
    /// The server's totals, when the lines could be recomputed.
    pub server_totals: Option<Totals>,
    /// Device `tax_total` minus the server's, when recomputed.
    pub tax_difference: Option<Decimal>,
    /// Whether every recorded figure equals the server's.
    pub totals_match: bool,
    /// Why the lines could not be recomputed (e.g. a category the store no longer has).
    pub error: Option<String>,
}

/// One stock movement of an accepted sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movement {
    /// The product moved.
    pub product_id: String,
    /// Change in thousandths of a unit (negative for a sale).
    pub delta_milli: i64,
}

/// The canonical serialisation of a sale: the comparison key for duplicate vs conflict.
pub fn canonical(sale: &SaleRecord) -> Result<String, StoreError> {
    serde_json::to_string(sale)
        .map_err(|e| StoreError::Backend(format!("cannot serialise a sale: {e}")))
}

/// Decides one sale of a batch uploaded to `store_id` by register `uploaded_by` (the
/// token's register), whose tax settings are `settings`. `existing` is the canonical JSON
/// already stored under the sale's id.
pub fn decide(
    sale: &SaleRecord,
    store_id: &str,
    uploaded_by: &str,
    settings: &TaxSettings,
    existing: Option<&str>,
) -> Result<Decision, StoreError> {
    Ok(prepare(sale, store_id, uploaded_by, settings)?.resolve(existing))
}

/// Everything `decide` works out without the stored copy of the sale: the expensive part
/// (serialising, checking, recomputing tax), done before the storage transaction and, for a
/// whole batch, on every core (`prepare_batch`).
// Nearly every sale is checked, so boxing `Checked` would only add an allocation per sale.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Prepared {
    /// Refused before any lookup (another store's or another register's sale).
    Refused(String),
    /// Its canonical form and what its own checks concluded.
    Checked {
        /// The canonical JSON, compared with a stored copy.
        canonical: String,
        /// The record's journal hash.
        record_hash: String,
        /// The checks' verdict if no copy is stored: what to write, or why not.
        verdict: Result<(TaxCheck, Vec<Movement>), String>,
    },
}

impl Prepared {
    /// The decision, given the canonical JSON already stored under the sale's id.
    pub fn resolve(self, existing: Option<&str>) -> Decision {
        match self {
            Prepared::Refused(reason) => Decision::Rejected(reason),
            Prepared::Checked {
                canonical,
                record_hash,
                verdict,
            } => match (existing, verdict) {
                (Some(stored), _) if stored == canonical => Decision::Duplicate,
                (Some(_), _) => Decision::Conflict(
                    "a different sale with this id is already stored; nothing was changed".into(),
                ),
                (None, Ok((tax_check, movements))) => Decision::Accept(Accepted {
                    over_refunded_lines: Vec::new(),
                    canonical,
                    record_hash,
                    tax_check,
                    movements,
                }),
                (None, Err(reason)) => Decision::Rejected(reason),
            },
        }
    }

    /// The canonical JSON when the sale got that far (the comparison key of a later twin).
    pub fn canonical(&self) -> Option<&str> {
        match self {
            Prepared::Refused(_) => None,
            Prepared::Checked { canonical, .. } => Some(canonical),
        }
    }
}

/// The lookup-free part of `decide` for one sale.
pub fn prepare(
    sale: &SaleRecord,
    store_id: &str,
    uploaded_by: &str,
    settings: &TaxSettings,
) -> Result<Prepared, StoreError> {
    // Both checked before the id lookup so a sale never learns about another store's or
    // another register's sales.
    if sale.store_id != store_id {
        return Ok(Prepared::Refused(format!(
            "the sale belongs to store {:?}, not to {store_id:?}",
            sale.store_id
        )));
    }
    // One register of a store must not inject sales as another.
    if sale.register_id != uploaded_by {
        return Ok(Prepared::Refused(format!(
            "the sale belongs to register {:?}, but was uploaded with register {uploaded_by:?}'s token",
            sale.register_id
        )));
    }
    let canonical = canonical(sale)?;
    let record_hash = journal::record_hash(sale)
        .map_err(|e| StoreError::Backend(format!("cannot hash a sale: {e}")))?;
    let verdict =
        check_sale(sale, settings).map(|movements| (tax_check(sale, settings), movements));
    Ok(Prepared::Checked {
        canonical,
        record_hash,
        verdict,
    })
}

/// Batches at least this long are prepared on several threads.
const PARALLEL_FROM: usize = 16;

/// `prepare` for every sale of a batch, in order, spread over the machine's cores. Blocks:
/// call it off the async threads.
pub fn prepare_batch(
    sales: &[SaleRecord],
    store_id: &str,
    uploaded_by: &str,
    settings: &TaxSettings,
) -> Result<Vec<Prepared>, StoreError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || sales.len() < PARALLEL_FROM {
        return sales
            .iter()
            .map(|s| prepare(s, store_id, uploaded_by, settings))
            .collect();
    }
    let chunk = sales.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let parts: Vec<_> = sales
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|s| prepare(s, store_id, uploaded_by, settings))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(sales.len());
        for part in parts {
            let part = part
                .join()
                .map_err(|_| StoreError::Backend("a sale check panicked".into()))??;
            all.extend(part);
        }
        Ok(all)
    })
}

/// Recomputes the sale with the store's settings; a difference is recorded, never refused,
/// because the customer's receipt stays as it was printed.
fn tax_check(sale: &SaleRecord, settings: &TaxSettings) -> TaxCheck {
    match sale.recompute(settings) {
        Ok(totals) => TaxCheck {
            tax_difference: Some(sale.tax_total - totals.tax_total),
            totals_match: sale.totals_match(&totals),
            server_totals: Some(totals),
            error: None,
        },
        Err(e) => TaxCheck {
            server_totals: None,
            tax_difference: None,
            totals_match: false,
            error: Some(e.to_string()),
        },
    }
}

/// Checks a sale against itself and the store's currency; returns its stock movements.
fn check_sale(sale: &SaleRecord, settings: &TaxSettings) -> Result<Vec<Movement>, String> {
    if sale.currency != settings.currency {
        return Err(format!(
            "currency {:?} differs from the store's {:?}",
            sale.currency, settings.currency
        ));
    }
    if sale.lines.is_empty() {
        return Err("the sale has no lines".into());
    }
    if sale.lines.len() > MAX_LINES_PER_SALE {
        return Err(format!(
            "{} lines; a sale has at most {MAX_LINES_PER_SALE}",
            sale.lines.len()
        ));
    }
    if sale.payments.len() > MAX_PAYMENTS_PER_SALE {
        return Err(format!(
            "{} payments; a sale has at most {MAX_PAYMENTS_PER_SALE}",
            sale.payments.len()
        ));
    }
    let dp = settings.minor_units();
    text("register_id", &sale.register_id, MAX_ID_CHARS)?;
    text("staff_id", &sale.staff_id, MAX_ID_CHARS)?;
    text("receipt_no", &sale.receipt_no, MAX_TEXT_CHARS)?;
    if i64::try_from(sale.seq).is_err() {
        return Err(format!("seq {} is out of range", sale.seq));
    }
    if let Some(link) = &sale.journal {
        check_link(link, sale.seq)?;
    }

    let mut movements = Vec::new();
    let (mut subtotal, mut discounts, mut net, mut tax, mut gross) = (
        Decimal::ZERO,
        Decimal::ZERO,
        Decimal::ZERO,
        Decimal::ZERO,
        Decimal::ZERO,
    );
    for (i, l) in sale.lines.iter().enumerate() {
        let n = i + 1;
        text(
            &format!("line {n} product_id"),
            &l.product_id,
            MAX_TEXT_CHARS,
        )?;
        optional_text(&format!("line {n} sku"), &l.sku)?;
        optional_text(&format!("line {n} name"), &l.name)?;
        if let Some(c) = &l.tax_category {
            optional_text(&format!("line {n} tax_category"), c)?;
        }
        if l.quantity <= Decimal::ZERO
            || l.quantity > MAX_QUANTITY
            || decimals(l.quantity) > QUANTITY_DECIMALS
        {
            return Err(format!(
                "line {n}: quantity {} must be above 0, at most {MAX_QUANTITY}, with at most {QUANTITY_DECIMALS} decimals",
                l.quantity
            ));
        }
        for (what, v) in [
            ("unit_price", l.unit_price),
            ("amount", l.amount),
            ("line_discount", l.line_discount),
            ("cart_discount", l.cart_discount),
            ("net", l.net),
            ("tax", l.tax),
            ("gross", l.gross),
        ] {
            money(&format!("line {n} {what}"), v, dp)?;
        }
        if let Some(d) = &l.discount {
            discount(&format!("line {n} discount"), d, dp)?;
        }
        if l.gross != l.net + l.tax {
            return Err(format!(
                "line {n}: gross {} is not net {} plus tax {}",
                l.gross, l.net, l.tax
            ));
        }
        // Tax-exclusive lines pay the net, tax-inclusive lines the gross; either way the
        // amount less its discounts must be one of them.
        let payable = l.amount - l.line_discount - l.cart_discount;
        if payable != l.net && payable != l.gross {
            return Err(format!(
                "line {n}: amount less discounts ({payable}) is neither its net nor its gross"
            ));
        }
        subtotal += l.amount;
        discounts += l.line_discount + l.cart_discount;
        net += l.net;
        tax += l.tax;
        gross += l.gross;
        if l.stock_tracked {
            let delta_milli =
                to_milli(l.quantity).ok_or_else(|| format!("line {n}: quantity out of range"))?;
            movements.push(Movement {
                product_id: l.product_id.clone(),
                delta_milli: -delta_milli,
            });
        }
    }
    if let Some(d) = &sale.cart_discount {
        discount("cart discount", d, dp)?;
    }
    for (what, v) in [
        ("subtotal", sale.subtotal),
        ("discount_total", sale.discount_total),
        ("net_total", sale.net_total),
        ("tax_total", sale.tax_total),
        ("total", sale.total),
        ("amount_due", sale.amount_due),
        ("tendered", sale.tendered),
        ("change_due", sale.change_due),
    ] {
        money(what, v, dp)?;
    }
    money("cash_rounding (magnitude)", sale.cash_rounding.abs(), dp)?;

    let sums = [
        ("subtotal", sale.subtotal, subtotal, "sum of line amounts"),
        (
            "discount_total",
            sale.discount_total,
            discounts,
            "sum of line discounts",
        ),
        ("net_total", sale.net_total, net, "sum of line nets"),
        ("tax_total", sale.tax_total, tax, "sum of line taxes"),
        ("total", sale.total, gross, "sum of line grosses"),
        (
            "total",
            sale.total,
            sale.net_total + sale.tax_total,
            "net_total plus tax_total",
        ),
    ];
    for (what, recorded, expected, how) in sums {
        if recorded != expected {
            return Err(format!("{what} {recorded} is not the {how} ({expected})"));
        }
    }
    let mut breakdown = Decimal::ZERO;
    let mut rates = HashSet::new();
    for p in &sale.taxes {
        text("tax rate_id", &p.rate_id, MAX_TEXT_CHARS)?;
        optional_text("tax label", &p.label)?;
        if !rates.insert(p.rate_id.as_str()) {
            return Err(format!(
                "tax rate {:?} appears twice in the breakdown",
                p.rate_id
            ));
        }
        if p.percent < Decimal::ZERO || p.percent > Decimal::ONE_HUNDRED {
            return Err(format!(
                "tax rate {:?}: percent {} is not between 0 and 100",
                p.rate_id, p.percent
            ));
        }
        money(
            &format!("tax rate {:?} taxable_base", p.rate_id),
            p.taxable_base,
            dp,
        )?;
        money(&format!("tax rate {:?} tax", p.rate_id), p.tax, dp)?;
        breakdown += p.tax;
    }
    if breakdown != sale.tax_total {
        return Err(format!(
            "the tax breakdown sums to {breakdown}, not to tax_total {}",
            sale.tax_total
        ));
    }

    if sale.amount_due != sale.total + sale.cash_rounding {
        return Err(format!(
            "amount_due {} is not total {} plus cash_rounding {}",
            sale.amount_due, sale.total, sale.cash_rounding
        ));
    }
    let mut paid = Decimal::ZERO;
    for (i, p) in sale.payments.iter().enumerate() {
        let n = i + 1;
        if p.amount <= Decimal::ZERO {
            return Err(format!("payment {n}: amount {} is not positive", p.amount));
        }
        money(&format!("payment {n} amount"), p.amount, dp)?;
        if p.reference
            .as_ref()
            .is_some_and(|r| r.chars().count() > MAX_REFERENCE_CHARS)
        {
            return Err(format!(
                "payment {n}: reference longer than {MAX_REFERENCE_CHARS} characters"
            ));
        }
        if matches!(
            p.method,
            PaymentMethod::StoreCredit | PaymentMethod::GiftCard | PaymentMethod::Loyalty
        ) {
            // This server keeps no balances, so it cannot honour such a tender.
            return Err(format!(
                "payment {n}: {:?} tenders are not supported by this server",
                p.method
            ));
        }
        paid += p.amount;
    }
    if paid != sale.tendered {
        return Err(format!(
            "payments sum to {paid}, not to tendered {}",
            sale.tendered
        ));
    }
    if sale.tendered < sale.amount_due {
        return Err(format!(
            "tendered {} does not cover amount_due {}",
            sale.tendered, sale.amount_due
        ));
    }
    if sale.change_due != sale.tendered - sale.amount_due {
        return Err(format!(
            "change_due {} is not tendered {} less amount_due {}",
            sale.change_due, sale.tendered, sale.amount_due
        ));
    }
    Ok(movements)
}

/// The canonical serialisation of a refund: the comparison key for duplicate vs conflict.
pub fn canonical_refund(refund: &RefundRecord) -> Result<String, StoreError> {
    serde_json::to_string(refund)
        .map_err(|e| StoreError::Backend(format!("cannot serialise a refund: {e}")))
}

/// The sale a refund reverses as the server holds it (stored, or accepted earlier in the
/// same batch), with every refund of it the server holds so far.
#[derive(Debug, Clone, Copy)]
pub struct HeldSale<'a> {
    /// The sale as accepted.
    pub sale: &'a SaleRecord,
    /// Its refunds already accepted, from any register.
    pub refunds: &'a [RefundRecord],
    /// The store's tax settings the sale was decided with, when the server kept them (not
    /// for sales stored before it kept every version).
    pub settings: Option<&'a TaxSettings>,
}

/// Decides one uploaded refund: refused for another store or register before any lookup,
/// then duplicate or conflict against `existing` (the canonical JSON stored under its id),
/// then checked against the sale it reverses as the server holds it. Refunds of one sale
/// from several registers meet here: a line one refund takes back beyond what was sold is
/// rejected (no till makes it); a line the refunds of several registers together take back
/// beyond what was sold is accepted (each register paid it out) and named in
/// `Accepted::over_refunded_lines`, for the log, and in the stock audit.
pub fn decide_refund(
    refund: &RefundRecord,
    store_id: &str,
    uploaded_by: &str,
    settings: &TaxSettings,
    existing: Option<&str>,
    held: Option<HeldSale<'_>>,
) -> Result<Decision, StoreError> {
    if refund.store_id != store_id {
        return Ok(Decision::Rejected(format!(
            "the refund belongs to store {:?}, not to {store_id:?}",
            refund.store_id
        )));
    }
    if refund.register_id != uploaded_by {
        return Ok(Decision::Rejected(format!(
            "the refund belongs to register {:?}, but was uploaded with register {uploaded_by:?}'s token",
            refund.register_id
        )));
    }
    let canonical = canonical_refund(refund)?;
    match existing {
        Some(stored) if stored == canonical => return Ok(Decision::Duplicate),
        Some(_) => {
            return Ok(Decision::Conflict(
                "a different record with this id is already stored; nothing was changed".into(),
            ));
        }
        None => {}
    }
    let Some(held) = held else {
        return Ok(Decision::Rejected(format!(
            "the refund reverses sale {} ({}), which the server does not hold",
            refund.refund_of, refund.refund_of_receipt
        )));
    };
    let record_hash = journal::record_hash(refund)
        .map_err(|e| StoreError::Backend(format!("cannot hash a refund: {e}")))?;
    Ok(match check_refund(refund, held, settings) {
        Ok((movements, over_refunded_lines)) => Decision::Accept(Accepted {
            canonical,
            record_hash,
            tax_check: refund_tax_check(refund, held, settings),
            movements,
            over_refunded_lines,
        }),
        Err(reason) => Decision::Rejected(reason),
    })
}

/// Differences a refund's tax check names before it sums up the rest.
const MAX_NAMED_DIFFERENCES: usize = 5;

/// Recomputes a refund as the device does (`refund::refund_figures`): from the sale the
/// server holds, with the tax settings the sale was decided with, each line from the
/// quantity refunded before it as the device counted it (`RefundLine::refunded_before`;
/// the server's own count for a device that did not send it). Its cash rounding is checked
/// against the store's current coin. A difference is recorded, never refused: the money
/// went back as the receipt says. `server_totals` stays empty (they are a sale's); `error`
/// names the figures that differ, or why the refund could not be recomputed.
fn refund_tax_check(r: &RefundRecord, held: HeldSale<'_>, store: &TaxSettings) -> TaxCheck {
    let unchecked = |error: String| TaxCheck {
        server_totals: None,
        tax_difference: None,
        totals_match: false,
        error: Some(error),
    };
    let Some(settings) = held.settings else {
        return unchecked(
            "not recomputed: the server did not keep the tax settings the sale was made with"
                .into(),
        );
    };
    let shares: Vec<RefundShare> = r
        .lines
        .iter()
        .map(|l| RefundShare {
            line_no: l.line_no,
            quantity: l.quantity,
            refunded_before: l.refunded_before.unwrap_or_else(|| {
                held.refunds
                    .iter()
                    .filter(|e| e.refund_id != r.refund_id)
                    .flat_map(|e| &e.lines)
                    .filter(|e| e.line_no == l.line_no)
                    .map(|e| e.quantity)
                    .sum()
            }),
        })
        .collect();
    let figures = match refund_figures(held.sale, settings, &shares) {
        Ok(figures) => figures,
        Err(e) => return unchecked(format!("not recomputed: {e}")),
    };
    let mut differ = Vec::new();
    for (l, f) in r.lines.iter().zip(&figures.lines) {
        let n = l.line_no;
        name_differences(
            &mut differ,
            &format!("line {n} "),
            [
                ("net", l.net, f.net),
                ("tax", l.tax, f.tax),
                ("gross", l.gross, f.gross),
            ],
        );
        if l.taxes != f.taxes {
            differ.push(format!("line {n}: its per-rate tax is not the server's"));
        }
    }
    name_differences(
        &mut differ,
        "",
        [
            ("net_total", r.net_total, figures.net_total),
            ("tax_total", r.tax_total, figures.tax_total),
            ("total", r.total, figures.total),
        ],
    );
    if r.taxes != figures.taxes {
        differ.push("the per-rate breakdown is not the server's".into());
    }
    if let Some(why) = cash_rounding_differs(r, store) {
        differ.push(why);
    }
    let error = (!differ.is_empty()).then(|| {
        let more = differ.len().saturating_sub(MAX_NAMED_DIFFERENCES);
        differ.truncate(MAX_NAMED_DIFFERENCES);
        let mut text = differ.join("; ");
        if more > 0 {
            text.push_str(&format!("; and {more} more"));
        }
        text
    });
    TaxCheck {
        server_totals: None,
        tax_difference: Some(r.tax_total - figures.tax_total),
        totals_match: error.is_none(),
        error,
    }
}

/// Names, after `at`, each of `figures` (what, recorded, the server's) that differ.
fn name_differences(differ: &mut Vec<String>, at: &str, figures: [(&str, Decimal, Decimal); 3]) {
    for (what, recorded, server) in figures {
        if recorded != server {
            differ.push(format!("{at}{what} {recorded}, the server's {server}"));
        }
    }
}

/// Why a refund's cash rounding does not follow the store's coin, if it does not. Cash
/// given back is a whole number of coins (none at all when a small piece rounds down to
/// nothing), at most one coin from what was owed: a sale's refunds are rounded on their
/// running sum, `R(before + owed) - R(before)`, and each of the two roundings is at most
/// half a coin off (up to a coin, one way, for rounding up or toward zero). A refund to a
/// card, or in a store with no coin, rounds nothing.
fn cash_rounding_differs(r: &RefundRecord, store: &TaxSettings) -> Option<String> {
    let to_card = r.payments.iter().any(|p| p.method == PaymentMethod::Card);
    let cash: Decimal = r
        .payments
        .iter()
        .filter(|p| p.method == PaymentMethod::Cash)
        .map(|p| p.amount)
        .sum();
    let coin = store
        .cash_rounding
        .as_ref()
        .map(|c| c.increment)
        .filter(|i| *i > Decimal::ZERO);
    match coin {
        Some(coin) if !to_card => {
            let whole = cash.checked_rem(coin).is_some_and(|rest| rest.is_zero());
            (!whole || r.cash_rounding.abs() > coin).then(|| {
                format!(
                    "cash {cash} with rounding {} is not a whole number of the store's {coin} coins within one coin of what was owed",
                    r.cash_rounding
                )
            })
        }
        _ => (!r.cash_rounding.is_zero()).then(|| {
            format!(
                "cash_rounding {} where nothing is paid in rounded cash",
                r.cash_rounding
            )
        }),
    }
}

/// Checks a refund against itself and the sale it reverses; returns its restocking
/// movements and the lines it takes back beyond what the sale's earlier refunds left.
fn check_refund(
    r: &RefundRecord,
    held: HeldSale<'_>,
    settings: &TaxSettings,
) -> Result<(Vec<Movement>, Vec<u32>), String> {
    let sale = held.sale;
    if r.refund_of != sale.sale_id || r.refund_of_receipt != sale.receipt_no {
        return Err(format!(
            "the refund names sale {} ({}), not the sale {} ({}) it was matched to",
            r.refund_of, r.refund_of_receipt, sale.sale_id, sale.receipt_no
        ));
    }
    if r.currency != sale.currency {
        return Err(format!(
            "currency {:?} differs from the sale's {:?}",
            r.currency, sale.currency
        ));
    }
    text("register_id", &r.register_id, MAX_ID_CHARS)?;
    text("staff_id", &r.staff_id, MAX_ID_CHARS)?;
    text("receipt_no", &r.receipt_no, MAX_TEXT_CHARS)?;
    if let Some(reason) = &r.reason {
        optional_text("reason", reason)?;
    }
    if i64::try_from(r.seq).is_err() {
        return Err(format!("seq {} is out of range", r.seq));
    }
    if let Some(link) = &r.journal {
        check_link(link, r.seq)?;
    }
    if r.lines.is_empty() {
        return Err("the refund has no lines".into());
    }
    if r.lines.len() > sale.lines.len() {
        return Err(format!(
            "{} lines; the sale has {}",
            r.lines.len(),
            sale.lines.len()
        ));
    }
    if r.payments.len() > MAX_PAYMENTS_PER_SALE {
        return Err(format!(
            "{} payments; a refund has at most {MAX_PAYMENTS_PER_SALE}",
            r.payments.len()
        ));
    }
    let dp = settings.minor_units();
    let mut movements = Vec::new();
    let mut over_refunded = Vec::new();
    let (mut net, mut tax, mut gross) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    let mut seen = HashSet::new();
    for l in &r.lines {
        let n = l.line_no;
        let Some(sold) = sale.lines.iter().find(|s| s.line_no == n) else {
            return Err(format!("the sale has no line {n}"));
        };
        if !seen.insert(n) {
            return Err(format!("line {n} is refunded twice in one refund"));
        }
        if l.product_id != sold.product_id || l.stock_tracked != sold.stock_tracked {
            return Err(format!(
                "line {n}: product {:?} is not the sale's {:?}",
                l.product_id, sold.product_id
            ));
        }
        if l.quantity <= Decimal::ZERO
            || l.quantity > MAX_QUANTITY
            || decimals(l.quantity) > QUANTITY_DECIMALS
        {
            return Err(format!(
                "line {n}: quantity {} must be above 0, at most {MAX_QUANTITY}, with at most {QUANTITY_DECIMALS} decimals",
                l.quantity
            ));
        }
        for (what, v) in [("net", l.net), ("tax", l.tax), ("gross", l.gross)] {
            money(&format!("line {n} {what}"), v, dp)?;
        }
        if l.gross != l.net + l.tax {
            return Err(format!(
                "line {n}: gross {} is not net {} plus tax {}",
                l.gross, l.net, l.tax
            ));
        }
        // One line beyond the sale's own line is no refund a till makes: refused.
        if l.quantity > sold.quantity || l.gross > sold.gross || l.tax > sold.tax {
            return Err(format!(
                "line {n} of sale {}: {} back for {} with {} tax is more than the {} sold for {} with {} tax",
                sale.receipt_no, l.quantity, l.gross, l.tax, sold.quantity, sold.gross, sold.tax
            ));
        }
        // Beyond what the refunds stored before it left of the line (another register
        // refunded it too while one of them was offline), the refund is still accepted: the
        // money left the drawer and the books must show it. The stock audit reports the
        // line (`StockAudit::over_refunds`).
        let (mut q_before, mut gross_before, mut tax_before) =
            (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        for earlier in held.refunds.iter().filter(|e| e.refund_id != r.refund_id) {
            for e in earlier.lines.iter().filter(|e| e.line_no == n) {
                q_before += e.quantity;
                gross_before += e.gross;
                tax_before += e.tax;
            }
        }
        if q_before + l.quantity > sold.quantity
            || gross_before + l.gross > sold.gross
            || tax_before + l.tax > sold.tax
        {
            over_refunded.push(n);
        }
        net += l.net;
        tax += l.tax;
        gross += l.gross;
        if l.restock && l.stock_tracked {
            let delta_milli =
                to_milli(l.quantity).ok_or_else(|| format!("line {n}: quantity out of range"))?;
            movements.push(Movement {
                product_id: l.product_id.clone(),
                delta_milli,
            });
        }
    }
    for (what, v) in [
        ("net_total", r.net_total),
        ("tax_total", r.tax_total),
        ("total", r.total),
        ("amount_paid", r.amount_paid),
    ] {
        money(what, v, dp)?;
    }
    money("cash_rounding (magnitude)", r.cash_rounding.abs(), dp)?;
    for (what, recorded, expected, how) in [
        ("net_total", r.net_total, net, "sum of line nets"),
        ("tax_total", r.tax_total, tax, "sum of line taxes"),
        ("total", r.total, gross, "sum of line grosses"),
        (
            "amount_paid",
            r.amount_paid,
            r.total + r.cash_rounding,
            "total plus cash_rounding",
        ),
    ] {
        if recorded != expected {
            return Err(format!("{what} {recorded} is not the {how} ({expected})"));
        }
    }
    let mut breakdown = Decimal::ZERO;
    let mut rates = HashSet::new();
    for p in &r.taxes {
        if !sale.taxes.iter().any(|s| s.rate_id == p.rate_id) {
            return Err(format!(
                "tax rate {:?} is not in the sale's breakdown",
                p.rate_id
            ));
        }
        if !rates.insert(p.rate_id.as_str()) {
            return Err(format!(
                "tax rate {:?} appears twice in the breakdown",
                p.rate_id
            ));
        }
        money(&format!("tax rate {:?} tax", p.rate_id), p.tax, dp)?;
        money(
            &format!("tax rate {:?} taxable_base", p.rate_id),
            p.taxable_base,
            dp,
        )?;
        breakdown += p.tax;
    }
    if breakdown != r.tax_total {
        return Err(format!(
            "the tax breakdown sums to {breakdown}, not to tax_total {}",
            r.tax_total
        ));
    }
    let mut paid = Decimal::ZERO;
    for (i, p) in r.payments.iter().enumerate() {
        let n = i + 1;
        if p.amount <= Decimal::ZERO {
            return Err(format!("payment {n}: amount {} is not positive", p.amount));
        }
        money(&format!("payment {n} amount"), p.amount, dp)?;
        if p.reference
            .as_ref()
            .is_some_and(|r| r.chars().count() > MAX_REFERENCE_CHARS)
        {
            return Err(format!(
                "payment {n}: reference longer than {MAX_REFERENCE_CHARS} characters"
            ));
        }
        if !matches!(p.method, PaymentMethod::Cash | PaymentMethod::Card) {
            return Err(format!(
                "payment {n}: a refund is paid back in cash or to a card, not {:?}",
                p.method
            ));
        }
        paid += p.amount;
    }
    if paid != r.amount_paid {
        return Err(format!(
            "payments sum to {paid}, not to amount_paid {}",
            r.amount_paid
        ));
    }
    Ok((movements, over_refunded))
}

/// A journal link the audit can follow: hashes in their form, a link that points back, a
/// bounded note. Whether it matches its predecessor is the audit's business, not a reason
/// to refuse a printed receipt.
pub fn check_link(link: &JournalLink, seq: u64) -> Result<(), String> {
    if !journal::is_hash(&link.prev) {
        return Err("journal: prev is not a lowercase hex SHA-256".into());
    }
    match &link.segment {
        Some(segment) => {
            if link.prev_seq != 0 {
                return Err(
                    "journal: a segment's first record links to its genesis (prev_seq 0)".into(),
                );
            }
            if segment
                .after
                .as_ref()
                .is_some_and(|a| !journal::is_hash(&a.hash))
            {
                return Err("journal: the segment's after.hash is not a SHA-256".into());
            }
            if let Some(note) = &segment.note {
                optional_text("journal note", note)?;
            }
        }
        None if link.prev_seq == 0 || link.prev_seq >= seq => {
            return Err(format!(
                "journal: record {seq} links to number {}, which is not before it",
                link.prev_seq
            ));
        }
        None => {}
    }
    // Whether the skip fits the record it follows is the audit's business.
    if let Some(skip) = &link.skipped
        && (skip.first == 0 || skip.first > skip.last || skip.last >= seq)
    {
        return Err(format!(
            "journal: record {seq} says numbers {} to {} were skipped, not a range before it",
            skip.first, skip.last
        ));
    }
    Ok(())
}

fn text(what: &str, v: &str, max: usize) -> Result<(), String> {
    if v.trim().is_empty() || v.chars().count() > max {
        return Err(format!("{what} must be 1 to {max} characters"));
    }
    Ok(())
}

fn optional_text(what: &str, v: &str) -> Result<(), String> {
    if v.chars().count() > MAX_TEXT_CHARS {
        return Err(format!("{what} is longer than {MAX_TEXT_CHARS} characters"));
    }
    Ok(())
}

fn money(what: &str, v: Decimal, dp: u32) -> Result<(), String> {
    if v.is_sign_negative() && !v.is_zero() {
        return Err(format!("{what} {v} is negative"));
    }
    if v > MAX_AMOUNT {
        return Err(format!("{what} {v} exceeds the maximum of {MAX_AMOUNT}"));
    }
    if decimals(v) > dp {
        return Err(format!(
            "{what} {v} has more than the currency's {dp} decimals"
        ));
    }
    Ok(())
}

fn discount(what: &str, d: &Discount, dp: u32) -> Result<(), String> {
    match *d {
        Discount::Percent(p) if p < Decimal::ZERO || p > Decimal::ONE_HUNDRED => {
            Err(format!("{what}: percent {p} is not between 0 and 100"))
        }
        Discount::Percent(_) => Ok(()),
        Discount::Amount(a) => money(what, a, dp),
    }
}

/// Thousandths of a unit, the exact integer form stock is kept in.
pub fn to_milli(q: Decimal) -> Option<i64> {
    let scaled = q.checked_mul(Decimal::from(1000))?;
    if !scaled.fract().is_zero() {
        return None;
    }
    i64::try_from(scaled).ok()
}

/// The decimal form of thousandths (1500 -> 1.5).
pub fn from_milli(m: i64) -> Decimal {
    Decimal::new(m, 3).normalize()
}

/// Checks a catalogue before it is loaded; devices refuse a bad payload whole, so a bad
/// one must never be served.
pub fn check_catalog(store_id: &str, c: &CatalogFile) -> Result<(), StoreError> {
    let bad = |m: String| Err(StoreError::Invalid(m));
    if let Some(id) = c.store_id.as_ref().filter(|id| *id != store_id) {
        return bad(format!("the file is for store {id:?}, not {store_id:?}"));
    }
    if c.store_name
        .as_ref()
        .is_some_and(|n| n.trim().is_empty() || n.chars().count() > MAX_TEXT_CHARS)
    {
        return bad(format!(
            "store_name must be 1 to {MAX_TEXT_CHARS} characters"
        ));
    }
    c.tax
        .validate()
        .map_err(|e| StoreError::Invalid(format!("tax settings: {e}")))?;
    // The device's own checks: a catalogue the server accepts is one every device accepts.
    tillkit_core::catalog::check_contents(&c.products, &c.discounts, &c.tax, MAX_TEXT_CHARS)
        .map_err(|e| StoreError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{d, product, sale, uk_catalog, uk_tax};

    #[test]
    fn a_recorded_skip_must_be_a_range_before_its_record() {
        use tillkit_core::journal::SeqRange;
        let link = |first, last| JournalLink {
            prev_seq: 3,
            prev: "a".repeat(64),
            segment: None,
            skipped: Some(SeqRange { first, last }),
        };
        assert_eq!(check_link(&link(4, 10), 11), Ok(()));
        // Whether it fits the record it follows is the audit's business (a skip mismatch).
        assert_eq!(check_link(&link(5, 9), 11), Ok(()));
        for (first, last) in [(0, 10), (8, 4), (4, 11), (4, 12)] {
            assert!(
                check_link(&link(first, last), 11).is_err(),
                "{first}..{last}"
            );
        }
    }

    #[test]
    fn a_till_made_sale_is_accepted_with_one_movement_per_tracked_line() {
        let c = uk_catalog();
        let s = sale(
            &uk_tax(),
            "s",
            "R1",
            1,
            &[
                (product(&c, "p-kettle"), d("2")),
                (product(&c, "p-bread"), d("1")),
            ],
        );
        let Decision::Accept(a) = decide(&s, "s", "R1", &uk_tax(), None).expect("decide") else {
            panic!("a consistent sale must be accepted");
        };
        assert_eq!(
            a.movements,
            [Movement {
                product_id: "p-kettle".into(),
                delta_milli: -2000
            }]
        );
        assert!(a.tax_check.totals_match);
        assert_eq!(a.tax_check.tax_difference, Some(Decimal::ZERO));
        assert_eq!(
            decide(&s, "s", "R1", &uk_tax(), Some(&a.canonical)).expect("decide"),
            Decision::Duplicate
        );
    }

    #[test]
    fn a_sale_for_another_store_is_rejected_before_any_lookup() {
        let c = uk_catalog();
        let s = sale(
            &uk_tax(),
            "other",
            "R1",
            1,
            &[(product(&c, "p-kettle"), d("1"))],
        );
        let stored = canonical(&s).expect("json");
        // Even when the id exists, another store's sale is never compared with it.
        assert!(matches!(
            decide(&s, "s", "R1", &uk_tax(), Some(&stored)),
            Ok(Decision::Rejected(_))
        ));
    }

    #[test]
    fn a_sale_of_another_register_is_rejected_before_any_lookup() {
        let c = uk_catalog();
        let s = sale(
            &uk_tax(),
            "s",
            "R2",
            1,
            &[(product(&c, "p-kettle"), d("1"))],
        );
        let stored = canonical(&s).expect("json");
        // R1's token cannot inject R2's sales, nor learn whether R2's ids are stored.
        for existing in [None, Some(stored.as_str())] {
            match decide(&s, "s", "R1", &uk_tax(), existing) {
                Ok(Decision::Rejected(why)) => assert!(why.contains("register \"R2\""), "{why}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_batch_prepared_on_every_core_decides_exactly_as_sale_by_sale() {
        let c = uk_catalog();
        let batch: Vec<SaleRecord> = (1..=60)
            .map(|i| {
                let mut s = sale(
                    &uk_tax(),
                    "s",
                    "R1",
                    i,
                    &[(product(&c, "p-kettle"), d("1"))],
                );
                match i % 5 {
                    0 => s.total += Decimal::ONE,
                    1 => s.register_id = "R2".into(),
                    _ => {}
                }
                s
            })
            .collect();
        let together = prepare_batch(&batch, "s", "R1", &uk_tax()).expect("prepare");
        let one_by_one: Vec<Prepared> = batch
            .iter()
            .map(|s| prepare(s, "s", "R1", &uk_tax()).expect("prepare"))
            .collect();
        assert_eq!(together, one_by_one, "same verdicts, same order");
        let rejected = together
            .into_iter()
            .filter(|p| matches!(p.clone().resolve(None), Decision::Rejected(_)))
            .count();
        assert_eq!(rejected, 24);
    }

    #[test]
    fn an_unrecomputable_sale_is_accepted_with_the_reason_recorded() {
        let c = uk_catalog();
        let s = sale(
            &uk_tax(),
            "s",
            "R1",
            1,
            &[(product(&c, "p-kettle"), d("1"))],
        );
        let mut store_tax = uk_tax();
        store_tax.categories.retain(|c| c.id != "standard");
        let Decision::Accept(a) = decide(&s, "s", "R1", &store_tax, None).expect("decide") else {
            panic!("the receipt stands even if the store dropped its category");
        };
        assert!(a.tax_check.server_totals.is_none() && a.tax_check.tax_difference.is_none());
        assert!(a.tax_check.error.expect("reason").contains("standard"));
    }

    #[test]
    fn a_refund_of_a_sale_whose_settings_were_not_kept_is_accepted_unrecomputed() {
        let c = uk_catalog();
        let s = sale(
            &uk_tax(),
            "s",
            "R1",
            1,
            &[(product(&c, "p-kettle"), d("2"))],
        );
        let r = crate::testkit::device_refund(&s, &uk_tax(), "R1", 2, 1, d("1"), d("0"), d("0"));
        let decide = |settings| {
            let held = HeldSale {
                sale: &s,
                refunds: &[],
                settings,
            };
            match decide_refund(&r, "s", "R1", &uk_tax(), None, Some(held)).expect("decide") {
                Decision::Accept(a) => a.tax_check,
                other => panic!("accepted whatever the tax check finds: {other:?}"),
            }
        };
        let kept = uk_tax();
        let checked = decide(Some(&kept));
        assert!(
            checked.totals_match && checked.error.is_none(),
            "{checked:?}"
        );
        assert_eq!(checked.tax_difference, Some(d("0")));
        // A sale stored before the server kept every version of the settings.
        let unchecked = decide(None);
        assert!(!unchecked.totals_match && unchecked.tax_difference.is_none());
        assert!(unchecked.error.expect("reason").contains("not recomputed"));
    }

    #[test]
    fn cash_rounding_follows_the_stores_coin_or_nothing() {
        let c = uk_catalog();
        let s = sale(
            &uk_tax(),
            "s",
            "R1",
            1,
            &[(product(&c, "p-kettle"), d("1"))],
        );
        let mut r = crate::testkit::refund(&s, "R1", 2, 1, d("1"));
        let mut coin = uk_tax();
        coin.cash_rounding = Some(tillkit_core::tax::CashRounding {
            increment: d("0.05"),
            rule: tillkit_core::money::RoundingRule::HalfUp,
        });
        // 34.99 back in cash: no coin, no rounding.
        assert_eq!(cash_rounding_differs(&r, &uk_tax()), None);
        // A store with a 0.05 coin: 35.00 (one cent up) is right, 34.99 is no whole coin,
        // 35.05 is more than a coin off.
        let pay = |r: &mut RefundRecord, rounding: &str| {
            r.cash_rounding = d(rounding);
            r.amount_paid = r.total + r.cash_rounding;
            r.payments[0].amount = r.amount_paid;
        };
        pay(&mut r, "0.01");
        assert_eq!(cash_rounding_differs(&r, &coin), None);
        assert!(
            cash_rounding_differs(&r, &uk_tax()).is_some(),
            "no coin: no rounding"
        );
        pay(&mut r, "0");
        assert!(cash_rounding_differs(&r, &coin).is_some());
        pay(&mut r, "0.06");
        assert!(cash_rounding_differs(&r, &coin).is_some());
        // Exactly a coin off: half-even rounding of a running sum can pay 0.20 for 0.10 owed.
        let mut dime = coin.clone();
        dime.cash_rounding = Some(tillkit_core::tax::CashRounding {
            increment: d("0.10"),
            rule: tillkit_core::money::RoundingRule::HalfEven,
        });
        let mut small = r.clone();
        small.total = d("0.10");
        pay(&mut small, "0.10");
        assert_eq!(
            cash_rounding_differs(&small, &dime),
            None,
            "0.20 for 0.10: one coin up"
        );
        pay(&mut small, "0.20");
        assert!(
            cash_rounding_differs(&small, &dime).is_some(),
            "two coins up"
        );
        // A small piece that rounds down to nothing pays no cash at all.
        let mut piece = r.clone();
        (piece.total, piece.cash_rounding, piece.amount_paid) = (d("0.02"), d("-0.02"), d("0"));
        piece.payments.clear();
        assert_eq!(cash_rounding_differs(&piece, &coin), None);
        assert!(
            cash_rounding_differs(&piece, &uk_tax()).is_some(),
            "no coin: no rounding"
        );
        pay(&mut r, "-0.04");
        assert_eq!(cash_rounding_differs(&r, &coin), None, "34.95: a coin down");
        // Back to a card: nothing is rounded.
        r.payments[0].method = PaymentMethod::Card;
        assert!(cash_rounding_differs(&r, &coin).is_some());
        pay(&mut r, "0");
        assert_eq!(cash_rounding_differs(&r, &coin), None);
    }

    #[test]
    fn milli_conversion_is_exact_or_refused() {
        assert_eq!(to_milli(d("5.125")), Some(5125));
        assert_eq!(to_milli(d("-2")), Some(-2000));
        assert_eq!(to_milli(d("0.0001")), None);
        assert_eq!(from_milli(5125), d("5.125"));
        assert_eq!(from_milli(-1000).to_string(), "-1");
    }

    #[test]
    fn bad_catalogues_are_refused_whole() {
        type Tamper = fn(&mut CatalogFile);
        let cases: [(&str, Tamper); 8] = [
            ("for store", |c| c.store_id = Some("elsewhere".into())),
            ("duplicate product id", |c| {
                c.products[1].id = c.products[0].id.clone()
            }),
            ("duplicate sku", |c| {
                c.products[1].sku = c.products[0].sku.clone()
            }),
            ("decimals", |c| c.products[0].price = d("1.001")),
            ("negative", |c| c.products[0].price = d("-1")),
            ("unknown tax category", |c| {
                c.products[0].tax_category = Some("nope".into())
            }),
            ("stock", |c| c.products[0].stock = d("1.0001")),
            ("tax settings", |c| c.tax.currency = "XXX".into()),
        ];
        assert!(check_catalog("s", &uk_catalog()).is_ok());
        for (why, tamper) in cases {
            let mut c = uk_catalog();
            tamper(&mut c);
            match check_catalog("s", &c) {
                Err(StoreError::Invalid(m)) => assert!(m.contains(why), "{why:?} not in {m:?}"),
                other => panic!("{why}: {other:?}"),
            }
        }
    }
}
