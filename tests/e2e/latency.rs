//! The device's sync latency metric tells the truth: every recovery from an outage with sales
//! waiting is measured once, from the moment the outage could first have been known over to
//! the moment the drain found nothing left to send, whatever the cashier or the OS does in
//! between. Real tills, the real server on loopback, the fault proxy between them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tillkit_core::metrics::{LatencySample, Metrics};
use tillkit_core::sale::SaleRecord;
use tillkit_core::sync::{StoreTokens, SyncConfig};
use tillkit_core::time::now_ms;
use tillkit_e2e::fixtures::*;
use tillkit_e2e::proxy::Link;

const DRAIN: Duration = Duration::from_secs(60);

/// Test settings with probes far apart (30 to 90 s): within a test, only what the test does
/// (a "sync now", a network report) can reach the server during an outage.
fn slow_probes(url: &str, token: &str) -> SyncConfig {
    let mut cfg = sync_config(url, token);
    cfg.probe_interval = Duration::from_secs(60);
    cfg
}

fn metrics(dev: &Device) -> Metrics {
    dev.till.metrics().expect("metrics")
}

/// Waits until the session store holds `n` latency samples; the last one.
fn wait_for_samples(dev: &Device, n: u64) -> LatencySample {
    wait_until(DRAIN, &format!("{n} latency sample(s)"), || {
        metrics(dev).latency_samples >= n
    });
    let m = metrics(dev);
    assert_eq!(m.latency_samples, n, "one sample per recovery: {m:?}");
    m.last_recovery.expect("the last recovery")
}

/// Waits until the engine has found the server unreachable by itself (an upload that got no
/// answer) with `pending` sales queued.
fn wait_for_the_outage(dev: &Device, pending: u64) {
    wait_until(DRAIN, "the engine to find the server unreachable", || {
        let s = dev.engine().status();
        s.pending == pending
            && !s.syncing
            && s.connectivity == tillkit_core::sync::Connectivity::Offline
            && s.last_error.is_some()
    });
}

#[test]
fn a_sync_now_during_an_outage_the_engine_found_still_records_its_one_latency_sample() {
    let server = Server::start();
    let proxy = server.proxy();
    let mut dev = Device::online(
        STORE,
        "R1",
        slow_probes(&proxy.url(), &server.token(STORE, "R1")),
    );
    proxy.set_link_state(Link::Reset);
    let before = now_ms();
    dev.ring_many(3);
    wait_for_the_outage(&dev, 3);
    assert_eq!(metrics(&dev).latency_samples, 0);

    // The server is back; the cashier presses "sync now" before the next probe is due. Its
    // upload is what ends the outage: the recovery is measured all the same.
    proxy.set_link_state(Link::Up);
    dev.engine().sync_now();
    dev.wait_drained(DRAIN);
    let sample = wait_for_samples(&dev, 1);
    assert_eq!(sample.sales, 3, "{sample:?}");
    assert!(
        sample.since >= before && sample.drained_at >= sample.since,
        "counted from the failed upload in the outage: {sample:?}"
    );
    server.assert_holds_exactly(STORE, &dev.sales);

    // A second "sync now" with nothing waiting measures nothing.
    dev.engine().sync_now();
    dev.ring_many(1);
    dev.wait_drained(DRAIN);
    assert_eq!(metrics(&dev).latency_samples, 1);
}

#[test]
fn a_sale_rung_after_the_stores_queue_came_back_empty_does_not_move_its_recovery_sample() {
    let server = Server::start();
    let db = server.store();
    db.create_store(OTHER_STORE, "Islington").expect("store");
    db.load_catalog_json(OTHER_STORE, uk_catalog("29.99"))
        .expect("catalogue");
    let proxy = server.proxy();
    let tokens = StoreTokens::new()
        .with(STORE, &server.token(STORE, "R1"))
        .with(OTHER_STORE, &server.token(OTHER_STORE, "R1"));
    let mut cfg = sync_config(&proxy.url(), "unused");
    cfg.credentials = Arc::new(tokens);
    let mut dev = Device::online(STORE, "R1", cfg);
    dev.set_network(false);
    // Sales of another store wait too: the round uploads them after the session store's.
    dev.till.logout();
    dev.till.login(OTHER_STORE, "R1", "bob").expect("login B");
    let catalogue = db
        .block_on(db.store().catalog(OTHER_STORE, None))
        .expect("catalogue");
    dev.till
        .import_catalog_json(&serde_json::to_string(&catalogue).expect("json"))
        .expect("import");
    dev.ring_many(4);
    let sales_b = std::mem::take(&mut dev.sales);
    dev.till.logout();
    dev.till.login(STORE, "R1", "alice").expect("login A");
    dev.ring_many(3);

    // While the other store's batch is answered (the session store's queue already came
    // back empty), the cashier rings the next sale.
    let till = dev.till.clone();
    let rung: Arc<Mutex<Option<(i64, SaleRecord)>>> = Arc::default();
    let once = AtomicBool::new(false);
    let hook_rung = rung.clone();
    proxy.before_reply(Some(Box::new(move |e| {
        if e.is_upload() && e.path.contains(OTHER_STORE) && !once.swap(true, Ordering::SeqCst) {
            let at = now_ms();
            let sale = ring(&till, &[("p-bread", "1")], false);
            *hook_rung.lock().expect("rung") = Some((at, sale));
        }
    })));
    dev.set_network(true);
    dev.wait_drained(DRAIN);
    let (rung_at, sale) = rung
        .lock()
        .expect("rung")
        .take()
        .expect("a sale was rung during the other store's upload");
    dev.sales.push(sale);

    let sample = wait_for_samples(&dev, 1);
    assert_eq!(sample.sales, 7, "both stores' sales waited: {sample:?}");
    assert!(
        sample.drained_at <= rung_at,
        "the queue was empty before the next sale was rung, the sample ends there: {sample:?}, \
         sale rung at {rung_at}"
    );
    server.assert_holds_exactly(STORE, &dev.sales);
    server.assert_holds_exactly(OTHER_STORE, &sales_b);
}

/// A sale far larger than the others (ten card payments with long references), which a
/// path that takes two ordinary sales per request refuses even alone.
fn ring_a_large_sale(dev: &mut Device) -> SaleRecord {
    use tillkit_core::sale::{Payment, PaymentMethod};
    let till = &dev.till;
    let mut cart = till.new_cart().expect("cart");
    for (product, qty) in [("p-kettle", "1"), ("p-seat", "1"), ("p-bread", "1")] {
        till.add_product(&mut cart, product, d(qty)).expect("add");
    }
    let total = cart.totals().expect("totals").total;
    let mut payments: Vec<Payment> = (0..10)
        .map(|i| Payment {
            method: PaymentMethod::Card,
            amount: d("0.01"),
            reference: Some(format!("{i:02}-{}", "T".repeat(120))),
        })
        .collect();
    payments.push(Payment {
        method: PaymentMethod::Cash,
        amount: total - d("0.10"),
        reference: None,
    });
    let sale = till.complete_sale(&cart, &payments).expect("sale").record;
    dev.sales.push(sale.clone());
    sale
}

#[test]
fn a_parked_sale_neither_holds_back_the_recovery_sample_nor_counts_in_it() {
    let server = Server::start();
    let proxy = server.proxy();
    let mut dev = Device::online(
        STORE,
        "R1",
        sync_config(&proxy.url(), &server.token(STORE, "R1")),
    );
    dev.set_network(false);
    dev.ring_many(2);
    let big = ring_a_large_sale(&mut dev);
    let len = |s: &SaleRecord| serde_json::to_string(s).expect("json").len();
    let normal = dev
        .sales
        .iter()
        .filter(|s| s.sale_id != big.sale_id)
        .map(len)
        .max()
        .expect("sales");
    proxy.set_max_body(Some(2 * (normal + 1) + 12));
    dev.set_network(true);
    wait_until(DRAIN, "the large sale parked, the others up", || {
        let s = dev.engine().status();
        s.pending == 1 && s.stores.first().is_some_and(|b| b.parked == 1)
    });
    let first = wait_for_samples(&dev, 1);
    assert_eq!(first.sales, 3, "{first:?}");

    // The next outage: three sales wait besides the parked one, which still does not fit.
    dev.set_network(false);
    dev.ring_many(3);
    dev.set_network(true);
    wait_until(DRAIN, "the three new sales up", || {
        dev.pending_ids(STORE) == [big.sale_id.to_string()]
    });
    let second = wait_for_samples(&dev, 2);
    assert_eq!(
        second.sales, 3,
        "the sample counts the sales the recovery had to send, not the parked one: {second:?}"
    );
    assert_eq!(dev.engine().status().pending, 1);
}

#[test]
fn repeated_network_up_reports_during_an_outage_send_no_extra_probe() {
    let server = Server::start();
    let proxy = server.proxy();
    let mut dev = Device::online(
        STORE,
        "R1",
        slow_probes(&proxy.url(), &server.token(STORE, "R1")),
    );
    proxy.set_link_state(Link::Reset);
    dev.ring_many(1);
    wait_for_the_outage(&dev, 1);
    let (_, _, refused_before) = proxy.link_damage();

    // The OS repeats "the network is up" (iOS does, on every path update): nothing changed,
    // so the engine keeps its probe schedule (the first probe is due 30 s after the failure
    // at the earliest) and sends nothing.
    for _ in 0..10 {
        dev.set_network(true);
        std::thread::sleep(Duration::from_millis(20));
    }
    // Time for a woken engine to have sent its probe (it sends at once when woken).
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        proxy.link_damage().2,
        refused_before,
        "a report that changed nothing sent a request"
    );
    // A real change is still heard at once: down, then up, tries the upload again.
    dev.set_network(false);
    dev.set_network(true);
    wait_until(
        DRAIN,
        "the upload tried after the network came back",
        || proxy.link_damage().2 > refused_before,
    );
    proxy.set_link_state(Link::Up);
    dev.engine().sync_now();
    dev.wait_drained(DRAIN);
    server.assert_holds_exactly(STORE, &dev.sales);
}

#[test]
fn impossible_stored_samples_are_left_out_of_the_figures_and_counted_as_dropped() {
    let dev = Device::new(STORE, "R1");
    // Rows as an older version wrote them from the wall clock: one real recovery of 1.2 s,
    // and a later one that "ended" before it started (the clock was set back in between).
    tillkit_core::testing::tamper(&dev.till, |c| {
        c.execute_batch(&format!(
            "INSERT INTO sync_latency (store_id, network_up, drained_at, sales)
             VALUES ('{STORE}', 10000, 11200, 4), ('{STORE}', 50000, 20000, 2)"
        ))?;
        Ok(())
    })
    .expect("rows");
    let m = metrics(&dev);
    assert_eq!((m.latency_samples, m.latency_dropped), (1, 1), "{m:?}");
    assert_eq!(
        (m.sync_latency_p50_ms, m.sync_latency_p95_ms),
        (Some(1200), Some(1200))
    );
    let last = m.last_recovery.expect("the real recovery");
    assert_eq!((last.since, last.drained_at, last.sales), (10000, 11200, 4));
}

#[test]
fn a_network_that_goes_away_again_mid_recovery_starts_the_sample_anew_when_it_returns() {
    let server = Server::start();
    let proxy = server.proxy();
    let mut dev = Device::online(
        STORE,
        "R1",
        sync_config(&proxy.url(), &server.token(STORE, "R1")),
    );
    dev.set_network(false);
    dev.ring_many(3);
    // The first upload of the recovery is held at the proxy until the network has gone away
    // and come back on the device.
    let (reached_tx, reached) = std::sync::mpsc::channel::<()>();
    let (go, go_rx) = std::sync::mpsc::channel::<()>();
    let reached_tx = Mutex::new(reached_tx);
    let go_rx = Mutex::new(go_rx);
    let once = AtomicBool::new(false);
    proxy.before_reply(Some(Box::new(move |e| {
        if e.is_upload() && !once.swap(true, Ordering::SeqCst) {
            let _ = reached_tx.lock().expect("tx").send(());
            let _ = go_rx
                .lock()
                .expect("rx")
                .recv_timeout(Duration::from_secs(30));
        }
    })));
    dev.set_network(true);
    reached
        .recv_timeout(DRAIN)
        .expect("the recovery's first upload");
    dev.set_network(false);
    let back = now_ms();
    dev.set_network(true);
    go.send(()).expect("release the upload");
    dev.wait_drained(DRAIN);
    let sample = wait_for_samples(&dev, 1);
    assert!(
        sample.since >= back,
        "the recovery counts from the network's last return, not across the second outage: \
         {sample:?}, back at {back}"
    );
    server.assert_holds_exactly(STORE, &dev.sales);
}
