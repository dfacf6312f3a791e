//! Fixtures for the conformance suite and the tests: a sample catalogue and valid sales
//! built with the core's own tax engine. Compiled only for tests; it never touches storage.

use std::str::FromStr;

use rust_decimal::Decimal;
use tillkit_core::catalog::ProductRecord;
use tillkit_core::journal::{self, JournalLink, SegmentReason, SegmentStart};
use tillkit_core::refund::{
    RecordKind, RefundLine, RefundRecord, RefundShare, cumulative_cash_due, refund_figures,
};
use tillkit_core::sale::{Payment, PaymentMethod, SaleLine, SaleRecord};
use tillkit_core::tax::{self, LineInput, TaxSettings};
use uuid::Uuid;

use crate::protocol::CatalogFile;

/// A decimal literal; panics on a typo, which is a bug in the test itself.
pub fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal literal in a test")
}

/// UK-style settings: VAT-inclusive prices at 20%, 5% and 0%, rounded per line.
pub fn uk_tax() -> TaxSettings {
    serde_json::from_value(serde_json::json!({
        "currency": "GBP", "price_mode": "tax_inclusive", "rounding_rule": "half_up",
        "rounding_level": "line",
        "rates": [
            {"id": "vat20", "label": "VAT 20%", "percent": "20"},
            {"id": "vat5", "label": "VAT 5%", "percent": "5"},
            {"id": "vat0", "label": "VAT 0%", "percent": "0"}
        ],
        "categories": [
            {"id": "standard", "rate_ids": ["vat20"]},
            {"id": "reduced", "rate_ids": ["vat5"]},
            {"id": "zero", "rate_ids": ["vat0"]}
        ]
    }))
    .expect("fixture tax settings")
}

/// A small catalogue: two stock-tracked products (3 kettles, 10 seats), bread untracked.
pub fn uk_catalog() -> CatalogFile {
    serde_json::from_value(serde_json::json!({
        "store_name": "Camden High St",
        "tax": uk_tax(),
        "products": [
            {"id": "p-kettle", "sku": "KET-001", "name": "Brass Kettle", "price": "34.99",
             "tax_category": "standard", "barcodes": ["5012345678900"], "stock_tracked": true, "stock": "3"},
            {"id": "p-seat", "sku": "CHS-002", "name": "Child Car Seat", "price": "89.00",
             "tax_category": "reduced", "stock_tracked": true, "stock": "10"},
            {"id": "p-bread", "sku": "BRD-003", "name": "Sourdough Loaf", "price": "3.20",
             "tax_category": "zero"}
        ],
        "discounts": [
            {"id": "staff10", "label": "Staff 10%", "kind": "percent", "scope": "cart", "value": "10",
             "offline_allowed": true}
        ]
    }))
    .expect("fixture catalogue")
}

/// The catalogue's product `id`.
pub fn product<'c>(catalog: &'c CatalogFile, id: &str) -> &'c ProductRecord {
    catalog
        .products
        .iter()
        .find(|p| p.id == id)
        .expect("fixture product")
}

/// A valid, internally consistent sale of `lines` (product, quantity) computed with
/// `tax` (the device's settings), paid exactly in cash. Fields are public: tests may
/// tamper with the result.
pub fn sale(
    tax: &TaxSettings,
    store_id: &str,
    register_id: &str,
    seq: u64,
    lines: &[(&ProductRecord, Decimal)],
) -> SaleRecord {
    let inputs: Vec<LineInput> = lines
        .iter()
        .map(|(p, q)| LineInput {
            unit_price: p.price,
            quantity: *q,
            category_id: p.tax_category.clone(),
            discount: None,
        })
        .collect();
    let totals = tax::compute(tax, &inputs, None).expect("fixture lines compute");
    let due = tax::cash_due(tax, totals.total);
    let sale_lines = lines
        .iter()
        .zip(&totals.lines)
        .enumerate()
        .map(|(i, ((p, q), t))| SaleLine {
            line_no: i as u32 + 1,
            product_id: p.id.clone(),
            sku: p.sku.clone(),
            name: p.name.clone(),
            unit_price: p.price,
            quantity: *q,
            tax_category: p.tax_category.clone(),
            discount: None,
            amount: t.amount,
            line_discount: t.line_discount,
            cart_discount: t.cart_discount,
            net: t.net,
            tax: t.tax,
            gross: t.gross,
            stock_tracked: p.stock_tracked,
        })
        .collect();
    SaleRecord {
        sale_id: Uuid::now_v7(),
        store_id: store_id.into(),
        register_id: register_id.into(),
        staff_id: "staff-1".into(),
        receipt_no: format!("{register_id}-{seq:06}"),
        seq,
        created_at: 1_700_000_000_000 + seq as i64,
        currency: tax.currency.clone(),
        lines: sale_lines,
        cart_discount: None,
        subtotal: totals.subtotal,
        discount_total: totals.discount_total,
        net_total: totals.net_total,
        tax_total: totals.tax_total,
        total: totals.total,
        taxes: totals.breakdown,
        cash_rounding: due.rounding,
        amount_due: due.due,
        tendered: due.due,
        change_due: Decimal::ZERO,
        payments: vec![Payment {
            method: PaymentMethod::Cash,
            amount: due.due,
            reference: None,
        }],
        oversold: false,
        journal: None,
    }
}

/// A refund by `register_id` (its `seq`) of `quantity` of line `line_no` of `sale`, back to
/// stock, paid back in cash: its figures the line's share of the sale's, rounded down, so
/// refunds of one line in pieces never add up to more than was sold.
pub fn refund(
    sale: &SaleRecord,
    register_id: &str,
    seq: u64,
    line_no: u32,
    quantity: Decimal,
) -> RefundRecord {
    let l = sale
        .lines
        .iter()
        .find(|l| l.line_no == line_no)
        .expect("the sale has the line");
    let part = |x: Decimal| {
        (x * quantity / l.quantity)
            .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::ToZero)
    };
    let (gross, tax) = (part(l.gross), part(l.tax));
    let portion = sale
        .taxes
        .iter()
        .find(|p| Some(p.rate_id.as_str()) == l.tax_category.as_deref().map(rate_of))
        .map(|p| tillkit_core::tax::TaxPortion {
            rate_id: p.rate_id.clone(),
            label: p.label.clone(),
            percent: p.percent,
            taxable_base: gross - tax,
            tax,
        });
    let taxes: Vec<_> = portion.into_iter().collect();
    RefundRecord {
        kind: RecordKind::Refund,
        refund_id: Uuid::now_v7(),
        refund_of: sale.sale_id,
        refund_of_receipt: sale.receipt_no.clone(),
        store_id: sale.store_id.clone(),
        register_id: register_id.into(),
        staff_id: "staff-1".into(),
        receipt_no: format!("{register_id}-{seq:06}"),
        seq,
        created_at: 1_700_000_000_000 + seq as i64,
        currency: sale.currency.clone(),
        lines: vec![RefundLine {
            line_no,
            product_id: l.product_id.clone(),
            sku: l.sku.clone(),
            name: l.name.clone(),
            unit_price: l.unit_price,
            quantity,
            tax_category: l.tax_category.clone(),
            net: gross - tax,
            tax,
            gross,
            taxes: taxes.clone(),
            restock: l.stock_tracked,
            stock_tracked: l.stock_tracked,
            refunded_before: None,
        }],
        net_total: gross - tax,
        tax_total: tax,
        total: gross,
        taxes,
        cash_rounding: Decimal::ZERO,
        amount_paid: gross,
        payments: vec![Payment {
            method: PaymentMethod::Cash,
            amount: gross,
            reference: None,
        }],
        reason: None,
        journal: None,
    }
}

/// The one rate of a category of `uk_tax`.
fn rate_of(category: &str) -> &'static str {
    match category {
        "standard" => "vat20",
        "reduced" => "vat5",
        _ => "vat0",
    }
}

/// Links one register's `sales` (in order) into a journal opening a new segment, as a
/// device does when it writes them.
pub fn chained(mut sales: Vec<SaleRecord>) -> Vec<SaleRecord> {
    let mut prev: Option<(u64, String)> = None;
    for s in &mut sales {
        s.journal = Some(match prev.take() {
            None => {
                let id = Uuid::now_v7();
                JournalLink {
                    prev_seq: 0,
                    prev: journal::genesis(&s.store_id, &s.register_id, id),
                    segment: Some(SegmentStart {
                        id,
                        reason: SegmentReason::NewRegister,
                        after: None,
                        note: None,
                    }),
                    skipped: None,
                }
            }
            Some((prev_seq, prev)) => JournalLink {
                prev_seq,
                prev,
                segment: None,
                skipped: None,
            },
        });
        prev = Some((s.seq, journal::record_hash(&*s).expect("a sale hashes")));
    }
    sales
}

/// The variable naming the PostgreSQL server the tests may use (any database on it; each
/// test makes its own), e.g. `postgres://tillkit@127.0.0.1:5432/postgres`.
pub const POSTGRES_URL_VAR: &str = "TILLKIT_TEST_POSTGRES";
/// Set to `1` (tests/run-all.sh does) to make a missing PostgreSQL fail the tests.
pub const REQUIRE_POSTGRES_VAR: &str = "TILLKIT_REQUIRE_POSTGRES";

/// The test PostgreSQL server's URL, or `None` after printing why the test is skipped.
/// Panics instead when `TILLKIT_REQUIRE_POSTGRES=1`, so the full suite cannot pass without it.
pub fn postgres_url(test: &str) -> Option<String> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().to_string()),
        _ => {
            assert!(
                std::env::var(REQUIRE_POSTGRES_VAR).as_deref() != Ok("1"),
                "{test}: {REQUIRE_POSTGRES_VAR}=1 but {POSTGRES_URL_VAR} is not set"
            );
            eprintln!(
                "SKIPPED {test}: set {POSTGRES_URL_VAR}=postgres://USER@HOST:PORT/DB to run the \
                 PostgreSQL tests (tests/run-all.sh starts a private server and sets it)"
            );
            None
        }
    }
}

/// The variable naming the PEM file of the CA that signed the test server's certificate
/// (tests/postgres.sh starts it with TLS on and sets it).
pub const POSTGRES_CA_VAR: &str = "TILLKIT_TEST_POSTGRES_CA";

/// The test server's CA file, or `None` after printing why the test is skipped (a panic
/// under `TILLKIT_REQUIRE_POSTGRES=1`).
pub fn postgres_ca(test: &str) -> Option<String> {
    match std::env::var(POSTGRES_CA_VAR) {
        Ok(path) if !path.trim().is_empty() => Some(path.trim().to_string()),
        _ => {
            assert!(
                std::env::var(REQUIRE_POSTGRES_VAR).as_deref() != Ok("1"),
                "{test}: {REQUIRE_POSTGRES_VAR}=1 but {POSTGRES_CA_VAR} is not set"
            );
            eprintln!("SKIPPED {test}: {POSTGRES_CA_VAR} is not set (tests/postgres.sh sets it)");
            None
        }
    }
}

/// A fresh, empty schema on the test server, standing in for a database of its own (its URL
/// sets `search_path`), dropped when this value is dropped. Schemas, unlike databases, are
/// made and dropped in milliseconds.
#[derive(Debug)]
pub struct TestDatabase {
    /// Its URL, for `PgStore::connect` or `--database`.
    pub url: String,
    server: String,
    name: String,
}

impl TestDatabase {
    /// Creates a schema with a unique name on the server at `server_url`.
    pub async fn create(server_url: &str) -> TestDatabase {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "tillkit_test_{}_{}_{}",
            std::process::id(),
            tillkit_core::time::now_ms(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        admin_sql(server_url, &format!("CREATE SCHEMA {name}")).await;
        let sep = if server_url.contains('?') { '&' } else { '?' };
        TestDatabase {
            url: format!("{server_url}{sep}options=-csearch_path%3D{name}"),
            server: server_url.to_string(),
            name,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (server, sql) = (
            self.server.clone(),
            format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
        );
        // Drop may run inside a runtime: do it on a thread with its own.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(admin_sql(&server, &sql));
            }
        })
        .join();
    }
}

/// Runs one statement on the test server's maintenance connection.
async fn admin_sql(server_url: &str, sql: &str) {
    let (client, connection) = tokio_postgres::connect(server_url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL server: {e}"));
    let driver = tokio::spawn(connection);
    client
        .batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    drop(client);
    let _ = driver.await;
}

/// A refund as a register makes it: `quantity` of line `line_no` of `sale` after `before`
/// of the line was refunded, its figures from `refund::refund_figures` with `settings` (the
/// settings the sale was decided with), back to stock, paid back in cash rounded with
/// `settings`' coin on the running sum after `cash_owed_before` was owed back in cash.
#[allow(clippy::too_many_arguments)]
pub fn device_refund(
    sale: &SaleRecord,
    settings: &TaxSettings,
    register_id: &str,
    seq: u64,
    line_no: u32,
    quantity: Decimal,
    before: Decimal,
    cash_owed_before: Decimal,
) -> RefundRecord {
    let share = RefundShare {
        line_no,
        quantity,
        refunded_before: before,
    };
    let figures = refund_figures(sale, settings, &[share]).expect("a part of the sale line");
    let mut r = refund(sale, register_id, seq, line_no, quantity);
    let (line, f) = (&mut r.lines[0], &figures.lines[0]);
    (line.net, line.tax, line.gross) = (f.net, f.tax, f.gross);
    line.taxes = f.taxes.clone();
    line.refunded_before = Some(before);
    (r.net_total, r.tax_total, r.total) = (figures.net_total, figures.tax_total, figures.total);
    r.taxes = figures.taxes;
    let due = cumulative_cash_due(settings, cash_owed_before, figures.total);
    (r.cash_rounding, r.amount_paid) = (due.rounding, due.due);
    r.payments = if due.due > Decimal::ZERO {
        vec![Payment {
            method: PaymentMethod::Cash,
            amount: due.due,
            reference: None,
        }]
    } else {
        Vec::new()
    };
    r
}
