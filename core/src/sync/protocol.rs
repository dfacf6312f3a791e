//! The sync wire protocol's request and response bodies (see docs/sync-protocol.md).
//! Pure data: no I/O, no policy.

use serde::{Deserialize, Serialize};

/// What the server decided for one uploaded sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SaleStatus {
    /// Stored now.
    Accepted,
    /// Already stored with the same content: the device treats it as synced.
    Duplicate,
    /// Same id, different content: nothing changed on the server; needs a person.
    Conflict,
    /// Failed validation; never retried automatically.
    Rejected,
}

/// One entry of a batch response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleResult {
    pub sale_id: String,
    pub status: SaleStatus,
    #[serde(default)]
    pub reason: Option<String>,
}

/// The body of a batch upload response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchResponse {
    pub results: Vec<SaleResult>,
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `unauthorized`.
    pub error: String,
    /// Human-readable detail; never contains a token.
    #[serde(default)]
    pub message: String,
}

/// The body of `GET /v1/stores/{store_id}/registers/{register_id}/last-seq`: the highest
/// `seq` the server holds for the register (0 when it holds none), so a device that lost its
/// database numbers its next receipts after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastSeq {
    pub store_id: String,
    pub register_id: String,
    pub last_seq: u64,
}

/// Builds a batch request body from stored payloads without re-encoding them: the
/// bytes sent on a retry are exactly the bytes sent the first time.
pub fn batch_body(payloads: &[&str]) -> String {
    let len = payloads.iter().map(|p| p.len() + 1).sum::<usize>() + 12;
    let mut body = String::with_capacity(len);
    body.push_str("{\"sales\":[");
    for (i, p) in payloads.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(p);
    }
    body.push_str("]}");
    body
}

/// Decodes a batch upload response body; the error is serde's message. The fuzz target
/// `sync_response` and its regression test drive this with arbitrary bytes.
pub fn decode_batch_response(bytes: &[u8]) -> Result<BatchResponse, String> {
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}
