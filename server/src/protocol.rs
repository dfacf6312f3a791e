//! The JSON shapes of the sync protocol that are the server's own (sales and catalogues
//! reuse the core's types). It never does I/O and never validates: shapes only.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tillkit_core::catalog::{DiscountRule, ProductRecord};
use tillkit_core::journal::RegisterReport;
use tillkit_core::sale::SaleRecord;
use tillkit_core::tax::TaxSettings;
use uuid::Uuid;

// The shapes both sides read are defined once, in the core.
pub use tillkit_core::sync::protocol::{
    ErrorBody, FORBIDDEN, HEALTH_OK, Health, LastSeq, PAIRING_REFUSED, PairRequest, PairResponse,
    SaleStatus, UNAUTHORIZED,
};

/// `POST /v1/stores/{store_id}/sales/batch` request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// Sales in the order the device queued them.
    pub sales: Vec<SaleRecord>,
}

/// The same body as the server reads it: each sale kept as plain JSON and decoded on its
/// own, so one sale that does not decode is rejected alone.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBatchRequest {
    /// Sales in the order the device queued them, undecoded.
    pub sales: Vec<serde_json::Value>,
}

/// The least of a sale the server must read to answer for it: its id.
#[derive(Debug, Deserialize)]
pub struct SaleId {
    /// The sale's id.
    pub sale_id: Uuid,
}

/// `POST /v1/stores/{store_id}/sales/batch` answer: one result per sale, in request order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchResponse {
    /// One entry per uploaded sale, same order.
    pub results: Vec<SaleResult>,
}

/// What happened to one uploaded sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleResult {
    /// The sale's id as uploaded.
    pub sale_id: Uuid,
    /// The outcome.
    pub status: SaleStatus,
    /// Why, for `rejected` and `conflict`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A catalogue as an operator loads it: a `CatalogPayload` without `kind`, `cursor` and
/// the removed-id lists (a load is always the whole catalogue).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogFile {
    /// When present it must name the store it is loaded into.
    #[serde(default)]
    pub store_id: Option<String>,
    /// Renames the store when present.
    #[serde(default)]
    pub store_name: Option<String>,
    /// The store's tax settings; their currency is the store's currency.
    pub tax: TaxSettings,
    /// Every product; products missing from the file are removed from the catalogue.
    /// `stock` is a stock count: when it differs from the last load it resets the product's stock.
    #[serde(default)]
    pub products: Vec<ProductRecord>,
    /// Every discount; discounts missing from the file are removed.
    #[serde(default)]
    pub discounts: Vec<DiscountRule>,
}

/// `GET /v1/stores/{store_id}/summary` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The store summarised.
    pub store_id: String,
    /// The store's currency, once a catalogue was loaded.
    pub currency: Option<String>,
    /// Sales stored (refunds not counted).
    pub sale_count: u64,
    /// Sum of the sales' `total` as recorded by the devices (before refunds).
    pub total: Decimal,
    /// Sum of the sales' `tax_total` as recorded by the devices (before refunds).
    pub tax_total: Decimal,
    /// Refunds stored.
    #[serde(default)]
    pub refund_count: u64,
    /// Sum of the refunds' `total` (what went back, positive).
    #[serde(default)]
    pub refund_total: Decimal,
    /// Sum of the refunds' `tax_total` (tax given back, positive).
    #[serde(default)]
    pub refund_tax_total: Decimal,
    /// Sales whose device tax differs from the server's recomputation (or could not be recomputed).
    pub sales_with_tax_difference: u64,
    /// Sum of `device tax_total - server tax_total` over the sales that could be recomputed.
    pub tax_difference_total: Decimal,
    /// Refunds whose figures (lines, per-rate tax, totals, cash rounding) differ from the
    /// server's recomputation from the sale it holds, or could not be recomputed.
    #[serde(default)]
    pub refunds_with_difference: u64,
    /// Sum of `device tax_total - server tax_total` over the refunds that could be recomputed.
    #[serde(default)]
    pub refund_tax_difference_total: Decimal,
}

/// `GET /v1/stores/{store_id}/stock-audit` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StockAudit {
    /// The store audited.
    pub store_id: String,
    /// Stock-tracked catalogue products and any product that has movements, by product id.
    pub products: Vec<ProductAudit>,
    /// Sale lines refunded beyond what was sold (in quantity, gross or tax) by the refunds
    /// stored of them, from any register: two registers each refunded the line while
    /// offline. Every such refund is stored and counted (the money left the drawer); this
    /// is where they show. In the order the sales arrived (server clock), then by sale id,
    /// then by line; the first `config::MAX_AUDIT_ITEMS` of them.
    #[serde(default)]
    pub over_refunds: Vec<OverRefund>,
    /// How many sale lines were refunded beyond what was sold in all (more than
    /// `over_refunds` holds when it was cut at the limit).
    #[serde(default)]
    pub over_refunds_total: u64,
}

/// One sale line that the stored refunds of it, together, took back beyond what was sold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverRefund {
    /// The sale refunded.
    pub sale_id: Uuid,
    /// Its receipt number.
    pub receipt_no: String,
    /// The register that rang it.
    pub register_id: String,
    /// The sale line (`line_no`).
    pub line_no: u32,
    /// Its product.
    pub product_id: String,
    /// Quantity sold on the line.
    pub sold: Decimal,
    /// Quantity the stored refunds of the line took back, summed.
    pub refunded: Decimal,
    /// Gross of the line as sold.
    pub sold_gross: Decimal,
    /// Gross the stored refunds of the line gave back, summed.
    pub refunded_gross: Decimal,
    /// Tax of the line as sold.
    pub sold_tax: Decimal,
    /// Tax the stored refunds of the line gave back, summed.
    pub refunded_tax: Decimal,
    /// Every stored refund of the line, in the order the server received them (server
    /// clock, then register, then the register's number).
    pub refunds: Vec<LineRefund>,
}

/// One stored refund's part of an over-refunded line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineRefund {
    /// The refund.
    pub refund_id: Uuid,
    /// The register that made it.
    pub register_id: String,
    /// Its receipt number.
    pub receipt_no: String,
    /// Quantity it took back of the line.
    pub quantity: Decimal,
    /// Gross it gave back for the line.
    pub gross: Decimal,
    /// Device clock at the refund (Unix ms); may be wrong.
    pub created_at: i64,
    /// Server clock when the refund arrived (Unix ms).
    pub received_at: i64,
}

/// The stock story of one product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductAudit {
    /// The product's id.
    pub product_id: String,
    /// Its catalogue name; `None` when sales moved a product the catalogue does not have.
    pub name: Option<String>,
    /// Whether the product is in the current catalogue.
    pub in_catalog: bool,
    /// Stock of the last catalogue load that counted it (0 when not in the catalogue).
    pub starting_stock: Decimal,
    /// Starting stock plus every movement since.
    pub current_stock: Decimal,
    /// Movements since the starting stock, per register, by register id.
    pub registers: Vec<RegisterMovements>,
    /// The movements after which the running stock was below zero, in the order the
    /// server received them (within a batch, the device's queue order; never the device
    /// clock, which may be wrong): where an oversell happened. The first
    /// `config::MAX_AUDIT_ITEMS` of them.
    pub below_zero: Vec<BelowZero>,
    /// How many movements left the stock below zero in all (more than `below_zero` holds
    /// when it was cut at the limit).
    #[serde(default)]
    pub below_zero_total: u64,
}

/// Movements of one product by one register.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterMovements {
    /// The register that made the sales.
    pub register_id: String,
    /// Number of movements.
    pub movements: u64,
    /// Sum of their deltas (negative for sales).
    pub total: Decimal,
}

/// One movement that left the running stock below zero.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BelowZero {
    /// The sale that moved the stock.
    pub sale_id: Uuid,
    /// The register that made it.
    pub register_id: String,
    /// Its receipt number.
    pub receipt_no: String,
    /// The movement (negative for a sale).
    pub delta: Decimal,
    /// Running stock right after it.
    pub stock_after: Decimal,
    /// Device clock at the sale (Unix ms); may be wrong.
    pub created_at: i64,
    /// Server clock when the sale arrived (Unix ms).
    pub received_at: i64,
}

/// `GET /v1/stores/{store_id}/journal-audit` answer: every register's journal verified from
/// the records the server holds (see `tillkit_core::journal::verify`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalAudit {
    /// The store audited.
    pub store_id: String,
    /// One report per register that has records, by register id.
    pub registers: Vec<RegisterReport>,
    /// Stored records whose text could not be read at all (named by id): changed in storage.
    pub unreadable: Vec<String>,
    /// Every register intact and nothing unreadable.
    pub intact: bool,
    /// Entries left out: each list (a register's unchained runs, segments, gaps, reused
    /// numbers, forks and breaks, and `unreadable`) holds at most `config::MAX_AUDIT_ITEMS`;
    /// this many more were found. `intact` is decided on the whole lists, before the cut:
    /// a journal can be intact with entries omitted (over that many restart segments).
    #[serde(default)]
    pub omitted: u64,
}
