//! The storage contract of the server (`ServerStore`) and its embedded SQLite backend.
//! Backends only store and fetch: every accept/reject decision comes from `validate`.

use rust_decimal::Decimal;
use tillkit_core::catalog::CatalogPayload;
use tillkit_core::sale::SaleRecord;
use tillkit_core::tax::Totals;

use crate::auth::{Principal, TokenHash};
use crate::error::StoreError;
use crate::protocol::{CatalogFile, SaleResult, StockAudit, Summary};

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod schema;
pub mod sqlite;

pub use sqlite::SqliteStore;

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

/// Everything the HTTP handlers and admin tools need from storage. Every method is one
/// atomic operation: on error nothing of it was written.
pub trait ServerStore: Send + Sync {
    /// Creates an empty store (no catalogue yet).
    fn create_store(&self, store_id: &str, name: &str) -> Result<(), StoreError>;

    /// Registers `register_id` in the store if new and binds a token digest to it.
    fn add_register_token(
        &self,
        store_id: &str,
        register_id: &str,
        token: &TokenHash,
    ) -> Result<(), StoreError>;

    /// Revokes a token; `false` when it was unknown or already revoked.
    fn revoke_token(&self, token: &TokenHash) -> Result<bool, StoreError>;

    /// The register a live (known, unrevoked) token belongs to.
    fn authenticate(&self, token: &TokenHash) -> Result<Option<Principal>, StoreError>;

    /// Replaces the store's catalogue (already checked by `validate::check_catalog`) and
    /// returns the new cursor.
    fn load_catalog(&self, store_id: &str, catalog: &CatalogFile) -> Result<String, StoreError>;

    /// A snapshot, or a delta since `since` when it is a cursor this store issued.
    fn catalog(&self, store_id: &str, since: Option<&str>) -> Result<CatalogPayload, StoreError>;

    /// Decides and stores a batch in one transaction; one result per sale, same order.
    fn upload_batch(
        &self,
        ctx: &UploadContext,
        sales: &[SaleRecord],
    ) -> Result<Vec<SaleResult>, StoreError>;

    /// A stored sale by id.
    fn stored_sale(&self, sale_id: &str) -> Result<Option<StoredSale>, StoreError>;

    /// Per-product stock: start, movements per register, current, and every dip below zero.
    fn stock_audit(&self, store_id: &str) -> Result<StockAudit, StoreError>;

    /// Sale count and sums of the store.
    fn summary(&self, store_id: &str) -> Result<Summary, StoreError>;

    /// The highest `seq` among the stored sales of `register_id` in the store; 0 when none.
    fn last_seq(&self, store_id: &str, register_id: &str) -> Result<u64, StoreError>;
}
