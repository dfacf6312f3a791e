//! Sync against the real server over loopback: registers that sold offline catch up
//! exactly once, a batch's sales are judged one by one, queues stay in their store, the
//! status pill tells the truth, and catalogue changes arrive by delta.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tillkit_core::sale::SaleRecord;
use tillkit_core::sync::{
    Connectivity, StatusListener, StoreBacklog, StoreBlock, StoreTokens, SyncConfig, SyncStatus,
};
use tillkit_e2e::fixtures::*;
use tillkit_e2e::proxy::{Exchange, Fault};

const DRAIN: Duration = Duration::from_secs(30);

#[test]
fn offline_registers_overselling_one_product_sync_every_sale_exactly_once() {
    let server = Server::start();
    let mut r1 = Device::online(
        STORE,
        "R1",
        sync_config(&server.url(), &server.token(STORE, "R1")),
    );
    let mut r2 = Device::online(
        STORE,
        "R2",
        sync_config(&server.url(), &server.token(STORE, "R2")),
    );
    r1.set_network(false);
    r2.set_network(false);

    // Three kettles in stock; each register sees three and sells two (four in all).
    r1.ring(&[("p-kettle", "1"), ("p-bread", "2")]);
    r2.ring(&[("p-kettle", "2")]);
    r1.ring(&[("p-cheese", "0.375")]);
    r1.ring(&[("p-kettle", "1"), ("p-seat", "1")]);
    r2.ring(&[("p-bread", "1"), ("p-cheese", "1.25")]);
    r1.ring_many(12);
    r2.ring_many(9);
    for dev in [&r1, &r2] {
        assert_eq!(dev.engine().status().pending, dev.sales.len() as u64);
        assert_eq!(dev.engine().status().connectivity, Connectivity::Offline);
    }
    assert_eq!(
        server.store().summary(STORE).expect("summary").sale_count,
        0,
        "nothing left the devices offline"
    );

    r1.set_network(true);
    r2.set_network(true);
    r1.wait_drained(DRAIN);
    r2.wait_drained(DRAIN);

    let all: Vec<_> = r1.sales.iter().chain(&r2.sales).cloned().collect();
    server.assert_holds_exactly(STORE, &all);

    // The oversell shows in the audit: both registers' movements, stock below zero.
    let audit = server.store().stock_audit(STORE).expect("audit");
    let kettle = audit
        .products
        .iter()
        .find(|p| p.product_id == "p-kettle")
        .expect("kettle audited");
    let kettles_sold = |regs: &str| {
        all.iter()
            .filter(|s| s.register_id == regs)
            .flat_map(|s| &s.lines)
            .filter(|l| l.product_id == "p-kettle")
            .map(|l| l.quantity)
            .sum::<rust_decimal::Decimal>()
    };
    let sold = kettles_sold("R1") + kettles_sold("R2");
    assert!(sold > d("3"), "the test must oversell (sold {sold})");
    assert_eq!(kettle.starting_stock, d("3"));
    assert_eq!(kettle.current_stock, d("3") - sold);
    let registers: Vec<_> = kettle
        .registers
        .iter()
        .map(|r| (r.register_id.as_str(), r.total))
        .collect();
    assert_eq!(
        registers,
        [("R1", -kettles_sold("R1")), ("R2", -kettles_sold("R2"))]
    );
    let last = kettle
        .below_zero
        .last()
        .expect("the oversell is listed below zero");
    assert_eq!(last.stock_after, kettle.current_stock);
    for dip in &kettle.below_zero {
        assert!(
            all.iter()
                .any(|s| s.sale_id == dip.sale_id && s.register_id == dip.register_id)
        );
    }
}

/// The exact record text a device stores and uploads for `sale_id`.
fn stored_record(dev: &Device, sale_id: &str) -> String {
    tillkit_core::testing::inspect(&dev.till, |c| {
        Ok(c.query_row(
            "SELECT record FROM sales WHERE sale_id = ?1",
            [sale_id],
            |r| r.get(0),
        )?)
    })
    .expect("stored record")
}

#[test]
fn each_sale_of_a_mixed_batch_gets_its_own_result_and_bad_ones_are_set_aside() {
    let server = Server::start();
    let proxy = server.proxy();
    let token = server.token(STORE, "R1");
    let mut dev = Device::online(STORE, "R1", sync_config(&proxy.url(), &token));
    dev.set_network(false);
    let dup = dev.ring(&[("p-bread", "1")]);
    let conflicting = dev.ring(&[("p-seat", "1")]);
    let invalid = dev.ring(&[("p-kettle", "1")]);
    let fine = [
        dev.ring(&[("p-cheese", "0.5")]),
        dev.ring(&[("p-bread", "4")]),
    ];

    // Duplicate: the very record already reached the server (e.g. through another path).
    let (status, answer) = server.post_batch(
        STORE,
        &token,
        format!(
            r#"{{"sales":[{}]}}"#,
            stored_record(&dev, &dup.sale_id.to_string())
        ),
    );
    assert_eq!(
        (status, answer["results"][0]["status"].as_str()),
        (200, Some("accepted"))
    );
    // Conflict: the server holds a different sale under the same id.
    let mut other = conflicting.clone();
    other.staff_id = "bob".into();
    let (status, answer) = server.post_batch(
        STORE,
        &token,
        serde_json::json!({ "sales": [other] }).to_string(),
    );
    assert_eq!(
        (status, answer["results"][0]["status"].as_str()),
        (200, Some("accepted"))
    );
    // Invalid: the stored record's total no longer adds up.
    let mut tampered: serde_json::Value =
        serde_json::from_str(&stored_record(&dev, &invalid.sale_id.to_string()))
            .expect("record JSON");
    tampered["total"] = serde_json::json!((invalid.total + d("1.00")).to_string());
    tillkit_core::testing::tamper(&dev.till, |c| {
        c.execute(
            "UPDATE sales SET record = ?2 WHERE sale_id = ?1",
            [invalid.sale_id.to_string(), tampered.to_string()],
        )?;
        Ok(())
    })
    .expect("tamper");

    dev.set_network(true);
    dev.wait_drained(DRAIN);

    // One request, one result per sale, in order.
    let uploads = proxy.uploads();
    assert_eq!(uploads.len(), 1, "all five went in one batch");
    let ids: Vec<String> = dev.sales.iter().map(|s| s.sale_id.to_string()).collect();
    assert_eq!(uploads[0].uploaded_ids(), ids);
    let results = uploads[0].results();
    let statuses: Vec<&str> = results.iter().map(|(_, s, _)| s.as_str()).collect();
    assert_eq!(
        statuses,
        ["duplicate", "conflict", "rejected", "accepted", "accepted"]
    );

    // The two the server would not take wait for a person, with the server's reasons.
    let reason = |i: usize| results[i].2.clone().expect("the server gave a reason");
    let aside = dev.till.attention_sales(10).expect("attention list");
    let aside: Vec<(String, Option<String>)> =
        aside.into_iter().map(|q| (q.sale_id, q.reason)).collect();
    assert_eq!(
        aside,
        [
            (
                conflicting.sale_id.to_string(),
                Some(format!("conflict: {}", reason(1)))
            ),
            (invalid.sale_id.to_string(), Some(reason(2))),
        ]
    );
    let status = dev.engine().status();
    assert_eq!((status.pending, status.attention), (0, 2));

    // The queue goes on: a later sale syncs while the two stay set aside.
    let later = dev.ring(&[("p-bread", "1")]);
    dev.wait_drained(DRAIN);
    assert_eq!(
        dev.till.attention_sales(10).expect("attention list").len(),
        2
    );
    server.assert_holds_exactly(
        STORE,
        &[dup, other, fine[0].clone(), fine[1].clone(), later],
    );
}

/// A device that sold 3 sales in store A (online first, so it has A's catalogue) and then,
/// logged in to store B with B's catalogue, 2 sales in B; nothing uploaded yet and no engine.
fn device_with_sales_in_two_stores(
    server: &Server,
    proxy_url: &str,
) -> (Device, Vec<SaleRecord>, Vec<SaleRecord>) {
    let token_a = server.token(STORE, "R1");
    let token_b = server.token(OTHER_STORE, "R1");
    let mut dev = Device::online(STORE, "R1", sync_config(proxy_url, &token_a));
    dev.set_network(false);
    dev.ring_many(3);
    let sales_a = std::mem::take(&mut dev.sales);
    dev.engine = None;
    dev.till.login(OTHER_STORE, "R1", "alice").expect("login");
    let catalog_b = server.get_json(&format!("/v1/stores/{OTHER_STORE}/catalog"), &token_b);
    dev.till
        .import_catalog_json(&catalog_b.to_string())
        .expect("store B catalogue");
    dev.ring_many(2);
    let sales_b = std::mem::take(&mut dev.sales);
    (dev, sales_a, sales_b)
}

/// Sync settings with one token per store.
fn per_store_config(url: &str, tokens: &[(&str, &str)]) -> SyncConfig {
    let mut creds = StoreTokens::new();
    for (store, token) in tokens {
        creds = creds.with(store, token);
    }
    let mut cfg = sync_config(url, "unused");
    cfg.credentials = Arc::new(creds);
    cfg
}

#[test]
fn every_stores_queue_uploads_with_its_own_token_and_a_refused_token_loses_nothing() {
    let server = Server::start();
    admin_second_store(&server);
    let proxy = server.proxy();
    let (mut dev, sales_a, sales_b) = device_with_sales_in_two_stores(&server, &proxy.url());
    let token_a = server.token(STORE, "R1");

    // Logged in to B, with A's token offered for B too: A's sales still go up (the queue
    // belongs to the register, not to the session); B's token is refused, and B loses nothing.
    dev.start(per_store_config(
        &proxy.url(),
        &[(STORE, &token_a), (OTHER_STORE, &token_a)],
    ));
    wait_until(DRAIN, "B's token to be refused and A to drain", || {
        let s = dev.engine().status();
        s.auth_failed && s.pending == 2
    });
    server.assert_holds_exactly(STORE, &sales_a);
    server.assert_holds_exactly(OTHER_STORE, &[]);
    let status = dev.engine().status();
    assert_eq!(
        (status.pending, status.attention),
        (2, 1),
        "B's queue, plus one store that cannot upload"
    );
    assert_eq!(
        status.stores,
        [StoreBacklog {
            store_id: OTHER_STORE.into(),
            pending: 2,
            parked: 0,
            set_aside: 0,
            blocked: Some(StoreBlock::TokenRefused),
        }]
    );
    assert!(proxy.exchanges().iter().any(|e| {
        e.path.starts_with(&format!("/v1/stores/{OTHER_STORE}/")) && e.status == Some(403)
    }));
    assert_eq!(dev.pending_ids(OTHER_STORE).len(), 2);

    // B's right token: B's sales go up too. Nothing was lost, nothing doubled.
    let token_b = server.token(OTHER_STORE, "R1");
    dev.start(per_store_config(
        &proxy.url(),
        &[(STORE, &token_a), (OTHER_STORE, &token_b)],
    ));
    dev.wait_drained(DRAIN);
    server.assert_holds_exactly(STORE, &sales_a);
    server.assert_holds_exactly(OTHER_STORE, &sales_b);
    for upload in proxy.uploads() {
        let store = if upload
            .path
            .starts_with(&format!("/v1/stores/{OTHER_STORE}/"))
        {
            &sales_b
        } else {
            &sales_a
        };
        let ids: Vec<String> = store.iter().map(|s| s.sale_id.to_string()).collect();
        assert!(
            upload.uploaded_ids().iter().all(|id| ids.contains(id)),
            "a sale went to another store's path"
        );
    }
}

#[test]
fn sales_of_a_store_without_a_token_are_counted_and_named_and_go_up_once_it_has_one() {
    let server = Server::start();
    admin_second_store(&server);
    let (mut dev, sales_a, sales_b) = device_with_sales_in_two_stores(&server, &server.url());
    // Nobody is logged in, and the device holds a token for A only.
    dev.till.logout();
    let token_a = server.token(STORE, "R1");
    dev.start(per_store_config(&server.url(), &[(STORE, &token_a)]));
    wait_until(DRAIN, "A to drain and B to be named", || {
        let s = dev.engine().status();
        s.pending == 2 && s.blocked_stores().count() == 1
    });
    server.assert_holds_exactly(STORE, &sales_a);
    let status = dev.engine().status();
    assert_eq!((status.pending, status.attention), (2, 1));
    assert!(!status.auth_failed, "no token is not a refused token");
    assert_eq!(
        status
            .blocked_stores()
            .map(|s| (s.store_id.as_str(), s.pending, s.blocked))
            .collect::<Vec<_>>(),
        [(OTHER_STORE, 2, Some(StoreBlock::NoToken))]
    );

    // The register is paired with B as well: B's sales go up, still with nobody logged in.
    let token_b = server.token(OTHER_STORE, "R1");
    dev.start(per_store_config(
        &server.url(),
        &[(STORE, &token_a), (OTHER_STORE, &token_b)],
    ));
    dev.wait_drained(DRAIN);
    server.assert_holds_exactly(OTHER_STORE, &sales_b);
    server.assert_holds_exactly(STORE, &sales_a);
    assert_eq!(dev.engine().status().attention, 0);
}

/// Store `uk-02` with the UK catalogue at another kettle price.
fn admin_second_store(server: &Server) {
    server
        .store()
        .create_store(OTHER_STORE, "Islington")
        .expect("store");
    server
        .store()
        .load_catalog_json(OTHER_STORE, uk_catalog("29.99"))
        .expect("catalogue");
}

/// Remembers every status it is given.
#[derive(Default)]
struct Recorder(Mutex<Vec<SyncStatus>>);

impl StatusListener for Recorder {
    fn on_status(&self, status: SyncStatus) {
        self.0.lock().unwrap().push(status);
    }
}

impl Recorder {
    fn seen(&self) -> Vec<SyncStatus> {
        self.0.lock().unwrap().clone()
    }

    /// Waits until a status after the first `from` ones matches; returns its index.
    fn wait_for(&self, from: usize, what: &str, matches: impl Fn(&SyncStatus) -> bool) -> usize {
        let mut at = None;
        wait_until(DRAIN, what, || {
            at = self
                .seen()
                .iter()
                .skip(from)
                .position(&matches)
                .map(|i| i + from);
            at.is_some()
        });
        at.expect("found")
    }
}

#[test]
fn status_listener_sees_amber_with_the_pending_count_offline_and_green_when_drained() {
    let mut server = Server::start();
    let proxy = server.proxy();
    let mut dev = Device::online(
        STORE,
        "R1",
        sync_config(&proxy.url(), &server.token(STORE, "R1")),
    );
    assert_eq!(dev.engine().status().connectivity, Connectivity::Online);

    // The current status at once.
    let current = dev.engine().status();
    let recorder = Arc::new(Recorder::default());
    let _subscription = dev.engine().subscribe(recorder.clone());
    wait_until(DRAIN, "the first status", || !recorder.seen().is_empty());
    assert_eq!(recorder.seen()[0], current);

    // Offline: amber, and every sale counted as pending.
    dev.set_network(false);
    dev.ring_many(3);
    let amber = recorder.wait_for(1, "amber with 3 pending", |s| {
        s.connectivity == Connectivity::Offline && s.pending == 3
    });
    assert!(recorder.seen()[amber].oldest_pending_at.is_some());

    // Back online: green, nothing pending.
    dev.set_network(true);
    let green = recorder.wait_for(amber, "green with 0 pending", |s| {
        s.connectivity == Connectivity::Online && s.pending == 0 && !s.syncing
    });
    assert!(recorder.seen()[green].last_success_at.is_some());

    // Wi-Fi up, server gone: amber too, with the new sale pending.
    server.stop();
    dev.ring(&[("p-bread", "1")]);
    let unreachable = recorder.wait_for(green, "amber while the server is down", |s| {
        s.connectivity == Connectivity::Offline && s.pending == 1
    });
    assert!(
        recorder.seen()[unreachable].last_error.is_some(),
        "the reason is shown"
    );
    assert_eq!(dev.engine().status().connectivity, Connectivity::Offline);

    // The server comes back (same data, new port behind the same address): green again.
    server.restart();
    proxy.set_upstream(server.addr());
    recorder.wait_for(unreachable, "green after the server came back", |s| {
        s.connectivity == Connectivity::Online && s.pending == 0 && !s.syncing
    });
    server.assert_holds_exactly(STORE, &dev.sales);
}

#[test]
fn price_change_arrives_by_delta_while_an_open_cart_keeps_the_old_price() {
    let server = Server::start();
    let proxy = server.proxy();
    let mut cfg = sync_config(&proxy.url(), &server.token(STORE, "R1"));
    cfg.catalog_interval = Duration::from_millis(100);
    cfg.periodic_interval = Duration::from_millis(100);
    let mut dev = Device::online(STORE, "R1", cfg);
    let before = dev
        .till
        .catalog_cursor(STORE)
        .expect("cursor")
        .expect("a catalogue");

    let mut open_cart = dev.till.new_cart().expect("cart");
    dev.till
        .add_product(&mut open_cart, "p-kettle", d("1"))
        .expect("add");

    let after = server
        .store()
        .load_catalog_json(STORE, uk_catalog("36.50"))
        .expect("new prices");
    wait_until(DRAIN, "the new price on the device", || {
        dev.till.catalog_cursor(STORE).expect("cursor").as_deref() == Some(after.as_str())
    });
    assert_eq!(
        dev.till.product("p-kettle").expect("kettle").price,
        d("36.50")
    );

    // It came as a delta from the device's cursor, carrying only what changed.
    let delta: Vec<Exchange> = proxy
        .exchanges()
        .into_iter()
        .filter(|e| {
            e.path == format!("/v1/stores/{STORE}/catalog?since={before}")
                && e.response_json()["cursor"] == after.as_str()
        })
        .collect();
    assert_eq!(
        delta.len(),
        1,
        "one delta moved the device from {before} to {after}"
    );
    let body = delta[0].response_json();
    assert_eq!(body["kind"], "delta");
    let changed: Vec<&str> = body["products"]
        .as_array()
        .expect("products")
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(changed, ["p-kettle"]);

    // The open cart keeps the price the cashier saw; a new cart gets the new one.
    assert_eq!(open_cart.lines()[0].unit_price, d("34.99"));
    let old_price = dev
        .till
        .complete_sale(&open_cart, &[cash(d("34.99"))])
        .expect("sale")
        .record;
    dev.sales.push(old_price.clone());
    assert_eq!(
        (old_price.lines[0].unit_price, old_price.total),
        (d("34.99"), d("34.99"))
    );
    let new_price = dev.ring(&[("p-kettle", "1")]);
    assert_eq!(new_price.total, d("36.50"));

    // The server keeps the receipt as printed.
    dev.wait_drained(DRAIN);
    server.assert_holds_exactly(STORE, &dev.sales);
}

fn cash(amount: rust_decimal::Decimal) -> tillkit_core::sale::Payment {
    tillkit_core::sale::Payment {
        method: tillkit_core::sale::PaymentMethod::Cash,
        amount,
        reference: None,
    }
}

#[test]
fn a_store_id_that_needs_escaping_in_a_url_syncs_like_any_other() {
    // Store ids are 1 to 64 printable characters on both sides: spaces and symbols included.
    let server = Server::start();
    let store = "Camden High St #2+";
    server
        .store()
        .create_store(store, "Camden 2")
        .expect("store");
    server
        .store()
        .load_catalog_json(store, uk_catalog("34.99"))
        .expect("catalogue");
    let mut dev = Device::online(
        store,
        "R1",
        sync_config(&server.url(), &server.token(store, "R1")),
    );
    dev.ring_many(3);
    dev.wait_drained(DRAIN);
    server.assert_holds_exactly(store, &dev.sales);
}

#[test]
fn a_set_aside_sale_is_retried_on_request_and_only_the_servers_verdict_sets_it_aside_again() {
    let server = Server::start();
    let proxy = server.proxy();
    let mut dev = Device::online(
        STORE,
        "R1",
        sync_config(&proxy.url(), &server.token(STORE, "R1")),
    );
    dev.set_network(false);
    dev.ring(&[("p-bread", "1")]);
    let bad = dev.ring(&[("p-seat", "1")]);
    dev.ring(&[("p-cheese", "0.5")]);
    let bad_id = bad.sale_id.to_string();
    let original = stored_record(&dev, &bad_id);
    let mut tampered: serde_json::Value = serde_json::from_str(&original).expect("record JSON");
    tampered["total"] = serde_json::json!((bad.total + d("1.00")).to_string());
    rewrite_record(&dev, &bad_id, &tampered.to_string());
    dev.set_network(true);
    dev.wait_drained(DRAIN);
    let aside = dev.till.attention_sales(10).expect("attention");
    assert_eq!(aside.len(), 1);
    let reason = aside[0].reason.clone().expect("the server's reason");

    // Retried as it is: the server rejects it again, and only that sets it aside again.
    let sent_alone = |proxy: &tillkit_e2e::proxy::Proxy| {
        proxy
            .uploads()
            .iter()
            .filter(|e| e.uploaded_ids() == [bad_id.clone()])
            .count()
    };
    assert_eq!(dev.till.retry_attention_sales(None).expect("retry"), 1);
    dev.engine().sync_now();
    wait_until(DRAIN, "the retried sale to be judged again", || {
        sent_alone(&proxy) == 1 && dev.engine().status().attention == 1
    });
    let again = dev.till.attention_sales(10).expect("attention");
    assert_eq!(again[0].reason.as_deref(), Some(reason.as_str()));

    // Fixed and retried by id: the server takes it. Nothing was lost or doubled.
    rewrite_record(&dev, &bad_id, &original);
    let ids = [bad_id.clone()];
    assert_eq!(
        dev.till.retry_attention_sales(Some(&ids)).expect("retry"),
        1
    );
    assert_eq!(
        dev.till
            .retry_attention_sales(Some(&["no-such-sale".to_string()]))
            .expect("retry"),
        0
    );
    dev.engine().sync_now();
    dev.wait_drained(DRAIN);
    assert_eq!(dev.engine().status().attention, 0);
    server.assert_holds_exactly(STORE, &dev.sales);
}

/// Replaces the stored (and uploaded) record of `sale_id`, as a damaged or fixed copy would.
fn rewrite_record(dev: &Device, sale_id: &str, record: &str) {
    tillkit_core::testing::tamper(&dev.till, |c| {
        c.execute(
            "UPDATE sales SET record = ?2 WHERE sale_id = ?1",
            [sale_id, record],
        )?;
        Ok(())
    })
    .expect("rewrite the record");
}

#[test]
fn dropping_the_engine_and_the_till_closes_the_database_at_once() {
    let server = Server::start();
    // A stalling proxy keeps an upload in flight while the engine is dropped.
    let proxy = server.proxy();
    proxy.on_uploads([Fault::Stall(Duration::from_secs(3))]);
    let mut dev = Device::online(
        STORE,
        "R1",
        sync_config(&proxy.url(), &server.token(STORE, "R1")),
    );
    dev.ring_many(5);
    wait_until(DRAIN, "an upload to be in flight", || {
        proxy
            .exchanges()
            .iter()
            .any(|e| e.path.ends_with("/sales/batch"))
    });
    let wal = dev.till.db_path().with_extension("db-wal");
    assert!(wal.exists(), "the open database has its WAL");
    let Device {
        dir: _dir,
        till,
        engine,
        ..
    } = dev;
    drop(engine);
    drop(till);
    // The last connection's close checkpoints and removes the WAL: nothing holds it now.
    assert!(
        !wal.exists(),
        "the database is closed when the till is dropped"
    );
}
