//! The sync protocol version check: a device names its version in `tillkit-protocol`; one
//! this server cannot serve gets `400 unsupported_protocol` with the versions it can. Nothing else.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tillkit_core::sync::protocol::{
    ErrorBody, PROTOCOL_HEADER, PROTOCOL_VERSION, ProtocolRange, UNSUPPORTED_PROTOCOL,
};

/// The protocol versions this server serves.
pub const SUPPORTED: ProtocolRange = ProtocolRange {
    min: 1,
    max: PROTOCOL_VERSION,
};

/// Passes requests of a version this server serves (or without the header: devices from
/// before it speak version 1); answers any other with the typed error.
pub async fn check(request: Request, next: Next) -> Response {
    let Some(value) = request.headers().get(PROTOCOL_HEADER) else {
        return next.run(request).await;
    };
    let version = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok());
    match version {
        Some(v) if (SUPPORTED.min..=SUPPORTED.max).contains(&v) => next.run(request).await,
        _ => {
            let sent = String::from_utf8_lossy(value.as_bytes());
            let sent: String = sent.chars().take(20).collect();
            tracing::warn!(version = %sent, "unsupported protocol version");
            let mut body = ErrorBody::new(
                UNSUPPORTED_PROTOCOL,
                format!(
                    "this server speaks sync protocol {} to {}; the device sent {sent:?}",
                    SUPPORTED.min, SUPPORTED.max
                ),
            );
            body.supported_protocol = Some(SUPPORTED);
            (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
        }
    }
}
