//! The sync wire protocol's request and response bodies (see docs/sync-protocol.md).
//! Pure data: no I/O, no policy. Nothing the device reads from a server refuses unknown fields.

use serde::{Deserialize, Serialize};

/// The version of the sync protocol this core speaks, sent in `PROTOCOL_HEADER` on every
/// request. A server that cannot serve it answers `400 unsupported_protocol`. Version 2
/// added the journal link on records, refunds and the sale lookup (docs/sync-protocol.md).
pub const PROTOCOL_VERSION: u32 = 2;

/// The request header that carries the device's protocol version.
pub const PROTOCOL_HEADER: &str = "tillkit-protocol";

/// The `error` code of a server that cannot serve the device's protocol version.
pub const UNSUPPORTED_PROTOCOL: &str = "unsupported_protocol";

/// The `error` code of a `401`: the bearer token is missing, unknown or revoked.
pub const UNAUTHORIZED: &str = "unauthorized";

/// The `error` code of a `403`: a valid token used for another store or register.
pub const FORBIDDEN: &str = "forbidden";

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
    /// A verdict a newer server gives that this app does not know: the sale is neither
    /// synced nor set aside, it stays queued and the status asks for an app update.
    /// A server never sends this value itself.
    #[serde(other)]
    Unknown,
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

/// The protocol versions a server can serve, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolRange {
    pub min: u32,
    pub max: u32,
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `unauthorized`.
    pub error: String,
    /// Human-readable detail; never contains a token.
    #[serde(default)]
    pub message: String,
    /// With `unsupported_protocol`: the versions the server can serve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supported_protocol: Option<ProtocolRange>,
}

impl ErrorBody {
    /// An error body with a code and a message.
    pub fn new(error: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorBody {
            error: error.into(),
            message: message.into(),
            supported_protocol: None,
        }
    }
}

/// What `GET /v1/health` answers, and the only answer that counts as the server being there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Always `"ok"` when the server answers at all.
    pub status: String,
    /// The server's clock (Unix ms), so a device can tell how far off its own is.
    pub server_time: i64,
}

/// The `status` of the server's health answer.
pub const HEALTH_OK: &str = "ok";

/// The body of `GET /v1/stores/{store_id}/registers/{register_id}/last-seq`: the highest
/// `seq` the server holds for the register (0 when it holds none), so a device that lost its
/// database numbers its next receipts after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastSeq {
    pub store_id: String,
    pub register_id: String,
    pub last_seq: u64,
}

/// The `error` code of `GET .../sales/lookup` for a sale the store does not hold.
pub const UNKNOWN_SALE: &str = "unknown_sale";

/// The `error` code of `GET .../sales/lookup?receipt_no=` for a receipt number that names
/// more than one sale (a register that numbered again from 1): ask by `sale_id`.
pub const AMBIGUOUS_RECEIPT: &str = "ambiguous_receipt";

/// The answer of `GET /v1/stores/{store_id}/sales/lookup?receipt_no=...|sale_id=...`: a sale
/// of the store as the server holds it, for a register that did not ring it to refund it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SaleLookup {
    /// The sale exactly as stored.
    pub sale: crate::sale::SaleRecord,
    /// Every refund of it the server holds, from any register of the store, in the order
    /// they were stored: what is left to refund is what was sold minus these.
    pub refunds: Vec<crate::refund::RefundRecord>,
    /// The store's tax settings the server checked the sale with when it arrived (never
    /// today's); `None` for a sale stored before the server kept them.
    pub tax_settings: Option<crate::tax::TaxSettings>,
    /// Whether the sale's figures matched the server's recomputation with `tax_settings`.
    pub totals_match: bool,
}

/// The `error` code of `POST /v1/pair` for a code that is unknown, expired or used.
pub const PAIRING_REFUSED: &str = "pairing_refused";

/// The body of `POST /v1/pair`: the one-time code an operator made for a register.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairRequest {
    pub code: String,
}

/// The answer of `POST /v1/pair`: the register the code was made for and its fresh token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairResponse {
    pub store_id: String,
    pub register_id: String,
    pub token: String,
}

// Neither the code nor the token may reach a log through `{:?}`.
impl std::fmt::Debug for PairRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PairRequest").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for PairResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PairResponse")
            .field("store_id", &self.store_id)
            .field("register_id", &self.register_id)
            .finish_non_exhaustive()
    }
}

/// Builds a batch request body from stored payloads without re-encoding them: the
/// bytes sent on a retry are exactly the bytes sent the first time.
pub fn batch_body(payloads: &[&str]) -> String {
    let len = payloads.iter().map(|p| p.len() + 1).sum::<usize>() + BATCH_OVERHEAD;
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

/// Bytes a batch body adds around its sales (`{"sales":[` and `]}`), commas aside.
pub const BATCH_OVERHEAD: usize = 12;

/// Decodes a batch upload response body; the error is serde's. The fuzz target
/// `sync_response` and its regression test drive this with arbitrary bytes.
pub fn decode_batch_response(bytes: &[u8]) -> Result<BatchResponse, serde_json::Error> {
    serde_json::from_slice(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_this_app_does_not_know_decodes_as_unknown_not_as_an_error() {
        let r = decode_batch_response(
            br#"{"results":[{"sale_id":"a","status":"held_for_review"},{"sale_id":"b","status":"accepted"}]}"#,
        )
        .expect("decodes");
        assert_eq!(r.results[0].status, SaleStatus::Unknown);
        assert_eq!(r.results[1].status, SaleStatus::Accepted);
    }

    #[test]
    fn a_newer_servers_extra_fields_are_ignored_in_every_answer_the_device_reads() {
        let batch = br#"{"results":[{"sale_id":"a","status":"accepted","shard":3,"reason":null}],
                        "server_version":"9.1","next":{"hint":1}}"#;
        let r = decode_batch_response(batch).expect("extra fields are ignored");
        assert_eq!(r.results[0].status, SaleStatus::Accepted);
        let err: ErrorBody = serde_json::from_slice(
            br#"{"error":"unsupported_protocol","message":"m","supported_protocol":{"min":1,"max":1,"preferred":1},"trace":"x"}"#,
        )
        .expect("extra fields are ignored");
        assert_eq!(
            err.supported_protocol,
            Some(ProtocolRange { min: 1, max: 1 })
        );
    }

    #[test]
    fn a_catalogue_with_extra_fields_in_every_object_decodes_as_without_them() {
        let plain = serde_json::json!({
            "store_id": "uk-01", "store_name": "Camden", "kind": "snapshot", "cursor": "7",
            "tax": {
                "currency": "GBP", "price_mode": "tax_inclusive", "rounding_rule": "half_up",
                "rounding_level": "line",
                "rates": [{"id": "vat20", "label": "VAT 20%", "percent": "20"}],
                "categories": [{"id": "standard", "rate_ids": ["vat20"]}],
                "cash_rounding": {"increment": "0.05", "rule": "half_up"}
            },
            "products": [{"id": "p", "sku": "S", "name": "N", "price": "1.00",
                          "tax_category": "standard", "barcodes": ["1"]}],
            "discounts": [{"id": "d", "label": "D", "kind": "percent", "scope": "cart",
                           "value": "10", "offline_allowed": true}],
            "removed_product_ids": [], "removed_discount_ids": []
        });
        fn add(v: &mut serde_json::Value) {
            match v {
                serde_json::Value::Object(m) => {
                    m.values_mut().for_each(add);
                    m.insert("x_new".into(), serde_json::json!({"a": [1]}));
                }
                serde_json::Value::Array(a) => a.iter_mut().for_each(add),
                _ => {}
            }
        }
        let mut extra = plain.clone();
        add(&mut extra);
        let a: crate::catalog::CatalogPayload = serde_json::from_value(plain).expect("plain");
        let b: crate::catalog::CatalogPayload =
            serde_json::from_value(extra).expect("extra fields are ignored");
        assert_eq!(a, b);
    }

    #[test]
    fn a_batch_body_wraps_payloads_verbatim_with_the_stated_overhead() {
        let body = batch_body(&[r#"{"a":1}"#, r#"{"b":2}"#]);
        assert_eq!(body, r#"{"sales":[{"a":1},{"b":2}]}"#);
        assert_eq!(body.len(), 7 + 7 + 1 + BATCH_OVERHEAD);
    }
}
