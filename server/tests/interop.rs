//! The real device core against this server: a `Till` sells (discounts, weighed goods, card,
//! split and cash-rounded payments) and its own sync engine uploads: all accepted, sums match.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use tillkit_core::sale::{Payment, PaymentMethod};
use tillkit_core::store::key::MemoryVault;
use tillkit_core::sync::{SyncConfig, SyncEngine};
use tillkit_core::{Config, Till};
use tillkit_server::testkit::d;
use tillkit_server::{admin, spawn_local};

fn cash(amount: &str) -> Payment {
    Payment {
        method: PaymentMethod::Cash,
        amount: d(amount),
        reference: None,
    }
}

fn card(amount: Decimal, reference: &str) -> Payment {
    Payment {
        method: PaymentMethod::Card,
        amount,
        reference: Some(reference.into()),
    }
}

/// A till logged in to `store_id`, syncing with the server; waits for the catalogue.
fn device(
    dir: &std::path::Path,
    url: &str,
    token: &str,
    store_id: &str,
) -> (Arc<Till>, SyncEngine) {
    let till = Arc::new(
        Till::open_with_vault(Config::new(dir), &MemoryVault::default()).expect("till opens"),
    );
    till.login(store_id, "R07", "alice").expect("login");
    let mut cfg = SyncConfig::new(url, token);
    cfg.allow_http_loopback = true;
    let engine = SyncEngine::start(till.clone(), cfg).expect("engine starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while till.catalog_cursor(store_id).expect("cursor").is_none() {
        assert!(
            Instant::now() < deadline,
            "the engine never imported the server's catalogue"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (till, engine)
}

#[test]
fn sales_from_a_real_till_sync_through_the_core_engine_and_add_up() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let server = rt
        .block_on(spawn_local(&dir.path().join("server.db")))
        .expect("server");
    let store = server.store();
    rt.block_on(admin::create_store(&*store, "uk-01", "Camden"))
        .expect("store");
    rt.block_on(admin::load_catalog_json(
        &*store,
        "uk-01",
        serde_json::json!({
            "tax": tillkit_server::testkit::uk_tax(),
            "products": [
                {"id": "p-kettle", "sku": "KET-001", "name": "Brass Kettle", "price": "34.99",
                 "tax_category": "standard", "stock_tracked": true, "stock": "3"},
                {"id": "p-seat", "sku": "CHS-002", "name": "Child Car Seat", "price": "89.00",
                 "tax_category": "reduced", "stock_tracked": true, "stock": "10"},
                {"id": "p-bread", "sku": "BRD-003", "name": "Sourdough Loaf", "price": "3.20", "tax_category": "zero"},
                {"id": "p-cheese", "sku": "CHZ-004", "name": "Cheddar by weight", "price": "18.40",
                 "tax_category": "zero", "stock_tracked": true, "stock": "5.5"}
            ],
            "discounts": [
                {"id": "staff10", "label": "Staff 10%", "kind": "percent", "scope": "cart", "value": "10", "offline_allowed": true},
                {"id": "damaged", "label": "Damaged", "kind": "percent", "scope": "line", "max": "50", "offline_allowed": true}
            ]
        }),
    ))
    .expect("uk catalogue");
    rt.block_on(admin::create_store(&*store, "ch-01", "Zürich"))
        .expect("store");
    rt.block_on(admin::load_catalog_json(
        &*store,
        "ch-01",
        serde_json::json!({
            "tax": {
                "currency": "CHF", "price_mode": "tax_inclusive", "rounding_rule": "half_up",
                "rounding_level": "line",
                "rates": [{"id": "mwst", "label": "MWST 8.1%", "percent": "8.1"}],
                "categories": [{"id": "normal", "rate_ids": ["mwst"]}],
                "cash_rounding": {"increment": "0.05", "rule": "half_up"}
            },
            "products": [{"id": "p-choc", "sku": "CH-1", "name": "Schokolade", "price": "3.92", "tax_category": "normal"}]
        }),
    ))
    .expect("ch catalogue");
    let uk_token = rt
        .block_on(admin::create_register(&*store, "uk-01", "R07"))
        .expect("token");
    let ch_token = rt
        .block_on(admin::create_register(&*store, "ch-01", "R07"))
        .expect("token");

    let uk_dir = tempfile::tempdir().expect("tempdir");
    let (uk, uk_engine) = device(
        uk_dir.path(),
        &server.base_url(),
        uk_token.expose(),
        "uk-01",
    );
    let mut totals = Vec::new();

    let mut cart = uk.new_cart().expect("cart");
    uk.add_product(&mut cart, "p-kettle", d("1")).expect("add");
    totals.push(
        uk.complete_sale(&cart, &[cash("50")])
            .expect("cash sale with change")
            .record,
    );

    let mut cart = uk.new_cart().expect("cart");
    uk.add_product(&mut cart, "p-seat", d("1")).expect("add");
    uk.add_product(&mut cart, "p-bread", d("2")).expect("add");
    uk.add_product(&mut cart, "p-cheese", d("0.375"))
        .expect("add weighed");
    uk.apply_discount(&mut cart, "staff10", None, None)
        .expect("cart discount");
    let total = cart.totals().expect("totals").total;
    totals.push(
        uk.complete_sale(&cart, &[card(total, "TX-0001")])
            .expect("card sale")
            .record,
    );

    let mut cart = uk.new_cart().expect("cart");
    let line = uk.add_product(&mut cart, "p-kettle", d("1")).expect("add");
    uk.apply_discount(&mut cart, "damaged", Some(line), Some(d("20")))
        .expect("line discount");
    totals.push(
        uk.complete_sale(&cart, &[card(d("10"), "TX-0002"), cash("20")])
            .expect("split payment")
            .record,
    );

    let ch_dir = tempfile::tempdir().expect("tempdir");
    let (ch, ch_engine) = device(
        ch_dir.path(),
        &server.base_url(),
        ch_token.expose(),
        "ch-01",
    );
    let mut cart = ch.new_cart().expect("cart");
    ch.add_product(&mut cart, "p-choc", d("3")).expect("add");
    let ch_sale = ch
        .complete_sale(&cart, &[cash("20")])
        .expect("cash-rounded sale")
        .record;
    assert_ne!(
        ch_sale.cash_rounding,
        Decimal::ZERO,
        "the fixture exercises cash rounding"
    );

    for (till, engine) in [(&uk, &uk_engine), (&ch, &ch_engine)] {
        engine.sync_now();
        assert!(
            engine.wait_until_drained(Duration::from_secs(30)),
            "queue drained"
        );
        let set_aside = till.attention_sales(50).expect("attention");
        assert!(
            set_aside.is_empty(),
            "the server refused a real sale: {set_aside:?}"
        );
    }

    let uk_summary = rt.block_on(store.summary("uk-01")).expect("summary");
    assert_eq!(uk_summary.sale_count, 3);
    assert_eq!(
        uk_summary.total,
        totals.iter().map(|s| s.total).sum::<Decimal>()
    );
    assert_eq!(
        uk_summary.tax_total,
        totals.iter().map(|s| s.tax_total).sum::<Decimal>()
    );
    assert_eq!(
        uk_summary.sales_with_tax_difference, 0,
        "same settings, same engine, same tax"
    );
    let ch_summary = rt.block_on(store.summary("ch-01")).expect("summary");
    assert_eq!(
        (ch_summary.sale_count, ch_summary.total),
        (1, ch_sale.total)
    );
    for s in totals.iter().chain([&ch_sale]) {
        let stored = rt
            .block_on(store.stored_sale(&s.store_id, &s.sale_id.to_string()))
            .expect("read")
            .expect("stored");
        assert_eq!(
            &stored.record, s,
            "stored exactly as the device recorded it"
        );
        assert!(stored.totals_match);
    }

    let audit = rt.block_on(store.stock_audit("uk-01")).expect("audit");
    let stock = |id: &str| {
        audit
            .products
            .iter()
            .find(|p| p.product_id == id)
            .map(|p| p.current_stock)
    };
    assert_eq!(stock("p-kettle"), Some(d("1")));
    assert_eq!(stock("p-cheese"), Some(d("5.125")));
    drop((uk_engine, ch_engine));
    rt.block_on(server.shutdown()).expect("shutdown");
}
