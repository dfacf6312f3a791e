//! The storage contract of the server (`ServerStore`), its two backends (an embedded SQLite
//! file, PostgreSQL for several instances) and how a `--data`/`--database` option picks one.
//! Backends only store and fetch: every accept/reject decision comes from `validate`.

use rust_decimal::Decimal;
use tillkit_core::catalog::CatalogPayload;
use tillkit_core::offline_limits::OfflineLimits;
use tillkit_core::refund::RefundRecord;
use tillkit_core::sale::SaleRecord;
use tillkit_core::sync::protocol::SaleLookup;
use tillkit_core::tax::Totals;

use crate::auth::{Principal, TokenHash};
use crate::error::StoreError;
use crate::protocol::{
    CatalogFile, JournalAudit, LineRefund, OverRefund, SaleResult, SaleStatus, StockAudit, Summary,
};
use crate::validate::Decision;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod journal;
pub mod pg_tls;
pub mod postgres;
mod schema;
pub mod sqlite;

use std::path::Path;
use std::sync::Arc;

pub(crate) use journal::JournalRows;
pub use postgres::{PgOptions, PgStore};
pub use sqlite::{SqliteOptions, SqliteStore};

/// A reason for a sale's verdict as it is sent: at most `limits::MAX_REASON_CHARS`
/// characters (a serde message may quote a long input), so every answer fits what a
/// device reads.
pub(crate) fn reason_text(reason: String) -> String {
    let max = tillkit_core::limits::MAX_REASON_CHARS;
    if reason.chars().count() <= max {
        return reason;
    }
    let mut cut: String = reason.chars().take(max - 3).collect();
    cut.push_str("...");
    cut
}

/// The answer for one decided sale, logged the same way by every backend (an accepted sale
/// is written by the backend before it is answered).
pub(crate) fn answer(id: uuid::Uuid, decision: &Decision) -> SaleResult {
    let (status, reason) = match decision {
        Decision::Accept(a) => {
            if !a.tax_check.totals_match {
                tracing::info!(sale = %id, difference = ?a.tax_check.tax_difference, "device totals differ from the server's");
            }
            if !a.over_refunded_lines.is_empty() {
                tracing::warn!(refund = %id, lines = ?a.over_refunded_lines, "refund accepted beyond what was sold (see the stock audit's over_refunds)");
            }
            (SaleStatus::Accepted, None)
        }
        Decision::Duplicate => (SaleStatus::Duplicate, None),
        Decision::Conflict(reason) => {
            tracing::warn!(sale = %id, "conflicting sale id; stored sale kept");
            (SaleStatus::Conflict, Some(reason_text(reason.clone())))
        }
        Decision::Rejected(reason) => {
            // A reason may quote the device's text.
            tracing::info!(sale = %id, reason = %crate::logtext::Untrusted(reason), "sale rejected");
            (SaleStatus::Rejected, Some(reason_text(reason.clone())))
        }
    };
    SaleResult {
        sale_id: id,
        status,
        reason,
    }
}

/// A stored sale with the refunds stored of it, as the stock audit reads it.
pub(crate) struct RefundedSale {
    /// The sale as stored.
    pub sale: SaleRecord,
    /// Its refunds, each with the server clock at its arrival, in the order received.
    pub refunds: Vec<(RefundRecord, i64)>,
}

/// The lines of `sales` (taken in the order given, each by `line_no`) that their refunds,
/// together, take back beyond what was sold, in quantity, gross or tax: at most
/// `config::MAX_AUDIT_ITEMS` of them, and how many there are in all. Every backend's stock
/// audit reports them through this, so both report alike.
pub(crate) fn over_refunds(sales: &[RefundedSale]) -> (Vec<OverRefund>, u64) {
    let mut out = Vec::new();
    let mut total = 0u64;
    for s in sales {
        let mut lines: Vec<_> = s.sale.lines.iter().collect();
        lines.sort_by_key(|l| l.line_no);
        for line in lines {
            let (mut quantity, mut gross, mut tax) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
            let mut parts = Vec::new();
            for (refund, received_at) in &s.refunds {
                for l in refund.lines.iter().filter(|l| l.line_no == line.line_no) {
                    quantity += l.quantity;
                    gross += l.gross;
                    tax += l.tax;
                    parts.push(LineRefund {
                        refund_id: refund.refund_id,
                        register_id: refund.register_id.clone(),
                        receipt_no: refund.receipt_no.clone(),
                        quantity: l.quantity,
                        gross: l.gross,
                        created_at: refund.created_at,
                        received_at: *received_at,
                    });
                }
            }
            if quantity <= line.quantity && gross <= line.gross && tax <= line.tax {
                continue;
            }
            total += 1;
            if out.len() < crate::config::MAX_AUDIT_ITEMS {
                out.push(OverRefund {
                    sale_id: s.sale.sale_id,
                    receipt_no: s.sale.receipt_no.clone(),
                    register_id: s.sale.register_id.clone(),
                    line_no: line.line_no,
                    product_id: line.product_id.clone(),
                    sold: line.quantity,
                    refunded: quantity,
                    sold_gross: line.gross,
                    refunded_gross: gross,
                    sold_tax: line.tax,
                    refunded_tax: tax,
                    refunds: parts,
                });
            }
        }
    }
    (out, total)
}

/// Opens the backend `location` names: a `postgres://` or `postgresql://` URL, else the path
/// of a SQLite file (created if missing). Either is migrated before it is returned.
pub async fn open(location: &str) -> Result<Arc<dyn ServerStore>, StoreError> {
    open_with_wait(location, None).await
}

/// `open`, with every wait of a request for the store (its lock, a pool connection) bounded
/// by `wait` instead of the backend's default (3 s); past it a request is answered busy.
pub async fn open_with_wait(
    location: &str,
    wait: Option<std::time::Duration>,
) -> Result<Arc<dyn ServerStore>, StoreError> {
    if is_postgres_url(location) {
        let mut options = PgOptions::default();
        if let Some(wait) = wait {
            options.lock_wait = wait;
            options.pool_wait = wait;
        }
        Ok(Arc::new(PgStore::connect_with(location, &options).await?))
    } else {
        let mut options = SqliteOptions::default();
        if let Some(wait) = wait {
            options.lock_wait = wait;
        }
        Ok(Arc::new(
            SqliteStore::open_async_with(Path::new(location), &options).await?,
        ))
    }
}

/// Whether `location` names a PostgreSQL database rather than a file.
pub fn is_postgres_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// One record of an upload batch: a sale, or a refund of a sale (`kind: "refund"`).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum UploadRecord {
    /// A sale.
    Sale(SaleRecord),
    /// A refund; decided against the sale it reverses as the server holds it.
    Refund(RefundRecord),
}

impl UploadRecord {
    /// The record's id: the sale's `sale_id` or the refund's `refund_id` (the dedupe key,
    /// and the id its result is answered under).
    pub fn id(&self) -> uuid::Uuid {
        match self {
            UploadRecord::Sale(s) => s.sale_id,
            UploadRecord::Refund(r) => r.refund_id,
        }
    }
}

/// A stored refund with what the server recorded next to it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRefund {
    /// The refund exactly as accepted.
    pub record: RefundRecord,
    /// The register whose token uploaded it.
    pub uploaded_by: String,
    /// Server clock when it was accepted (Unix ms).
    pub received_at: i64,
    /// Device `tax_total` minus the server's recomputation from the sale, when recomputed.
    pub tax_difference: Option<Decimal>,
    /// Whether every figure (lines, per-rate tax, totals, cash rounding) matched the server's.
    pub totals_match: bool,
    /// The figures that differ, or why the server could not recompute it.
    pub tax_check_error: Option<String>,
}

/// Who uploads a batch, where, and when the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadContext {
    /// The store in the request path (already checked against the token).
    pub store_id: String,
    /// The register whose token made the request.
    pub uploaded_by: String,
    /// Server clock at receipt (Unix ms), stored with every sale and movement.
    pub received_at: i64,
}

/// A stored sale with what the server recorded next to it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSale {
    /// The sale exactly as accepted.
    pub record: SaleRecord,
    /// The register whose token uploaded it.
    pub uploaded_by: String,
    /// Server clock when it was accepted (Unix ms).
    pub received_at: i64,
    /// The server's recomputation with the store's settings at that time.
    pub server_totals: Option<Totals>,
    /// Device `tax_total` minus the server's.
    pub tax_difference: Option<Decimal>,
    /// Whether every figure matched the server's recomputation.
    pub totals_match: bool,
    /// Why the server could not recompute it.
    pub tax_check_error: Option<String>,
}

/// A register of a store and the state of its tokens, for operators.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RegisterInfo {
    /// The register's id.
    pub register_id: String,
    /// When it was first registered (Unix ms).
    pub created_at: i64,
    /// Tokens that still work.
    pub live_tokens: u64,
    /// Tokens revoked so far.
    pub revoked_tokens: u64,
    /// When its newest token was issued (Unix ms).
    pub last_issued_at: Option<i64>,
}

/// Everything the HTTP handlers and admin tools need from storage. Every method is one
/// atomic operation: on error nothing of it was written. Blocking backends run their work
/// off the async threads themselves.
#[async_trait::async_trait]
pub trait ServerStore: Send + Sync + std::fmt::Debug {
    /// Creates an empty store (no catalogue yet).
    async fn create_store(&self, store_id: &str, name: &str) -> Result<(), StoreError>;

    /// Registers `register_id` in the store if new and binds a token digest to it.
    async fn add_register_token(
        &self,
        store_id: &str,
        register_id: &str,
        token: &TokenHash,
    ) -> Result<(), StoreError>;

    /// Revokes a token; `false` when it was unknown or already revoked.
    async fn revoke_token(&self, token: &TokenHash) -> Result<bool, StoreError>;

    /// Revokes every live token of a register (a lost or replaced device); returns how many.
    async fn revoke_register(&self, store_id: &str, register_id: &str) -> Result<u64, StoreError>;

    /// Registers `register_id` in the store if new and stores the digest of a one-time
    /// pairing code for it, live until `expires_at` (Unix ms, server clock).
    async fn add_pairing_code(
        &self,
        store_id: &str,
        register_id: &str,
        code: &TokenHash,
        expires_at: i64,
    ) -> Result<(), StoreError>;

    /// Trades a live pairing code (known, unused, `expires_at` after `now`) for `token`, in
    /// one transaction: the code is marked used, the register's other live tokens are
    /// revoked and `token` is bound to it. `None` when the code is not live: nothing changed.
    async fn redeem_pairing_code(
        &self,
        code: &TokenHash,
        token: &TokenHash,
        now: i64,
    ) -> Result<Option<Principal>, StoreError>;

    /// The store's registers and their tokens' state, by register id.
    async fn registers(&self, store_id: &str) -> Result<Vec<RegisterInfo>, StoreError>;

    /// The register a live (known, unrevoked) token belongs to.
    async fn authenticate(&self, token: &TokenHash) -> Result<Option<Principal>, StoreError>;

    /// Replaces the store's catalogue (already checked by `validate::check_catalog`) and
    /// returns the new cursor.
    async fn load_catalog(
        &self,
        store_id: &str,
        catalog: &CatalogFile,
    ) -> Result<String, StoreError>;

    /// Replaces the store's offline limits (already checked by `OfflineLimits::validate`;
    /// empty: none), served with every catalogue from the new cursor on, which it returns.
    /// Needs a loaded catalogue (the limits are in its currency).
    async fn set_offline_limits(
        &self,
        store_id: &str,
        limits: &OfflineLimits,
    ) -> Result<String, StoreError>;

    /// A snapshot, or a delta since `since` when it is a cursor this store issued.
    async fn catalog(
        &self,
        store_id: &str,
        since: Option<&str>,
    ) -> Result<CatalogPayload, StoreError>;

    /// Decides and stores a batch of sales in one transaction; one result per sale, same order.
    async fn upload_batch(
        &self,
        ctx: &UploadContext,
        sales: Vec<SaleRecord>,
    ) -> Result<Vec<SaleResult>, StoreError> {
        self.upload_records(ctx, sales.into_iter().map(UploadRecord::Sale).collect())
            .await
    }

    /// Decides and stores a batch of sales and refunds, in order, in one transaction; one
    /// result per record, same order. A refund is decided against its sale as stored before
    /// it (earlier batches, or earlier in this one) and against every refund of that sale
    /// stored before it, from any register (`validate::decide_refund`).
    async fn upload_records(
        &self,
        ctx: &UploadContext,
        records: Vec<UploadRecord>,
    ) -> Result<Vec<SaleResult>, StoreError>;

    /// The refunds of a stored sale of the store, in the order they were stored.
    async fn refunds_of(
        &self,
        store_id: &str,
        sale_id: &str,
    ) -> Result<Vec<StoredRefund>, StoreError>;

    /// A stored sale of the store by id (refunds are not sales: `refunds_of`).
    async fn stored_sale(
        &self,
        store_id: &str,
        sale_id: &str,
    ) -> Result<Option<StoredSale>, StoreError>;

    /// Per-product stock: start, movements per register, current, and every dip below zero;
    /// and every sale line the store's refunds took back beyond what was sold (`over_refunds`).
    async fn stock_audit(&self, store_id: &str) -> Result<StockAudit, StoreError>;

    /// Every register's journal verified from the records stored: gaps, forks, breaks,
    /// restarts, and records changed since they arrived.
    async fn journal_audit(&self, store_id: &str) -> Result<JournalAudit, StoreError>;

    /// Sale count and sums of the store.
    async fn summary(&self, store_id: &str) -> Result<Summary, StoreError>;

    /// The highest `seq` among the stored sales of `register_id` in the store; 0 when none.
    async fn last_seq(&self, store_id: &str, register_id: &str) -> Result<u64, StoreError>;

    /// Every stored sale of the store that `key` names (none; one; several when a register
    /// that numbered again from 1 used the receipt number twice), each with every refund of
    /// it stored so far from any register, in the order stored, and the tax settings it was
    /// decided with. Refunds are not sales: a refund's id or receipt number names nothing.
    async fn sale_lookup(
        &self,
        store_id: &str,
        key: &SaleKey,
    ) -> Result<Vec<SaleLookup>, StoreError>;
}

/// Which sale a register looks up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaleKey {
    /// Its receipt number as printed (`<register>-<seq, 6 digits at least>`).
    Receipt(String),
    /// Its `sale_id`.
    SaleId(uuid::Uuid),
}

impl SaleKey {
    /// The register and sequence number a receipt number is made of (see
    /// `tillkit_core::sale::receipt_no`); `None` when it is not one (it names no sale).
    pub fn receipt_parts(receipt: &str) -> Option<(&str, i64)> {
        let (register, digits) = receipt.rsplit_once('-')?;
        if register.is_empty() || digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let seq: u64 = digits.parse().ok()?;
        // Exactly the form the core prints (no extra leading zero).
        if tillkit_core::sale::receipt_no(register, seq) != receipt {
            return None;
        }
        Some((register, i64::try_from(seq).ok()?))
    }
}
