//! Sync never strands a sale, whatever the path or the config does: a health route that
//! answers HTML, a store whose uploads are refused next to one whose are not, a sale the
//! server cannot read, a parked sale of a blocked store, a clock that went back, a gateway's
//! own 401, a redirect, and a config of zeros. Each case ends with the server holding every
//! sale it was sent once, and nothing set aside that the server did not reject.

use std::sync::Arc;
use std::time::Duration;

use tillkit_core::outbox::QueueState;
use tillkit_core::sale::SaleRecord;
use tillkit_core::sync::{StoreTokens, SyncConfig, SyncError};
use tillkit_e2e::fixtures::*;
use tillkit_e2e::proxy::{Fault, Outcome, Proxy, Reply};

const DRAIN: Duration = Duration::from_secs(60);

fn is_health(method: &str, path: &str) -> bool {
    method == "GET" && path == "/v1/health"
}

#[test]
fn a_health_route_answering_html_or_404_after_a_lost_upload_never_strands_the_queue() {
    for health in [
        Reply::html(200),
        Reply::html(404),
        Reply::status(200).body("text/plain", "OK"),
    ] {
        let (server, proxy, dev) = offline_device_behind_proxy(60, 20, |_| {});
        proxy.always(is_health, Fault::Reply(health.clone()));
        // The first upload gets no answer: the engine probes the health route until it
        // answers, and this one answers, only not with the protocol's JSON.
        proxy.on_uploads([Fault::ResetMidRequest]);
        let (log, _sub) = watch_status(&dev);
        dev.set_network(true);
        dev.wait_drained(DRAIN);

        server.assert_holds_exactly(STORE, &dev.sales);
        assert_none_set_aside(&dev, &log);
        assert!(
            proxy
                .exchanges()
                .iter()
                .any(|e| is_health(&e.method, &e.path) && e.outcome == Outcome::Answered),
            "the odd health answer was met ({health:?})"
        );
    }
}

#[test]
fn sync_now_tries_the_upload_at_once_while_health_probes_go_unanswered() {
    let (server, proxy, dev) = offline_device_behind_proxy(30, 10, |_| {});
    // The health route is swallowed by the path; uploads are not.
    proxy.always(is_health, Fault::BlackHole);
    proxy.on_uploads([Fault::ResetMidRequest]);
    dev.set_network(true);
    wait_until(DRAIN, "a health probe after the lost upload", || {
        proxy
            .exchanges()
            .iter()
            .any(|e| is_health(&e.method, &e.path) && e.outcome == Outcome::Swallowed)
    });
    assert_eq!(dev.engine().status().pending, 30, "nothing went up yet");

    // A person presses "sync now": the upload goes, whatever the probes do.
    dev.engine().sync_now();
    dev.wait_drained(DRAIN);
    server.assert_holds_exactly(STORE, &dev.sales);
}

/// A server with a second store and its catalogue, a proxy, and a device holding a token
/// for each store that rang `a` sales in `STORE` and `b` in `OTHER_STORE` offline. The
/// session is `STORE`'s, so its queue is tried first.
fn two_store_device(a: usize, b: usize) -> (Server, Proxy, Device, Vec<SaleRecord>) {
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
    cfg.batch_size = 10;
    let mut dev = Device::online(STORE, "R1", cfg);
    dev.set_network(false);
    dev.till.logout();
    dev.till.login(OTHER_STORE, "R1", "bob").expect("login B");
    let catalogue = db
        .block_on(db.store().catalog(OTHER_STORE, None))
        .expect("catalogue");
    dev.till
        .import_catalog_json(&serde_json::to_string(&catalogue).expect("json"))
        .expect("import");
    dev.ring_many(b);
    let sales_b = std::mem::take(&mut dev.sales);
    dev.till.logout();
    dev.till.login(STORE, "R1", "alice").expect("login A");
    dev.ring_many(a);
    (server, proxy, dev, sales_b)
}

#[test]
fn one_stores_refused_uploads_never_hold_up_another_stores_in_the_same_round() {
    let (server, proxy, dev, sales_b) = two_store_device(30, 40);
    // Every upload of the session's store is refused by the path, as a whole.
    let batch_a = format!("/v1/stores/{STORE}/sales/batch");
    proxy.always(
        move |m, p| m == "POST" && p == batch_a,
        Fault::Reply(Reply::html(400)),
    );
    let (log, _sub) = watch_status(&dev);
    dev.set_network(true);

    wait_until(DRAIN, "the other store's sales on the server", || {
        server
            .store()
            .summary(OTHER_STORE)
            .expect("summary")
            .sale_count
            == sales_b.len() as u64
    });
    server.assert_holds_exactly(OTHER_STORE, &sales_b);
    assert_eq!(
        dev.pending_ids(STORE).len(),
        30,
        "the refused store's sales stay queued"
    );
    assert!(log.showed_error("HTTP 400, text/html, probably a proxy"));

    // The path is fixed: the refused store catches up.
    proxy.clear_always();
    dev.wait_drained(DRAIN);
    server.assert_holds_exactly(STORE, &dev.sales);
    server.assert_holds_exactly(OTHER_STORE, &sales_b);
    assert_none_set_aside(&dev, &log);
}

#[test]
fn a_sale_the_server_cannot_read_is_rejected_alone_and_the_rest_of_its_batch_is_stored() {
    for backend in [Some(Backend::Sqlite), Backend::postgres("unreadable_sale")]
        .into_iter()
        .flatten()
    {
        let server = Server::start_on(&backend);
        let proxy = server.proxy();
        let mut cfg = sync_config(&proxy.url(), &server.token(STORE, "R1"));
        cfg.batch_size = 10;
        let mut dev = Device::online(STORE, "R1", cfg);
        dev.set_network(false);
        dev.ring_many(10);
        // A queued record the server cannot decode (a field it does not know), as a newer
        // app or a damaged record would send it.
        let odd = dev.sales.remove(4);
        let odd_id = odd.sale_id.to_string();
        let mut record = serde_json::to_value(&odd).expect("json");
        record["x_unknown"] = serde_json::json!(1);
        tillkit_core::testing::tamper(&dev.till, |c| {
            c.execute(
                "UPDATE sales SET record = ?2 WHERE sale_id = ?1",
                rusqlite::params![odd_id, record.to_string()],
            )?;
            Ok(())
        })
        .expect("tamper");
        dev.set_network(true);
        dev.wait_drained(DRAIN);

        server.assert_holds_exactly(STORE, &dev.sales);
        let shown = dev.till.attention_sales(10).expect("attention");
        assert_eq!(shown.len(), 1, "{shown:?}");
        assert_eq!(
            (shown[0].sale_id.as_str(), shown[0].state),
            (odd_id.as_str(), QueueState::Attention)
        );
        let reason = shown[0].reason.as_deref().unwrap_or_default();
        assert!(
            reason.contains("unreadable sale record") && reason.contains("x_unknown"),
            "{reason}"
        );
        let upload = &proxy.uploads()[0];
        assert_eq!(upload.status, Some(200));
        let verdicts: Vec<String> = upload.results().into_iter().map(|(_, s, _)| s).collect();
        assert_eq!(verdicts.len(), 10);
        assert_eq!(verdicts[4], "rejected");
        assert!(
            verdicts
                .iter()
                .enumerate()
                .all(|(i, v)| i == 4 || v == "accepted"),
            "{verdicts:?}"
        );
    }
}

/// A body limit on the path that lets each ordinary sale through alone, never `big`.
fn limit_below(dev: &Device, big: &SaleRecord) -> usize {
    let limit = longest_other_sale(dev, big) + 1 + 12;
    assert!(record_len(big) + 12 > limit);
    limit
}

fn alone(proxy: &Proxy, sale_id: &str) -> usize {
    proxy
        .uploads()
        .iter()
        .filter(|e| e.uploaded_ids() == [sale_id.to_string()])
        .count()
}

#[test]
fn a_parked_sale_of_a_store_whose_token_is_refused_never_spins_the_engine() {
    let mut hooks = None;
    let (server, proxy, mut dev) = offline_device_behind_proxy(0, 10, |cfg| {
        hooks = Some(cfg.hooks.clone());
    });
    let hooks = hooks.expect("hooks");
    let big = ring_a_large_sale(&mut dev, &[("p-bread", "1")]);
    dev.ring_many(2);
    proxy.set_max_body(Some(limit_below(&dev, &big)));
    let acknowledged = dev.engine().status().last_success_at;
    dev.set_network(true);
    wait_until(DRAIN, "the large sale parked, the others up", || {
        let s = dev.engine().status();
        s.pending == 1 && s.stores.first().is_some_and(|b| b.parked == 1)
    });
    assert_eq!(
        dev.engine().status().last_success_at,
        acknowledged,
        "a queue holding a parked sale was not acknowledged whole"
    );

    // The register's token is revoked: the parked sale's next try is refused, and its
    // store is blocked until a person acts, with the parked sale due again meanwhile.
    server.store().revoke_register(STORE, "R1").expect("revoke");
    proxy.set_max_body(None);
    wait_until(DRAIN, "the token refused", || {
        dev.engine().status().auth_failed
    });
    let requests = proxy.exchanges().len();
    let rounds = hooks.upload_rounds();
    std::thread::sleep(Duration::from_secs(1));
    let spun = hooks.upload_rounds() - rounds;
    // Idle, a round comes every periodic interval (30 s); a spinning engine runs thousands.
    assert!(spun <= 3, "{spun} upload rounds in a second while blocked");
    assert_eq!(
        proxy.exchanges().len(),
        requests,
        "nothing was sent for the blocked store"
    );
    let status = dev.engine().status();
    assert_eq!((status.pending, status.needs_pairing), (1, true));
    assert_eq!(dev.pending_ids(STORE), [big.sale_id.to_string()]);
}

#[test]
fn a_clock_that_went_back_never_parks_a_sale_longer_than_one_park() {
    let (server, proxy, mut dev) = offline_device_behind_proxy(5, 10, |cfg| {
        // Parks of 5 s, never longer than 20 s.
        cfg.backoff_base = Duration::from_secs(5);
        cfg.backoff_cap = Duration::from_secs(20);
    });
    let big = ring_a_large_sale(&mut dev, &[("p-bread", "1")]);
    let big_id = big.sale_id.to_string();
    proxy.set_max_body(Some(limit_below(&dev, &big)));
    dev.set_network(true);
    wait_until(DRAIN, "the large sale parked", || {
        dev.engine()
            .status()
            .stores
            .first()
            .is_some_and(|b| b.parked == 1 && b.pending == 1)
    });
    let tries = alone(&proxy, &big_id);

    // The park was set by a clock a day fast that has since been set right: as stored, the
    // sale would wait a day.
    let day_ahead = tillkit_core::time::now_ms() + 24 * 3_600_000;
    tillkit_core::testing::tamper(&dev.till, |c| {
        c.execute(
            "UPDATE outbox SET parked_until = ?1 WHERE parked_until IS NOT NULL",
            [day_ahead],
        )?;
        Ok(())
    })
    .expect("tamper");
    wait_until(DRAIN, "the parked sale tried again", || {
        alone(&proxy, &big_id) > tries
    });

    proxy.set_max_body(None);
    dev.wait_drained(DRAIN);
    server.assert_holds_exactly(STORE, &dev.sales);
}

#[test]
fn a_gateways_json_401_or_403_is_a_refused_request_not_a_refused_token() {
    let (server, proxy, dev) = offline_device_behind_proxy(40, 20, |_| {});
    proxy.on_uploads([
        Fault::Reply(Reply::status(401).body(
            "application/json",
            r#"{"error":"invalid_token","error_description":"The access token expired"}"#,
        )),
        Fault::Reply(Reply::status(403).body(
            "application/json",
            r#"{"error":"request blocked by policy","message":"WAF rule 942100"}"#,
        )),
    ]);
    let (log, _sub) = watch_status(&dev);
    dev.set_network(true);
    dev.wait_drained(DRAIN);

    server.assert_holds_exactly(STORE, &dev.sales);
    assert_none_set_aside(&dev, &log);
    assert!(
        log.seen()
            .iter()
            .all(|s| !s.auth_failed && !s.needs_pairing),
        "a gateway's 401/403 is no verdict on the register's token"
    );
    assert!(log.showed_error("HTTP 401, application/json, probably a proxy"));
}

#[test]
fn a_redirect_is_never_followed_and_the_sales_stay_queued_until_the_path_is_fixed() {
    let (server, proxy, dev) = offline_device_behind_proxy(30, 10, |_| {});
    proxy.on_uploads([
        Fault::Reply(
            Reply::status(307).header("location", "/portal/login?session=s3cr3t&mac=aa:bb"),
        ),
        Fault::Reply(Reply::html(302).header("location", "/v1/health")),
    ]);
    let (log, _sub) = watch_status(&dev);
    dev.set_network(true);
    dev.wait_drained(DRAIN);

    server.assert_holds_exactly(STORE, &dev.sales);
    assert_none_set_aside(&dev, &log);
    assert!(
        proxy
            .exchanges()
            .iter()
            .all(|e| !e.path.starts_with("/portal")),
        "the redirect was followed"
    );
    assert!(
        log.showed_error(
            "upload was redirected (HTTP 307 to /portal/login), probably a captive portal"
        ),
        "{:?}",
        log.seen()
            .iter()
            .filter_map(|s| s.last_error.clone())
            .collect::<Vec<_>>()
    );
    assert!(
        !log.showed_error("s3cr3t"),
        "the redirect's query is never shown"
    );
}

#[test]
fn zero_durations_and_batch_size_in_the_config_neither_spin_nor_strand() {
    let (server, proxy, dev) = offline_device_behind_proxy(12, 0, |cfg: &mut SyncConfig| {
        cfg.request_timeout = Duration::ZERO;
        cfg.connect_timeout = Duration::ZERO;
        cfg.backoff_base = Duration::ZERO;
        cfg.backoff_cap = Duration::ZERO;
        cfg.probe_interval = Duration::ZERO;
        cfg.periodic_interval = Duration::ZERO;
    });
    proxy.on_uploads(std::iter::repeat_n(Fault::Reply(Reply::html(400)), 3));
    dev.set_network(true);
    dev.wait_drained(DRAIN);

    server.assert_holds_exactly(STORE, &dev.sales);
    // One sale per batch (a batch size of 0 means 1); the three refusals were met and
    // retried, and nothing was sent before the backoff let it (no spin: a handful of
    // uploads, however loaded the machine, not thousands).
    let uploads = proxy.uploads();
    assert!(uploads.iter().all(|e| e.uploaded_ids().len() == 1));
    let refused = uploads
        .iter()
        .filter(|e| e.outcome == Outcome::Answered)
        .count();
    assert_eq!(refused, 3);
    assert!(uploads.len() < 12 + 3 + 20, "{} uploads", uploads.len());
}

#[test]
fn a_health_answer_larger_than_a_health_answer_is_not_read() {
    let server = Server::start();
    let proxy = server.proxy();
    let cfg = sync_config(&proxy.url(), "unused");
    let client = tillkit_core::sync::client::Client::new(&cfg).expect("client");
    assert!(server.rt.block_on(client.health()).is_ok());
    let padding = "x".repeat(64 * 1024);
    proxy.always(
        is_health,
        Fault::Reply(Reply::status(200).body(
            "application/json",
            format!(r#"{{"status":"ok","padding":"{padding}"}}"#),
        )),
    );
    let answer = server.rt.block_on(client.health());
    assert!(
        matches!(answer, Err(SyncError::BadResponse { .. })),
        "{answer:?}"
    );
}

/// A listener that panics on its first `panics` statuses, then records them.
struct Flaky {
    panics: std::sync::atomic::AtomicU32,
    seen: StatusLog,
}

impl tillkit_core::sync::StatusListener for Flaky {
    fn on_status(&self, status: tillkit_core::sync::SyncStatus) {
        let left = self
            .panics
            .fetch_update(
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
                |n| n.checked_sub(1),
            )
            .is_ok();
        assert!(!left, "a listener that panics");
        self.seen.on_status(status);
    }
}

#[test]
fn a_panicking_status_listener_keeps_its_subscription_and_the_status_starts_with_the_queue() {
    let (server, _proxy, mut dev) = offline_device_behind_proxy(25, 10, |_| {});
    // A restarted engine's first status already counts the queue.
    let cfg = sync_config(&_proxy.url(), &server.token(STORE, "R1"));
    dev.start(cfg);
    let first = Arc::new(StatusLog::default());
    let _first_sub = dev.engine().subscribe(first.clone());
    wait_until(DRAIN, "the first status", || !first.seen().is_empty());
    assert_eq!(first.seen()[0].pending, 25, "{:?}", first.seen()[0]);

    dev.set_network(false);
    let flaky = Arc::new(Flaky {
        panics: std::sync::atomic::AtomicU32::new(2),
        seen: StatusLog::default(),
    });
    let _sub = dev.engine().subscribe(flaky.clone());
    dev.ring_many(3);
    dev.set_network(true);
    dev.wait_drained(DRAIN);
    wait_until(DRAIN, "the drained queue heard by the listener", || {
        flaky.seen.seen().iter().any(|s| s.pending == 0)
    });
    server.assert_holds_exactly(STORE, &dev.sales);
}

#[test]
fn retrying_set_aside_sales_covers_every_store_on_the_device() {
    let (server, _proxy, dev, sales_b) = two_store_device(3, 4);
    // The server once set aside one sale of each store (played here); the cashier is
    // logged in to store A.
    let aside = [
        dev.sales[0].sale_id.to_string(),
        sales_b[1].sale_id.to_string(),
    ];
    let verdicts: Vec<_> = aside
        .iter()
        .map(|id| {
            (
                id.clone(),
                tillkit_core::outbox::Verdict::SetAside("played by the test".into()),
            )
        })
        .collect();
    tillkit_core::testing::apply_verdicts(&dev.till, &verdicts).expect("verdicts");
    assert_eq!(dev.till.retry_attention_sales(None).expect("retry"), 2);
    dev.set_network(true);
    dev.wait_drained(DRAIN);
    server.assert_holds_exactly(STORE, &dev.sales);
    server.assert_holds_exactly(OTHER_STORE, &sales_b);
}
