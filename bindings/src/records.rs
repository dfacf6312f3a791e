//! The plain data that crosses the FFI and its conversions from the core's types.
//! Money and quantities cross as exact decimal strings ("34.99", "0.375"), never floats.

use rust_decimal::Decimal;
use tillkit_core::cart::{AppliedDiscount, CartLine};
use tillkit_core::catalog::{ImportSummary, Product};
use tillkit_core::metrics::Metrics;
use tillkit_core::outbox::{QueueState as CoreQueueState, QueuedSale};
use tillkit_core::sale::{Payment, PaymentMethod as CorePaymentMethod, SaleLine, SaleRecord};
use tillkit_core::sync::{
    Connectivity as CoreConnectivity, ProtocolMismatch as CoreMismatch, StoreBacklog,
    StoreBlock as CoreStoreBlock, SyncStatus,
};
use tillkit_core::tax::{Discount, LineTotals, TaxPortion, TaxSettings, Totals};

use crate::error::TillkitError;

/// Longest decimal string accepted; far above any real amount, short enough to refuse junk.
const MAX_DECIMAL_CHARS: usize = 40;

/// Parses a decimal string the app sent (`"12"`, `"0.375"`, `"-1.5"`) exactly, or refuses it.
pub(crate) fn parse_decimal(what: &str, text: &str) -> Result<Decimal, TillkitError> {
    let refuse = || {
        TillkitError::invalid(format!(
            "{what} {text:?} is not a decimal number like \"12.50\""
        ))
    };
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "0"));
    // Only plain notation: no exponents, separators, spaces or signs elsewhere.
    let plain = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if text.len() > MAX_DECIMAL_CHARS || !plain(int) || !plain(frac) {
        return Err(refuse());
    }
    // `from_str_exact` refuses values it would have to round.
    Decimal::from_str_exact(text).map_err(|_| refuse())
}

fn parse_optional(what: &str, text: Option<String>) -> Result<Option<Decimal>, TillkitError> {
    text.map(|t| parse_decimal(what, &t)).transpose()
}

/// A product of the store's catalogue.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ProductRecord {
    pub id: String,
    pub sku: String,
    pub name: String,
    /// Shelf price (decimal string), in the store's price mode.
    pub price: String,
    pub tax_category: Option<String>,
    pub barcodes: Vec<String>,
    pub stock_tracked: bool,
    /// Stock on this device (decimal string; may be negative after offline oversells).
    pub stock: String,
    pub active: bool,
}

impl From<Product> for ProductRecord {
    fn from(p: Product) -> Self {
        ProductRecord {
            id: p.id,
            sku: p.sku,
            name: p.name,
            price: p.price.to_string(),
            tax_category: p.tax_category,
            barcodes: p.barcodes,
            stock_tracked: p.stock_tracked,
            stock: p.stock.to_string(),
            active: p.active,
        }
    }
}

/// Whether a discount is a percentage or an amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DiscountKind {
    Percent,
    Amount,
}

/// A discount as applied: its kind and value (a percent or an amount, decimal string).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct DiscountRecord {
    pub kind: DiscountKind,
    pub value: String,
}

impl From<&Discount> for DiscountRecord {
    fn from(d: &Discount) -> Self {
        match d {
            Discount::Percent(v) => DiscountRecord {
                kind: DiscountKind::Percent,
                value: v.to_string(),
            },
            Discount::Amount(v) => DiscountRecord {
                kind: DiscountKind::Amount,
                value: v.to_string(),
            },
        }
    }
}

/// A catalogue discount applied to a cart line or the cart.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct AppliedDiscountRecord {
    pub discount_id: String,
    pub label: String,
    pub discount: DiscountRecord,
}

impl From<&AppliedDiscount> for AppliedDiscountRecord {
    fn from(d: &AppliedDiscount) -> Self {
        AppliedDiscountRecord {
            discount_id: d.discount_id.clone(),
            label: d.label.clone(),
            discount: (&d.discount).into(),
        }
    }
}

/// One line of a cart as the cashier added it (price as it was when added).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CartLineRecord {
    pub line_id: u64,
    pub product_id: String,
    pub sku: String,
    pub name: String,
    pub unit_price: String,
    pub quantity: String,
    pub tax_category: Option<String>,
    pub discount: Option<AppliedDiscountRecord>,
}

impl From<&CartLine> for CartLineRecord {
    fn from(l: &CartLine) -> Self {
        CartLineRecord {
            line_id: l.line_id,
            product_id: l.product_id.clone(),
            sku: l.sku.clone(),
            name: l.name.clone(),
            unit_price: l.unit_price.to_string(),
            quantity: l.quantity.to_string(),
            tax_category: l.tax_category.clone(),
            discount: l.discount.as_ref().map(Into::into),
        }
    }
}

/// Tax of one rate, on a line or summed over the sale.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TaxLineRecord {
    pub rate_id: String,
    /// Receipt label, e.g. "VAT 20%".
    pub label: String,
    pub percent: String,
    /// Amount the rate applies to.
    pub taxable_base: String,
    pub tax: String,
}

impl From<&TaxPortion> for TaxLineRecord {
    fn from(t: &TaxPortion) -> Self {
        TaxLineRecord {
            rate_id: t.rate_id.clone(),
            label: t.label.clone(),
            percent: t.percent.to_string(),
            taxable_base: t.taxable_base.to_string(),
            tax: t.tax.to_string(),
        }
    }
}

fn tax_lines(portions: &[TaxPortion]) -> Vec<TaxLineRecord> {
    portions.iter().map(Into::into).collect()
}

/// Amounts of one cart line.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct LineTotalsRecord {
    /// The cart line these amounts belong to.
    pub line_id: u64,
    /// Unit price times quantity, rounded.
    pub amount: String,
    pub line_discount: String,
    /// This line's share of the cart discount.
    pub cart_discount: String,
    /// Amount after discounts, without tax.
    pub net: String,
    pub tax: String,
    /// `net + tax`.
    pub gross: String,
    /// Tax per rate.
    pub taxes: Vec<TaxLineRecord>,
}

/// Live totals of a cart.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TotalsRecord {
    /// ISO 4217 code of every amount.
    pub currency: String,
    /// One entry per cart line, in cart order.
    pub lines: Vec<LineTotalsRecord>,
    pub subtotal: String,
    pub discount_total: String,
    pub net_total: String,
    pub tax_total: String,
    /// What the customer pays before cash rounding.
    pub total: String,
    /// What a customer paying all in cash owes: the total after the store's cash rounding
    /// (equal to `total` where the store has none). Preview change against this.
    pub cash_due: String,
    /// Tax per rate over the sale.
    pub breakdown: Vec<TaxLineRecord>,
}

impl TotalsRecord {
    /// Pairs the core's totals with the cart lines they were computed from (same order).
    pub(crate) fn new(settings: &TaxSettings, lines: &[CartLine], t: &Totals) -> Self {
        let line = |(l, lt): (&CartLine, &LineTotals)| LineTotalsRecord {
            line_id: l.line_id,
            amount: lt.amount.to_string(),
            line_discount: lt.line_discount.to_string(),
            cart_discount: lt.cart_discount.to_string(),
            net: lt.net.to_string(),
            tax: lt.tax.to_string(),
            gross: lt.gross.to_string(),
            taxes: tax_lines(&lt.taxes),
        };
        TotalsRecord {
            currency: settings.currency.clone(),
            lines: lines.iter().zip(&t.lines).map(line).collect(),
            subtotal: t.subtotal.to_string(),
            discount_total: t.discount_total.to_string(),
            net_total: t.net_total.to_string(),
            tax_total: t.tax_total.to_string(),
            total: t.total.to_string(),
            cash_due: tillkit_core::tax::cash_due(settings, t.total)
                .due
                .to_string(),
            breakdown: tax_lines(&t.breakdown),
        }
    }
}

/// How a payment was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PaymentMethod {
    Cash,
    /// Paid on an external card terminal; its reference is required.
    Card,
    /// Needs the server: refused offline.
    StoreCredit,
    /// Needs the server: refused offline.
    GiftCard,
    /// Needs the server: refused offline.
    Loyalty,
}

impl From<PaymentMethod> for CorePaymentMethod {
    fn from(m: PaymentMethod) -> Self {
        match m {
            PaymentMethod::Cash => CorePaymentMethod::Cash,
            PaymentMethod::Card => CorePaymentMethod::Card,
            PaymentMethod::StoreCredit => CorePaymentMethod::StoreCredit,
            PaymentMethod::GiftCard => CorePaymentMethod::GiftCard,
            PaymentMethod::Loyalty => CorePaymentMethod::Loyalty,
        }
    }
}

impl From<CorePaymentMethod> for PaymentMethod {
    fn from(m: CorePaymentMethod) -> Self {
        match m {
            CorePaymentMethod::Cash => PaymentMethod::Cash,
            CorePaymentMethod::Card => PaymentMethod::Card,
            CorePaymentMethod::StoreCredit => PaymentMethod::StoreCredit,
            CorePaymentMethod::GiftCard => PaymentMethod::GiftCard,
            CorePaymentMethod::Loyalty => PaymentMethod::Loyalty,
        }
    }
}

/// A payment as the cashier entered it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PaymentRecord {
    pub method: PaymentMethod,
    /// Decimal string; for cash, the amount tendered (change is computed).
    pub amount: String,
    /// The card terminal's transaction reference (card only).
    #[uniffi(default = None)]
    pub reference: Option<String>,
}

impl TryFrom<PaymentRecord> for Payment {
    type Error = TillkitError;

    fn try_from(p: PaymentRecord) -> Result<Self, TillkitError> {
        Ok(Payment {
            method: p.method.into(),
            amount: parse_decimal("payment amount", &p.amount)?,
            reference: p.reference,
        })
    }
}

impl From<&Payment> for PaymentRecord {
    fn from(p: &Payment) -> Self {
        PaymentRecord {
            method: p.method.into(),
            amount: p.amount.to_string(),
            reference: p.reference.clone(),
        }
    }
}

/// One line of a completed sale, as printed on the receipt.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ReceiptLineRecord {
    pub line_no: u32,
    pub product_id: String,
    pub sku: String,
    pub name: String,
    pub unit_price: String,
    pub quantity: String,
    pub tax_category: Option<String>,
    pub discount: Option<DiscountRecord>,
    pub amount: String,
    pub line_discount: String,
    pub cart_discount: String,
    pub net: String,
    pub tax: String,
    pub gross: String,
}

impl From<&SaleLine> for ReceiptLineRecord {
    fn from(l: &SaleLine) -> Self {
        ReceiptLineRecord {
            line_no: l.line_no,
            product_id: l.product_id.clone(),
            sku: l.sku.clone(),
            name: l.name.clone(),
            unit_price: l.unit_price.to_string(),
            quantity: l.quantity.to_string(),
            tax_category: l.tax_category.clone(),
            discount: l.discount.as_ref().map(Into::into),
            amount: l.amount.to_string(),
            line_discount: l.line_discount.to_string(),
            cart_discount: l.cart_discount.to_string(),
            net: l.net.to_string(),
            tax: l.tax.to_string(),
            gross: l.gross.to_string(),
        }
    }
}

/// A completed, durable sale: everything the receipt shows.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SaleReceipt {
    /// Client-made id (UUID v7, made with its cart), the same on every upload retry.
    pub sale_id: String,
    /// e.g. `R07-000042`.
    pub receipt_no: String,
    pub store_id: String,
    pub register_id: String,
    pub staff_id: String,
    /// Device clock at completion (Unix ms).
    pub created_at_ms: i64,
    pub currency: String,
    pub lines: Vec<ReceiptLineRecord>,
    pub cart_discount: Option<DiscountRecord>,
    pub subtotal: String,
    pub discount_total: String,
    pub net_total: String,
    pub tax_total: String,
    pub total: String,
    pub taxes: Vec<TaxLineRecord>,
    /// Cash rounding adjustment (never changes tax).
    pub cash_rounding: String,
    /// What the customer owed after cash rounding.
    pub amount_due: String,
    pub tendered: String,
    pub change_due: String,
    pub payments: Vec<PaymentRecord>,
    /// Some tracked product went below zero stock with this sale.
    pub oversold: bool,
}

impl From<SaleRecord> for SaleReceipt {
    fn from(r: SaleRecord) -> Self {
        SaleReceipt {
            sale_id: r.sale_id.to_string(),
            receipt_no: r.receipt_no,
            store_id: r.store_id,
            register_id: r.register_id,
            staff_id: r.staff_id,
            created_at_ms: r.created_at,
            currency: r.currency,
            lines: r.lines.iter().map(Into::into).collect(),
            cart_discount: r.cart_discount.as_ref().map(Into::into),
            subtotal: r.subtotal.to_string(),
            discount_total: r.discount_total.to_string(),
            net_total: r.net_total.to_string(),
            tax_total: r.tax_total.to_string(),
            total: r.total.to_string(),
            taxes: tax_lines(&r.taxes),
            cash_rounding: r.cash_rounding.to_string(),
            amount_due: r.amount_due.to_string(),
            tendered: r.tendered.to_string(),
            change_due: r.change_due.to_string(),
            payments: r.payments.iter().map(Into::into).collect(),
            oversold: r.oversold,
        }
    }
}

/// Where a queued sale stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum QueueState {
    /// Waiting for upload (retried automatically).
    Pending,
    /// Still pending and retried automatically, but the network path refused it even on its
    /// own (e.g. too large for a proxy): shown on the attention screen too.
    Parked,
    /// The server rejected it; a person must look at it.
    Attention,
}

/// A sale the server has not acknowledged yet.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct QueuedSaleRecord {
    pub sale_id: String,
    pub store_id: String,
    pub receipt_no: String,
    pub total: String,
    pub currency: String,
    pub state: QueueState,
    /// When it was queued (Unix ms).
    pub enqueued_at_ms: i64,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// The server's reason, for sales set aside.
    pub reason: Option<String>,
    /// For parked sales: when it is tried again (Unix ms).
    pub retry_at_ms: Option<i64>,
}

impl From<QueuedSale> for QueuedSaleRecord {
    fn from(q: QueuedSale) -> Self {
        QueuedSaleRecord {
            sale_id: q.sale_id,
            store_id: q.store_id,
            receipt_no: q.receipt_no,
            total: q.total,
            currency: q.currency,
            state: match q.state {
                CoreQueueState::Pending => QueueState::Pending,
                CoreQueueState::Parked => QueueState::Parked,
                CoreQueueState::Attention => QueueState::Attention,
            },
            enqueued_at_ms: q.enqueued_at,
            attempts: q.attempts,
            last_error: q.last_error,
            reason: q.reason,
            retry_at_ms: q.retry_at,
        }
    }
}

/// Why a store's sales cannot upload now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum StoreBlock {
    /// This device holds no token for the store.
    NoToken,
    /// The server refused the store's token: a person must enter a new one.
    TokenRefused,
}

/// One store's unsent sales on this device.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct StoreBacklogRecord {
    pub store_id: String,
    /// Sales waiting for upload, parked ones included.
    pub pending: u64,
    /// Of those, parked (refused by the network path even alone; still retried).
    pub parked: u64,
    /// Sales the server set aside.
    pub set_aside: u64,
    /// Why none of them can upload now, if so.
    pub blocked: Option<StoreBlock>,
}

impl From<StoreBacklog> for StoreBacklogRecord {
    fn from(s: StoreBacklog) -> Self {
        StoreBacklogRecord {
            store_id: s.store_id,
            pending: s.pending,
            parked: s.parked,
            set_aside: s.set_aside,
            blocked: s.blocked.map(|b| match b {
                CoreStoreBlock::NoToken => StoreBlock::NoToken,
                CoreStoreBlock::TokenRefused => StoreBlock::TokenRefused,
            }),
        }
    }
}

/// The app and its server speak no common sync protocol version; sales stay queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ProtocolMismatch {
    /// "Server too old for this app": the server must be updated.
    ServerTooOld { app: u32, server_max: u32 },
    /// The app is older than anything the server serves: update the app.
    AppTooOld { app: u32, server_min: u32 },
}

/// Green or amber, as the cashier sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Connectivity {
    /// The server answered recently.
    Online,
    /// No network, or the server is unreachable.
    Offline,
}

/// Everything the status pill and the needs-attention badge show.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SyncStatusRecord {
    pub connectivity: Connectivity,
    /// An upload is in progress.
    pub syncing: bool,
    /// Sales waiting for upload on this device, every store (never 0 while one is unsent).
    pub pending: u64,
    /// Age of the oldest pending sale, in whole seconds.
    pub oldest_pending_age_secs: Option<u64>,
    /// When the queue was last fully acknowledged (Unix ms).
    pub last_success_at_ms: Option<i64>,
    /// The last sync error, readable.
    pub last_error: Option<String>,
    /// Sales set aside by the server or parked, plus 1 per store whose sales cannot upload.
    pub attention: u64,
    /// The server refuses the token of a store with unsent sales (401/403).
    pub auth_failed: bool,
    /// A store with unsent sales has no token or a refused one: show "needs pairing" and
    /// the pairing screen. Its sales stay queued and upload once it is paired again.
    pub needs_pairing: bool,
    /// Set while the server and this app speak no common protocol version.
    pub protocol_mismatch: Option<ProtocolMismatch>,
    /// Every store with unsent sales on this device.
    pub stores: Vec<StoreBacklogRecord>,
    /// The session store's offline limits, window and warnings (`null`/`nil` without a session).
    pub offline: Option<crate::offline_limits::OfflineStatusRecord>,
}

impl From<SyncStatus> for SyncStatusRecord {
    fn from(s: SyncStatus) -> Self {
        SyncStatusRecord {
            connectivity: match s.connectivity {
                CoreConnectivity::Online => Connectivity::Online,
                CoreConnectivity::Offline => Connectivity::Offline,
            },
            syncing: s.syncing,
            pending: s.pending,
            oldest_pending_age_secs: s.oldest_pending_age().map(|d| d.as_secs()),
            last_success_at_ms: s.last_success_at,
            last_error: s.last_error,
            attention: s.attention,
            auth_failed: s.auth_failed,
            needs_pairing: s.needs_pairing,
            protocol_mismatch: s.protocol_mismatch.map(|m| match m {
                CoreMismatch::ServerTooOld { app, server } => ProtocolMismatch::ServerTooOld {
                    app,
                    server_max: server.max,
                },
                CoreMismatch::AppTooOld { app, server } => ProtocolMismatch::AppTooOld {
                    app,
                    server_min: server.min,
                },
            }),
            stores: s.stores.into_iter().map(Into::into).collect(),
            offline: s.offline.map(Into::into),
        }
    }
}

/// Operator metrics for the current store on this device.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct MetricsRecord {
    /// Sale attempts made while offline.
    pub offline_attempts: u64,
    /// Of those, sales that completed.
    pub offline_completed: u64,
    /// `offline_completed / offline_attempts` (a ratio, not money), if any attempts.
    pub offline_success_rate: Option<f64>,
    /// Reconnects measured (network up to queue empty).
    pub latency_samples: u64,
    pub sync_latency_p50_ms: Option<u64>,
    pub sync_latency_p95_ms: Option<u64>,
    /// Database file plus its WAL.
    pub database_bytes: u64,
    /// Queued sale payloads.
    pub queued_bytes: u64,
    /// Free space on the data directory's volume.
    pub free_bytes: Option<u64>,
}

impl From<Metrics> for MetricsRecord {
    fn from(m: Metrics) -> Self {
        MetricsRecord {
            offline_attempts: m.offline_attempts,
            offline_completed: m.offline_completed,
            offline_success_rate: m.offline_success_rate,
            latency_samples: m.latency_samples,
            sync_latency_p50_ms: m.sync_latency_p50_ms,
            sync_latency_p95_ms: m.sync_latency_p95_ms,
            database_bytes: m.database_bytes,
            queued_bytes: m.queued_bytes,
            free_bytes: m.free_bytes,
        }
    }
}

/// What a catalogue import left on the device.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CatalogImportRecord {
    /// Products the store now has on the device.
    pub products: u64,
    /// The cursor the next delta is asked from.
    pub cursor: String,
}

impl From<ImportSummary> for CatalogImportRecord {
    fn from(s: ImportSummary) -> Self {
        CatalogImportRecord {
            products: s.products,
            cursor: s.cursor,
        }
    }
}

/// Parses the app's optional discount value.
pub(crate) fn parse_discount_value(value: Option<String>) -> Result<Option<Decimal>, TillkitError> {
    parse_optional("discount value", value)
}

/// The register a pairing made this device, in its store (the token stays in the keychain).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PairedRegister {
    pub store_id: String,
    pub register_id: String,
}

/// What a scanned pairing QR code (or a pasted link or code) holds: the code in groups of
/// four, and the server it was made for when the link names one.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ScannedPairing {
    pub code: String,
    pub server_url: Option<String>,
}

impl From<tillkit_core::sync::ScannedPairing> for ScannedPairing {
    fn from(s: tillkit_core::sync::ScannedPairing) -> Self {
        ScannedPairing {
            code: s.code,
            server_url: s.server_url,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_decimals_parse_exactly_and_keep_their_scale() {
        for ok in ["0", "12", "12.50", "0.375", "-1.5", "1000000000000"] {
            assert_eq!(parse_decimal("x", ok).expect(ok).to_string(), ok);
        }
    }

    #[test]
    fn anything_but_plain_notation_is_invalid_input() {
        for bad in [
            "", " 1", "1 ", "1e3", "1_000", "1,5", ".5", "5.", "+1", "--1", "NaN", "0x10", "١٢",
        ] {
            assert!(
                matches!(
                    parse_decimal("quantity", bad),
                    Err(TillkitError::InvalidInput { .. })
                ),
                "{bad:?} should be refused"
            );
        }
        let too_precise = format!("0.{}", "1".repeat(30));
        assert!(matches!(
            parse_decimal("x", &too_precise),
            Err(TillkitError::InvalidInput { .. })
        ));
    }
}

/// Which sale a refund reverses: its receipt number as printed or scanned, or its id.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SaleRefRecord {
    Receipt { receipt_no: String },
    SaleId { sale_id: String },
}

impl From<SaleRefRecord> for tillkit_core::refund::SaleRef {
    fn from(r: SaleRefRecord) -> Self {
        match r {
            SaleRefRecord::Receipt { receipt_no } => {
                tillkit_core::refund::SaleRef::Receipt(receipt_no)
            }
            SaleRefRecord::SaleId { sale_id } => tillkit_core::refund::SaleRef::SaleId(sale_id),
        }
    }
}

/// Some quantity (a decimal string) of one line of the sale.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RefundItemRecord {
    pub line_no: u32,
    pub quantity: String,
    /// Back to stock (ignored for products whose stock is not tracked).
    pub restock: bool,
}

/// What is refunded: everything still refundable, or these lines.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum RefundLinesRecord {
    Everything { restock: bool },
    Items { items: Vec<RefundItemRecord> },
}

/// How the money goes back: cash (with the store's cash rounding) or to the card.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum RefundTenderRecord {
    Cash,
    Card { reference: String },
}

/// A refund as the cashier asks for it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RefundRequestRecord {
    /// The refund's id, a UUID the app makes once when the refund screen opens and sends
    /// again on every retry of that refund (Kotlin `UUID.randomUUID().toString()`, Swift
    /// `UUID().uuidString`): a retry returns the refund already given, never a second one.
    pub refund_id: String,
    pub sale: SaleRefRecord,
    pub lines: RefundLinesRecord,
    pub tender: RefundTenderRecord,
    #[uniffi(default = None)]
    pub reason: Option<String>,
}

impl TryFrom<RefundRequestRecord> for tillkit_core::refund::RefundRequest {
    type Error = TillkitError;

    fn try_from(r: RefundRequestRecord) -> Result<Self, TillkitError> {
        use tillkit_core::refund::{RefundItem, RefundLines, RefundTender};
        let lines = match r.lines {
            RefundLinesRecord::Everything { restock } => RefundLines::Everything { restock },
            RefundLinesRecord::Items { items } => RefundLines::Items(
                items
                    .into_iter()
                    .map(|i| {
                        Ok(RefundItem {
                            line_no: i.line_no,
                            quantity: parse_decimal("refund quantity", &i.quantity)?,
                            restock: i.restock,
                        })
                    })
                    .collect::<Result<_, TillkitError>>()?,
            ),
        };
        let refund_id = uuid::Uuid::parse_str(r.refund_id.trim())
            .ok()
            .filter(|id| !id.is_nil())
            .ok_or_else(|| {
                TillkitError::invalid(format!("refund id {:?} is not a UUID", r.refund_id))
            })?;
        Ok(tillkit_core::refund::RefundRequest {
            refund_id,
            sale: r.sale.into(),
            lines,
            tender: match r.tender {
                RefundTenderRecord::Cash => RefundTender::Cash,
                RefundTenderRecord::Card { reference } => RefundTender::Card { reference },
            },
            reason: r.reason,
        })
    }
}

/// One refunded line: the sale line and the part of its figures coming back.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RefundLineRecord {
    pub line_no: u32,
    pub product_id: String,
    pub sku: String,
    pub name: String,
    pub unit_price: String,
    pub quantity: String,
    pub net: String,
    pub tax: String,
    pub gross: String,
    pub taxes: Vec<TaxLineRecord>,
    pub restock: bool,
}

/// A completed, durable refund: everything its receipt shows. Amounts positive: what went
/// back.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RefundReceipt {
    pub refund_id: String,
    /// The sale it reverses, and that sale's receipt number.
    pub refund_of: String,
    pub refund_of_receipt: String,
    /// Its own number in the register's sequence (shared with sales).
    pub receipt_no: String,
    pub store_id: String,
    pub register_id: String,
    pub staff_id: String,
    pub created_at_ms: i64,
    pub currency: String,
    pub lines: Vec<RefundLineRecord>,
    pub net_total: String,
    pub tax_total: String,
    pub total: String,
    pub taxes: Vec<TaxLineRecord>,
    pub cash_rounding: String,
    pub amount_paid: String,
    pub payments: Vec<PaymentRecord>,
    pub reason: Option<String>,
}

impl From<tillkit_core::refund::RefundRecord> for RefundReceipt {
    fn from(r: tillkit_core::refund::RefundRecord) -> Self {
        RefundReceipt {
            refund_id: r.refund_id.to_string(),
            refund_of: r.refund_of.to_string(),
            refund_of_receipt: r.refund_of_receipt,
            receipt_no: r.receipt_no,
            store_id: r.store_id,
            register_id: r.register_id,
            staff_id: r.staff_id,
            created_at_ms: r.created_at,
            currency: r.currency,
            lines: r
                .lines
                .iter()
                .map(|l| RefundLineRecord {
                    line_no: l.line_no,
                    product_id: l.product_id.clone(),
                    sku: l.sku.clone(),
                    name: l.name.clone(),
                    unit_price: l.unit_price.to_string(),
                    quantity: l.quantity.to_string(),
                    net: l.net.to_string(),
                    tax: l.tax.to_string(),
                    gross: l.gross.to_string(),
                    taxes: tax_lines(&l.taxes),
                    restock: l.restock,
                })
                .collect(),
            net_total: r.net_total.to_string(),
            tax_total: r.tax_total.to_string(),
            total: r.total.to_string(),
            taxes: tax_lines(&r.taxes),
            cash_rounding: r.cash_rounding.to_string(),
            amount_paid: r.amount_paid.to_string(),
            payments: r.payments.iter().map(Into::into).collect(),
            reason: r.reason,
        }
    }
}

/// What can still be refunded of one line (decimal strings; `left = sold - refunded`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RefundableLineRecord {
    pub line_no: u32,
    pub product_id: String,
    pub name: String,
    pub sold: String,
    pub refunded: String,
    pub left: String,
    pub stock_tracked: bool,
}

/// A sale this device holds, with what is left to refund of each line.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RefundableSale {
    pub sale: SaleReceipt,
    pub lines: Vec<RefundableLineRecord>,
}

impl From<(SaleRecord, Vec<tillkit_core::refund::Refundable>)> for RefundableSale {
    fn from((sale, lines): (SaleRecord, Vec<tillkit_core::refund::Refundable>)) -> Self {
        RefundableSale {
            sale: sale.into(),
            lines: lines
                .into_iter()
                .map(|l| RefundableLineRecord {
                    line_no: l.line_no,
                    product_id: l.product_id,
                    name: l.name,
                    sold: l.sold.to_string(),
                    refunded: l.refunded.to_string(),
                    left: l.left.to_string(),
                    stock_tracked: l.stock_tracked,
                })
                .collect(),
        }
    }
}
