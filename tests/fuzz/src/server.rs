//! What the server-side fuzz target promises, as a plain function: the fuzz target calls it
//! with libFuzzer's inputs and `server/tests/fuzz_regressions.rs` with the committed corpus.
//! It panics only on a bug; it must use no dependency beyond the server's own.

use tillkit_core::sale::SaleRecord;
use tillkit_core::tax::TaxSettings;
use tillkit_server::config::ServerConfig;
use tillkit_server::http::{BatchEntry, decode_batch_request};
use tillkit_server::testkit::uk_tax;
use tillkit_server::validate::{self, Decision};

/// The store in the path of every fuzzed upload.
pub const STORE: &str = "uk-01";

/// The store settings a sale is decided against, picked by its currency so the tax
/// recomputation runs in every price mode, rounding level and with cash rounding.
pub struct Settings(Vec<TaxSettings>);

impl Settings {
    /// GBP tax-inclusive per line, CHF with cash rounding, USD tax-exclusive per invoice
    /// with a compound rate.
    pub fn new() -> Settings {
        let other = |v: serde_json::Value| serde_json::from_value(v).expect("fixture tax settings");
        Settings(vec![
            uk_tax(),
            other(serde_json::json!({
                "currency": "CHF", "price_mode": "tax_inclusive", "rounding_rule": "half_up",
                "rounding_level": "line",
                "rates": [{"id": "mwst", "label": "MWST 8.1%", "percent": "8.1"}],
                "categories": [{"id": "normal", "rate_ids": ["mwst"]}],
                "cash_rounding": {"increment": "0.05", "rule": "half_up"}
            })),
            other(serde_json::json!({
                "currency": "USD", "price_mode": "tax_exclusive", "rounding_rule": "half_even",
                "rounding_level": "invoice",
                "rates": [
                    {"id": "state", "label": "State 6.25%", "percent": "6.25"},
                    {"id": "city", "label": "City 2.375%", "percent": "2.375", "compound": true}
                ],
                "categories": [
                    {"id": "general", "rate_ids": ["state", "city"]},
                    {"id": "food", "rate_ids": []}
                ]
            })),
        ])
    }

    fn for_sale(&self, sale: &SaleRecord) -> &TaxSettings {
        self.0
            .iter()
            .find(|s| s.currency == sale.currency)
            .unwrap_or(&self.0[0])
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings::new()
    }
}

/// A decoded refund: its canonical form is a fixed point, and it is decided without error
/// (rejected while the server holds no sale for it; a retry of a stored copy is a duplicate).
fn refund_decided_purely(settings: &Settings, refund: &tillkit_core::refund::RefundRecord) {
    let canonical = validate::canonical_refund(refund).expect("a decoded refund serialises");
    let reparsed: tillkit_core::refund::RefundRecord =
        serde_json::from_str(&canonical).expect("a canonical refund decodes");
    assert_eq!(
        validate::canonical_refund(&reparsed).expect("serialises"),
        canonical
    );
    let tax = &settings.0[0];
    let first = validate::decide_refund(refund, STORE, &refund.register_id, tax, None, None)
        .expect("deciding is pure");
    assert!(matches!(first, Decision::Rejected(_)), "{first:?}");
    if refund.store_id == STORE {
        let retry = validate::decide_refund(
            refund,
            STORE,
            &refund.register_id,
            tax,
            Some(&canonical),
            None,
        )
        .expect("deciding is pure");
        assert_eq!(retry, Decision::Duplicate);
    }
}

/// Bytes -> the upload handler's decoding and limits -> the per-sale decision every
/// storage backend makes. A bad body is a 400/413 `ApiError`; a decoded sale is decided
/// without error, and a retry of it is a duplicate. Returns how many sales were accepted.
pub fn server_request(settings: &Settings, bytes: &[u8]) -> usize {
    let config = ServerConfig::default();
    let entries = match decode_batch_request(bytes, &config) {
        Ok(entries) => entries,
        Err(e) => {
            assert!(
                matches!(
                    (e.status.as_u16(), e.code),
                    (400, "bad_request") | (413, "batch_too_large")
                ),
                "a bad body must be a 400 or 413, not {e:?}"
            );
            return 0;
        }
    };
    assert!(entries.len() <= config.max_batch_sales);
    // A sale that does not decode is answered alone (rejected with a reason), never a panic.
    let sales: Vec<SaleRecord> = entries
        .into_iter()
        .filter_map(|entry| match entry {
            BatchEntry::Sale(sale) => Some(sale),
            BatchEntry::Refund(refund) => {
                refund_decided_purely(settings, &refund);
                None
            }
            BatchEntry::Unreadable { reason, .. } => {
                assert!(!reason.is_empty());
                None
            }
        })
        .collect();
    let mut accepted = 0;
    for sale in &sales {
        let canonical = validate::canonical(sale).expect("a decoded sale serialises");
        // The canonical form is what a retry is compared with, so it must be a fixed point.
        let reparsed: SaleRecord =
            serde_json::from_str(&canonical).expect("a canonical sale decodes");
        assert_eq!(
            validate::canonical(&reparsed).expect("serialises"),
            canonical
        );

        let tax = settings.for_sale(sale);
        let decision =
            validate::decide(sale, STORE, &sale.register_id, tax, None).expect("deciding is pure");
        if let Decision::Accept(a) = &decision {
            accepted += 1;
            assert_eq!(a.canonical, canonical);
            let tracked = sale.lines.iter().filter(|l| l.stock_tracked).count();
            assert_eq!(a.movements.len(), tracked);
        }
        let retry = validate::decide(sale, STORE, &sale.register_id, tax, Some(&canonical))
            .expect("deciding is pure");
        if sale.store_id == STORE {
            assert_eq!(
                retry,
                Decision::Duplicate,
                "a retried sale must be a duplicate"
            );
        } else {
            assert!(
                matches!(retry, Decision::Rejected(_)),
                "another store's sale must be rejected"
            );
        }
    }
    accepted
}
