//! The server's error types: `StoreError` from storage backends, `ApiError` on the wire,
//! converted in one place. An error answer never carries a token or a raw SQL message.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::protocol::ErrorBody;

/// What a storage backend can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store does not exist.
    #[error("store {0:?} not found")]
    StoreNotFound(String),
    /// The store has no register with this id.
    #[error("store {store_id:?} has no register {register_id:?}")]
    RegisterNotFound {
        /// The store.
        store_id: String,
        /// The register asked for.
        register_id: String,
    },
    /// A store with this id already exists.
    #[error("store {0:?} already exists")]
    StoreExists(String),
    /// The store has no catalogue (and so no tax settings or currency) yet.
    #[error("no catalogue has been loaded for store {0:?}")]
    NoCatalog(String),
    /// An admin input was refused; nothing was written.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The backend failed; nothing of the operation was written.
    #[error("storage failure: {0}")]
    Backend(String),
    /// Stored data could not be read back.
    #[error("stored data unreadable: {0}")]
    Corrupt(String),
    /// The store is busy with other writers longer than the backend waits; nothing was
    /// written. Worth retrying after `retry_after_secs`.
    #[error("busy: {message}; retry in {retry_after_secs} s")]
    Busy {
        /// What was waited for.
        message: String,
        /// Seconds to wait before retrying (sent as `Retry-After`).
        retry_after_secs: u64,
    },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
        match e.sqlite_error_code() {
            // The busy timeout ran out: another writer held the file; nothing was written.
            Some(DatabaseBusy | DatabaseLocked) => StoreError::Busy {
                message: format!("the database file stayed locked: {e}"),
                retry_after_secs: crate::config::BUSY_RETRY_AFTER_SECS,
            },
            _ => StoreError::Backend(e.to_string()),
        }
    }
}

/// Errors of the library's entry points (`serve`, `spawn_local`).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Binding or serving the socket failed.
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    /// Opening the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The TLS certificate or key could not be used.
    #[error("TLS: {0}")]
    Tls(String),
    /// A background task panicked or was cancelled.
    #[error("server task failed: {0}")]
    Task(String),
}

/// An error answer: status, stable code and readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code clients switch on.
    pub code: &'static str,
    /// Readable detail.
    pub message: String,
    /// Seconds to wait, sent as `Retry-After` (rate limiting).
    pub retry_after: Option<u64>,
}

/// Error detail longer than this is cut: serde messages may quote the offending input.
const MAX_MESSAGE_CHARS: usize = 300;

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        let mut message: String = message.into();
        if message.chars().count() > MAX_MESSAGE_CHARS {
            message = message.chars().take(MAX_MESSAGE_CHARS).collect::<String>() + "...";
        }
        ApiError {
            status,
            code,
            message,
            retry_after: None,
        }
    }

    /// 400: the request could not be understood; nothing was stored.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401: missing, unknown or revoked token.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            crate::protocol::UNAUTHORIZED,
            "missing, unknown or revoked bearer token",
        )
    }

    /// 401: a pairing code that is unknown, expired or already used.
    pub fn pairing_refused() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            crate::protocol::PAIRING_REFUSED,
            "the pairing code is unknown, expired or already used; ask for a new one",
        )
    }

    /// 403: a valid token used for another store.
    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            crate::protocol::FORBIDDEN,
            "this token is not allowed for this store",
        )
    }

    /// 403: a valid token used for another register of its store.
    pub fn forbidden_register() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            crate::protocol::FORBIDDEN,
            "this token is not allowed for this register",
        )
    }

    /// 404: no such route or resource.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 404: a sale lookup that names no sale of the store.
    pub fn unknown_sale(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            tillkit_core::sync::protocol::UNKNOWN_SALE,
            message,
        )
    }

    /// 409: a receipt number that names more than one sale of the store.
    pub fn ambiguous_receipt(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            tillkit_core::sync::protocol::AMBIGUOUS_RECEIPT,
            message,
        )
    }

    /// 405: the route exists but not with this method.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed on this route",
        )
    }

    /// 413: the body is larger than the server accepts.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body exceeds {limit} bytes"),
        )
    }

    /// 413: more sales than one batch may hold.
    pub fn batch_too_large(count: usize, limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!("{count} sales in one batch; at most {limit} are accepted"),
        )
    }

    /// 408: the body did not arrive in full within `limit` of its head; nothing was stored
    /// and the connection is closed.
    pub fn request_timeout(limit: std::time::Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request body did not arrive within {} s; nothing of it was stored",
                limit.as_secs()
            ),
        )
    }

    /// 429: too many failed authentications from this peer.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many failed authentications or pairings; retry in {retry_after_secs} s"),
        );
        e.retry_after = Some(retry_after_secs);
        e
    }

    /// 503: the store is busy with other uploads; nothing was stored, retry after the wait.
    pub fn busy(retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            format!(
                "the store is busy with other uploads; nothing of this request was stored, retry in {retry_after_secs} s"
            ),
        );
        e.retry_after = Some(retry_after_secs);
        e
    }

    /// 500: something failed on the server; nothing of the request was stored.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed; nothing of this request was stored, retry later",
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::StoreNotFound(id) => ApiError::not_found(format!("store {id:?} not found")),
            StoreError::RegisterNotFound { .. } => ApiError::not_found(e.to_string()),
            StoreError::NoCatalog(id) => ApiError::new(
                StatusCode::CONFLICT,
                "no_catalog",
                format!("no catalogue has been loaded for store {id:?} yet"),
            ),
            StoreError::StoreExists(_) | StoreError::Invalid(_) => {
                ApiError::bad_request(e.to_string())
            }
            StoreError::Busy {
                ref message,
                retry_after_secs,
            } => {
                tracing::warn!(reason = %message, retry_after_secs, "store busy; asked to retry");
                ApiError::busy(retry_after_secs)
            }
            StoreError::Backend(_) | StoreError::Corrupt(_) => {
                // The detail stays in the server log; clients only learn to retry.
                tracing::error!(error = %e, "storage failure");
                ApiError::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody::new(self.code, self.message);
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::REQUEST_TIMEOUT {
            // The rest of a late body may still be on its way: the connection cannot carry
            // another request.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
