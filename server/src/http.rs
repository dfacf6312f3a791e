//! The HTTP routes of the sync protocol: authentication, bounds on input, JSON in and out.
//! Handlers never touch SQL and never log a bearer token or a request body.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde::Deserialize;
use tillkit_core::catalog::CatalogPayload;
use tillkit_core::sale::SaleRecord;
use tillkit_core::time::now_ms;
use tracing::Instrument;

use crate::auth::{self, FailureLimiter, Principal};
use crate::config::ServerConfig;
use crate::error::ApiError;
use crate::forwarded;
use crate::logtext::Untrusted;
use crate::protocol::{
    BatchResponse, HEALTH_OK, Health, JournalAudit, LastSeq, PairRequest, PairResponse,
    RawBatchRequest, SaleId, SaleResult, SaleStatus, StockAudit, Summary,
};
use crate::store::{SaleKey, ServerStore, UploadContext, UploadRecord};
use tillkit_core::sync::protocol::SaleLookup;

/// A pairing request is one short code; anything larger is not one.
const MAX_PAIR_BODY_BYTES: usize = 1024;

#[derive(Clone)]
struct AppState {
    store: Arc<dyn ServerStore>,
    config: Arc<ServerConfig>,
    limiter: Arc<FailureLimiter>,
}

/// The protocol's routes over `store`. Serve it with `into_make_service_with_connect_info::<SocketAddr>()`
/// so failed authentications can be counted per peer.
pub fn router(store: Arc<dyn ServerStore>, config: ServerConfig) -> Router {
    let state = AppState {
        store,
        limiter: Arc::new(FailureLimiter::new(&config)),
        config: Arc::new(config.clone()),
    };
    Router::new()
        .route("/v1/health", get(health))
        .route(
            "/v1/pair",
            post(pair).layer(DefaultBodyLimit::max(MAX_PAIR_BODY_BYTES)),
        )
        .route("/v1/stores/{store_id}/catalog", get(catalog))
        .route(
            "/v1/stores/{store_id}/sales/batch",
            post(upload_batch).layer(DefaultBodyLimit::max(config.max_body_bytes)),
        )
        .route("/v1/stores/{store_id}/sales/lookup", get(sale_lookup))
        .route("/v1/stores/{store_id}/stock-audit", get(stock_audit))
        .route("/v1/stores/{store_id}/journal-audit", get(journal_audit))
        .route("/v1/stores/{store_id}/summary", get(summary))
        .route(
            "/v1/stores/{store_id}/registers/{register_id}/last-seq",
            get(last_seq),
        )
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(axum::middleware::from_fn(crate::version::check))
        .with_state(state)
}

fn store_path(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(id)| id)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

/// Whole seconds to wait, rounded up so a client never retries early.
fn retry_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// Checks the bearer token and that it is bound to `store_id`; counts failures per client
/// (the peer, or the forwarded client behind a trusted proxy).
async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    peer: IpAddr,
    store_id: &str,
) -> Result<Principal, ApiError> {
    let peer = forwarded::client_addr(peer, headers, &state.config.trusted_proxies);
    // Checked before the token so a guesser learns nothing while blocked.
    if let Err(wait) = state.limiter.check(peer) {
        return Err(ApiError::rate_limited(retry_secs(wait)));
    }
    let principal = match auth::bearer(headers) {
        Some(token) => {
            let hash = token.hash();
            state.store.authenticate(&hash).await?
        }
        None => None,
    };
    let Some(principal) = principal else {
        state.limiter.record_failure(peer);
        tracing::warn!(%peer, "authentication failed");
        return Err(ApiError::unauthorized());
    };
    if principal.store_id != store_id {
        tracing::warn!(%peer, register = %principal.register_id, "token used for another store");
        return Err(ApiError::forbidden());
    }
    Ok(principal)
}

/// `POST /v1/pair`: trades a one-time pairing code for the register's fresh token. Failed
/// codes count against the client like failed tokens, so guessing is limited the same way.
async fn pair(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<PairRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<PairResponse>, ApiError> {
    let peer = forwarded::client_addr(peer.ip(), &headers, &state.config.trusted_proxies);
    if let Err(wait) = state.limiter.check(peer) {
        return Err(ApiError::rate_limited(retry_secs(wait)));
    }
    let Json(request) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let Some((principal, token)) =
        crate::admin::redeem_pairing_code(&*state.store, &request.code).await?
    else {
        state.limiter.record_failure(peer);
        tracing::warn!(%peer, "pairing refused");
        return Err(ApiError::pairing_refused());
    };
    Ok(Json(PairResponse {
        store_id: principal.store_id,
        register_id: principal.register_id,
        token: token.expose().to_string(),
    }))
}

async fn health() -> Json<Health> {
    Json(Health {
        status: HEALTH_OK.into(),
        server_time: now_ms(),
    })
}

#[derive(Debug, Deserialize)]
struct CatalogQuery {
    since: Option<String>,
}

async fn catalog(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<CatalogQuery>, QueryRejection>,
) -> Result<Json<CatalogPayload>, ApiError> {
    let store_id = store_path(path)?;
    let span = tracing::info_span!("catalog", store = %Untrusted(&store_id));
    async move {
        authorize(&state, &headers, peer.ip(), &store_id).await?;
        let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
        let payload = state
            .store
            .catalog(&store_id, query.since.as_deref())
            .await?;
        tracing::info!(kind = ?payload.kind, cursor = %payload.cursor, products = payload.products.len(), "catalogue sent");
        Ok(Json(payload))
    }
    .instrument(span)
    .await
}

async fn upload_batch(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    path: Result<Path<String>, PathRejection>,
    request: Request,
) -> Result<Json<BatchResponse>, ApiError> {
    let store_id = store_path(path)?;
    let span = tracing::info_span!("upload_batch", store = %Untrusted(&store_id), register = tracing::field::Empty);
    async move {
        let principal = authorize(&state, request.headers(), peer.ip(), &store_id).await?;
        tracing::Span::current().record("register", principal.register_id.as_str());
        // The body is read only once the caller is known, and never beyond the limit.
        let bytes = Bytes::from_request(request, &state)
            .await
            .map_err(|e: BytesRejection| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::payload_too_large(state.config.max_body_bytes)
                } else if crate::conn::is_body_deadline(&e) {
                    ApiError::request_timeout(state.config.body_read_timeout)
                } else {
                    ApiError::bad_request(e.body_text())
                }
            })?;
        let config = state.config.clone();
        // Up to 8 MiB of JSON: parsed off the async threads.
        let entries = tokio::task::spawn_blocking(move || decode_batch_request(&bytes, &config))
            .await
            .map_err(|_| ApiError::internal())??;
        let count = entries.len();
        let ctx = UploadContext {
            store_id,
            uploaded_by: principal.register_id,
            received_at: now_ms(),
        };
        let results = decide_batch(&*state.store, &ctx, entries).await?;
        let tally = |status| results.iter().filter(|r| r.status == status).count();
        tracing::info!(
            sales = count,
            accepted = tally(SaleStatus::Accepted),
            duplicate = tally(SaleStatus::Duplicate),
            conflict = tally(SaleStatus::Conflict),
            rejected = tally(SaleStatus::Rejected),
            "batch stored"
        );
        Ok(Json(BatchResponse { results }))
    }
    .instrument(span)
    .await
}

/// One sale of an upload body, as decoded.
// Nearly every entry is a sale: boxing each one to shrink the rare unreadable entry would
// cost an allocation per sale.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum BatchEntry {
    /// A sale record: the storage backend decides it.
    Sale(SaleRecord),
    /// A refund record (`"kind": "refund"`): decided against its sale by the backend.
    Refund(tillkit_core::refund::RefundRecord),
    /// A sale whose record does not decode (an unknown field, a value out of range): it is
    /// answered `rejected` with the reason, and the rest of the batch goes on.
    Unreadable { sale_id: uuid::Uuid, reason: String },
}

/// Decodes an upload body and applies the request-wide limits, exactly as `upload_batch`
/// does before any sale is looked at (the body size is bounded while it is read). Each
/// sale is decoded on its own: one that does not decode is an `Unreadable` entry, not a
/// failed request. Only a body that is not a batch, or a sale without a readable
/// `sale_id` (nothing to answer for), fails the whole request.
/// serde_json's recursion limit turns deeply nested input into an error, not a stack overflow.
pub fn decode_batch_request(
    bytes: &[u8],
    config: &ServerConfig,
) -> Result<Vec<BatchEntry>, ApiError> {
    let raw = serde_json::from_slice::<RawBatchRequest>(bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid batch: {e}")))?
        .sales;
    if raw.len() > config.max_batch_sales {
        return Err(ApiError::batch_too_large(raw.len(), config.max_batch_sales));
    }
    raw.into_iter()
        .enumerate()
        .map(|(i, sale)| {
            if sale.get("kind").and_then(serde_json::Value::as_str) == Some("refund") {
                return decode_refund(i, &sale);
            }
            match SaleRecord::deserialize(&sale) {
                Ok(sale) => Ok(BatchEntry::Sale(sale)),
                Err(e) => match SaleId::deserialize(&sale) {
                    Ok(SaleId { sale_id }) => Ok(BatchEntry::Unreadable {
                        sale_id,
                        reason: crate::store::reason_text(format!("unreadable sale record: {e}")),
                    }),
                    Err(_) => Err(ApiError::bad_request(format!(
                        "invalid batch: sale {i} has no readable sale_id ({e})"
                    ))),
                },
            }
        })
        .collect()
}

/// A refund entry of an upload body: one that does not decode is `Unreadable` under its
/// `refund_id`; without a readable `refund_id` there is nothing to answer for.
fn decode_refund(i: usize, value: &serde_json::Value) -> Result<BatchEntry, ApiError> {
    use tillkit_core::refund::RefundRecord;
    match RefundRecord::deserialize(value) {
        Ok(refund) => Ok(BatchEntry::Refund(refund)),
        Err(e) => match value
            .get("refund_id")
            .and_then(serde_json::Value::as_str)
            .and_then(|id| uuid::Uuid::parse_str(id).ok())
        {
            Some(sale_id) => Ok(BatchEntry::Unreadable {
                sale_id,
                reason: crate::store::reason_text(format!("unreadable refund record: {e}")),
            }),
            None => Err(ApiError::bad_request(format!(
                "invalid batch: record {i} is a refund with no readable refund_id ({e})"
            ))),
        },
    }
}

/// Decides a decoded batch: the sales that decoded go to the storage backend in one
/// transaction, the unreadable ones are rejected; one result per entry, in request order.
async fn decide_batch(
    store: &dyn ServerStore,
    ctx: &UploadContext,
    entries: Vec<BatchEntry>,
) -> Result<Vec<SaleResult>, ApiError> {
    let total = entries.len();
    let mut sales = Vec::with_capacity(total);
    let mut rejected = Vec::new();
    for (i, entry) in entries.into_iter().enumerate() {
        match entry {
            BatchEntry::Sale(sale) => sales.push(UploadRecord::Sale(sale)),
            BatchEntry::Refund(refund) => sales.push(UploadRecord::Refund(refund)),
            BatchEntry::Unreadable { sale_id, reason } => {
                tracing::info!(sale = %sale_id, %reason, "sale rejected");
                rejected.push((
                    i,
                    SaleResult {
                        sale_id,
                        status: SaleStatus::Rejected,
                        reason: Some(reason),
                    },
                ));
            }
        }
    }
    let stored = if sales.is_empty() {
        Vec::new()
    } else {
        store.upload_records(ctx, sales).await?
    };
    let mut stored = stored.into_iter();
    let mut rejected = rejected.into_iter().peekable();
    let mut results = Vec::with_capacity(total);
    for i in 0..total {
        match rejected.next_if(|(at, _)| *at == i) {
            Some((_, r)) => results.push(r),
            None => results.extend(stored.next()),
        }
    }
    Ok(results)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LookupQuery {
    receipt_no: Option<String>,
    sale_id: Option<String>,
}

/// `GET /v1/stores/{store_id}/sales/lookup?receipt_no=...` (or `?sale_id=...`): a sale of
/// the token's store, with every refund of it from any register and the tax settings it was
/// decided with, for a register that did not ring it to refund it. Any register token of
/// the store; another store's token is `403` before any lookup, so it learns nothing.
async fn sale_lookup(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<LookupQuery>, QueryRejection>,
) -> Result<Json<SaleLookup>, ApiError> {
    let store_id = store_path(path)?;
    let span = tracing::info_span!("sale_lookup", store = %Untrusted(&store_id));
    async move {
        let principal = authorize(&state, &headers, peer.ip(), &store_id).await?;
        let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
        let max = tillkit_core::limits::MAX_ID_CHARS;
        let key = match (query.receipt_no, query.sale_id) {
            (Some(r), None) if !r.is_empty() && r.chars().count() <= max => SaleKey::Receipt(r),
            (None, Some(id)) => SaleKey::SaleId(
                uuid::Uuid::parse_str(&id)
                    .map_err(|_| ApiError::bad_request("sale_id is not a UUID"))?,
            ),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "give exactly one of receipt_no (1 to {max} characters) or sale_id"
                )));
            }
        };
        let mut found = state.store.sale_lookup(&store_id, &key).await?;
        let what = match &key {
            SaleKey::Receipt(r) => format!("receipt {r}"),
            SaleKey::SaleId(id) => format!("sale {id}"),
        };
        match found.len() {
            0 => Err(ApiError::unknown_sale(format!("the store holds no {what}"))),
            1 => {
                let lookup = found.remove(0);
                tracing::info!(
                    by = %Untrusted(&principal.register_id),
                    receipt = %Untrusted(&lookup.sale.receipt_no),
                    refunds = lookup.refunds.len(),
                    "sale looked up"
                );
                Ok(Json(lookup))
            }
            n => Err(ApiError::ambiguous_receipt(format!(
                "{what} names {n} sales (its register numbered again from 1): ask by sale_id"
            ))),
        }
    }
    .instrument(span)
    .await
}

async fn stock_audit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<StockAudit>, ApiError> {
    let store_id = store_path(path)?;
    let span = tracing::info_span!("stock_audit", store = %Untrusted(&store_id));
    async move {
        authorize(&state, &headers, peer.ip(), &store_id).await?;
        Ok(Json(state.store.stock_audit(&store_id).await?))
    }
    .instrument(span)
    .await
}

async fn journal_audit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<JournalAudit>, ApiError> {
    let store_id = store_path(path)?;
    let span = tracing::info_span!("journal_audit", store = %Untrusted(&store_id));
    async move {
        authorize(&state, &headers, peer.ip(), &store_id).await?;
        let audit = state.store.journal_audit(&store_id).await?;
        if !audit.intact {
            tracing::warn!(
                registers = audit.registers.len(),
                "journal audit found breaks, forks or gaps"
            );
        }
        Ok(Json(audit))
    }
    .instrument(span)
    .await
}

async fn summary(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Summary>, ApiError> {
    let store_id = store_path(path)?;
    let span = tracing::info_span!("summary", store = %Untrusted(&store_id));
    async move {
        authorize(&state, &headers, peer.ip(), &store_id).await?;
        Ok(Json(state.store.summary(&store_id).await?))
    }
    .instrument(span)
    .await
}

async fn last_seq(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<LastSeq>, ApiError> {
    let (store_id, register_id) = path
        .map(|Path(ids)| ids)
        .map_err(|e| ApiError::bad_request(e.body_text()))?;
    let span = tracing::info_span!("last_seq", store = %Untrusted(&store_id), register = %Untrusted(&register_id));
    async move {
        let principal = authorize(&state, &headers, peer.ip(), &store_id).await?;
        // Only the register itself: its numbering is nobody else's business.
        if principal.register_id != register_id {
            tracing::warn!(%peer, token_register = %principal.register_id, "token used for another register");
            return Err(ApiError::forbidden_register());
        }
        let last_seq = state.store.last_seq(&store_id, &register_id).await?;
        Ok(Json(LastSeq {
            store_id,
            register_id,
            last_seq,
        }))
    }
    .instrument(span)
    .await
}
