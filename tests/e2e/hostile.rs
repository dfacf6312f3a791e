//! Sync through the network of a real shop: a proxy or WAF that answers with HTML error
//! pages, a body limit, a misroute, absurd `Retry-After` headers, a broken catalogue
//! endpoint, a panic in the sync task, a logout mid-drain and a server older than the app.
//! Every case ends with the server holding each sale once and nothing set aside that the
//! server did not reject.

use std::sync::Arc;
use std::time::Duration;

use tillkit_core::outbox::QueueState;
use tillkit_core::sale::SaleRecord;
use tillkit_core::sync::protocol::PROTOCOL_VERSION;
use tillkit_core::sync::{ProtocolMismatch, SyncStatus};
use tillkit_e2e::fixtures::*;
use tillkit_e2e::proxy::{Fault, Mangle, Outcome, Reply};

const DRAIN: Duration = Duration::from_secs(60);

/// The promise of every case: each sale on the server once, and none set aside.
fn assert_all_arrived_and_none_set_aside(server: &Server, dev: &Device, log: &StatusLog) {
    server.assert_holds_exactly(STORE, &dev.sales);
    assert_none_set_aside(dev, log);
}

#[test]
fn a_burst_of_html_400s_from_a_proxy_sets_nothing_aside_and_every_sale_arrives_once() {
    let (server, proxy, dev) = offline_device_behind_proxy(300, 50, |_| {});
    let (log, _sub) = watch_status(&dev);
    proxy.on_uploads(std::iter::repeat_n(Fault::Reply(Reply::html(400)), 8));
    dev.set_network(true);
    dev.wait_drained(DRAIN);

    assert_all_arrived_and_none_set_aside(&server, &dev, &log);
    let answered: Vec<_> = proxy
        .uploads()
        .iter()
        .filter(|e| e.outcome == Outcome::Answered)
        .map(|e| e.uploaded_ids())
        .collect();
    assert_eq!(answered.len(), 8, "all eight 400s were met");
    // A 400 is the path's answer, not a verdict on a sale: two in a row halve the batch,
    // as cuts do, and nothing is set aside or parked (a sale is parked only when refused
    // alone three times).
    assert_eq!(
        answered.iter().map(Vec::len).collect::<Vec<_>>(),
        [50, 50, 25, 25, 12, 12, 6, 6]
    );
    assert!(
        log.showed_error("the server refused the upload: HTTP 400, text/html, probably a proxy"),
        "the cashier and the operator were told what happened"
    );
    assert_eq!(dev.engine().status().last_error, None);
}

#[test]
fn a_413_from_the_path_splits_batches_and_parks_only_the_sale_too_large_for_it() {
    let (server, proxy, mut dev) = offline_device_behind_proxy(20, 50, |_| {});
    // Four lines and ten card payments with long references.
    let lines = [
        ("p-kettle", "1"),
        ("p-seat", "1"),
        ("p-bread", "1"),
        ("p-cheese", "0.25"),
    ];
    let big = ring_a_large_sale(&mut dev, &lines);
    dev.ring_many(20);
    // Room for two ordinary sales in one request, never for the large one.
    let limit = 2 * (longest_other_sale(&dev, &big) + 1) + 12;
    assert!(
        record_len(&big) + 12 > limit,
        "the large sale must not fit ({} vs {limit})",
        record_len(&big)
    );
    proxy.set_max_body(Some(limit));
    let (log, _sub) = watch_status(&dev);
    dev.set_network(true);

    // Everything but the large sale goes up; the large one stays queued, parked, shown.
    let big_id = big.sale_id.to_string();
    wait_until(
        DRAIN,
        "every other sale on the server and the large one parked",
        || {
            let s = dev.engine().status();
            s.pending == 1 && s.stores.first().is_some_and(|b| b.parked == 1)
        },
    );
    let others: Vec<_> = dev
        .sales
        .iter()
        .filter(|s| s.sale_id != big.sale_id)
        .cloned()
        .collect();
    server.assert_holds_exactly(STORE, &others);
    let status = dev.engine().status();
    assert_eq!(
        (status.pending, status.attention),
        (1, 1),
        "pending and attention both count it"
    );
    let shown = dev.till.attention_sales(10).expect("attention");
    assert_eq!(shown.len(), 1);
    assert_eq!(
        (shown[0].sale_id.as_str(), shown[0].state),
        (big_id.as_str(), QueueState::Parked)
    );
    assert!(
        shown[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("HTTP 413")),
        "{shown:?}"
    );
    assert!(
        shown[0].reason.is_none(),
        "the server gave no verdict on it"
    );
    assert_eq!(
        dev.pending_ids(STORE),
        std::slice::from_ref(&big_id),
        "it is still queued"
    );

    // It is retried alone, with backoff, without holding anything up.
    wait_until(DRAIN, "the parked sale to be tried alone again", || {
        proxy
            .uploads()
            .iter()
            .filter(|e| e.uploaded_ids() == [big_id.clone()])
            .count()
            >= 3
    });
    let late = dev.ring(&[("p-bread", "1")]);
    wait_until(DRAIN, "a sale rung after it to go up", || {
        server
            .store()
            .stored_sale(STORE, &late.sale_id.to_string())
            .expect("stored")
            .is_some()
    });

    // The path is fixed: the parked sale goes through on its own next try.
    proxy.set_max_body(None);
    dev.wait_drained(DRAIN);
    assert_all_arrived_and_none_set_aside(&server, &dev, &log);
    assert!(
        proxy
            .uploads()
            .iter()
            .any(|e| e.status == Some(413) && e.uploaded_ids().len() > 1),
        "batches were split"
    );
}

/// Rings a sale of the four products paid with `cards` card slips of 0.01 with long
/// references and the rest in cash: far larger than an ordinary sale.
fn ring_a_sale_paid_with_many_cards(dev: &mut Device, cards: usize) -> SaleRecord {
    use tillkit_core::sale::{Payment, PaymentMethod};
    let till = &dev.till;
    let mut cart = till.new_cart().expect("cart");
    for (product, qty) in [
        ("p-kettle", "1"),
        ("p-seat", "1"),
        ("p-bread", "1"),
        ("p-cheese", "0.25"),
    ] {
        till.add_product(&mut cart, product, d(qty)).expect("add");
    }
    let total = cart.totals().expect("totals").total;
    let mut payments: Vec<Payment> = (0..cards)
        .map(|i| Payment {
            method: PaymentMethod::Card,
            amount: d("0.01"),
            reference: Some(format!("{i:03}-{}", "T".repeat(120))),
        })
        .collect();
    payments.push(Payment {
        method: PaymentMethod::Cash,
        amount: total - d("0.01") * rust_decimal::Decimal::from(cards),
        reference: None,
    });
    let sale = till.complete_sale(&cart, &payments).expect("sale").record;
    dev.sales.push(sale.clone());
    sale
}

#[test]
fn a_path_that_cuts_a_large_sale_instead_of_answering_413_parks_it_and_the_sales_behind_go_up() {
    a_large_sale_the_path_never_carries_is_parked(Fault::Reset, "cut in flight");
}

#[test]
fn a_filter_that_refuses_a_large_sale_with_an_html_403_parks_it_and_the_sales_behind_go_up() {
    a_large_sale_the_path_never_carries_is_parked(Fault::Reply(Reply::html(403)), "refused");
}

#[test]
fn a_path_that_stalls_a_large_sale_until_it_times_out_parks_it_and_the_sales_behind_go_up() {
    a_large_sale_the_path_never_carries_is_parked(
        Fault::Stall(Duration::from_secs(120)),
        "left unanswered until the request timeout",
    );
}

/// A path that carries ordinary batches but never the one large sale, and never says why:
/// `fault` (a reset, a stall, a filter's HTML refusal) instead of a 413. `how` is what the
/// parked sale's error says happened to it.
fn a_large_sale_the_path_never_carries_is_parked(fault: Fault, how: &str) {
    // Parks long enough that the sale parked at its third lone cut is not due again before
    // the sales behind it have gone (each request waits at most 2 s for a stall). Refusals
    // are answered, so no probe paces them: each round waits for the upload backoff.
    let refusal = matches!(fault, Fault::Reply(_));
    let (server, proxy, mut dev) = offline_device_behind_proxy(0, 10, |cfg| {
        (cfg.backoff_base, cfg.backoff_cap) = if refusal {
            (Duration::from_millis(300), Duration::from_millis(1500))
        } else {
            (Duration::from_secs(1), Duration::from_secs(4))
        };
        cfg.request_timeout = Duration::from_secs(2);
    });
    // A sale paid with 99 card slips first in line, then twenty ordinary sales.
    let big = ring_a_sale_paid_with_many_cards(&mut dev, 99);
    let big_id = big.sale_id.to_string();
    dev.ring_many(20);
    let others: Vec<_> = dev
        .sales
        .iter()
        .filter(|s| s.sale_id != big.sale_id)
        .cloned()
        .collect();
    // The path carries any full batch (ten) of ordinary sales, never the large one alone,
    // and says nothing: it resets (or stalls) any request with a larger body.
    let mut lengths: Vec<usize> = others.iter().map(|s| record_len(s) + 1).collect();
    lengths.sort_unstable_by(|a, b| b.cmp(a));
    let limit = lengths[..10].iter().sum::<usize>() + 12;
    assert!(
        record_len(&big) + 12 > limit,
        "the large sale must not fit ({} vs {limit})",
        record_len(&big)
    );
    proxy.set_fault_above(Some((limit, fault)));
    let (log, _sub) = watch_status(&dev);
    dev.set_network(true);

    // The twenty go up; the large one stays queued, parked, shown, with what happened.
    wait_until(
        DRAIN,
        "the twenty ordinary sales on the server and the large one parked",
        || {
            let s = dev.engine().status();
            s.pending == 1 && s.stores.first().is_some_and(|b| b.parked == 1)
        },
    );
    server.assert_holds_exactly(STORE, &others);
    let status = dev.engine().status();
    assert_eq!(
        (status.pending, status.attention),
        (1, 1),
        "pending and attention both count it"
    );
    assert_eq!(
        dev.pending_ids(STORE),
        std::slice::from_ref(&big_id),
        "it is still queued"
    );
    let shown = dev.till.attention_sales(10).expect("attention");
    assert_eq!(shown.len(), 1);
    assert_eq!(
        (shown[0].sale_id.as_str(), shown[0].state),
        (big_id.as_str(), QueueState::Parked)
    );
    let why = shown[0].last_error.clone().unwrap_or_default();
    assert!(
        why.contains(&format!("was {how} 3 times in a row when sent alone"))
            || why.contains(&format!("was {how} again when retried alone")),
        "{shown:?}"
    );
    assert!(why.contains("probably a proxy or firewall"), "{why}");
    assert!(
        shown[0].reason.is_none(),
        "the server gave no verdict on it"
    );
    // No request carrying it got through the path; the server never saw it.
    let carrying: Vec<_> = proxy
        .uploads()
        .into_iter()
        .filter(|e| e.uploaded_ids().contains(&big_id))
        .collect();
    assert!(
        carrying.iter().all(|e| match e.outcome {
            Outcome::Reset | Outcome::ClientGaveUp => true,
            Outcome::Answered => e.status == Some(403),
            _ => false,
        }),
        "{:?}",
        carrying
            .iter()
            .map(|e| e.outcome.clone())
            .collect::<Vec<_>>()
    );
    let alone = |proxy: &tillkit_e2e::proxy::Proxy| {
        proxy
            .uploads()
            .iter()
            .filter(|e| e.uploaded_ids() == [big_id.clone()])
            .count()
    };
    // Parked at its third lone cut, not later: exactly three lone requests before the
    // first request that did not carry it (each cut follows an answered probe, so each
    // one counts).
    let uploads = proxy.uploads();
    let first_without = uploads
        .iter()
        .position(|e| !e.uploaded_ids().contains(&big_id))
        .expect("the sales behind it went up");
    let alone_before = uploads[..first_without]
        .iter()
        .filter(|e| e.uploaded_ids() == [big_id.clone()])
        .count();
    assert_eq!(
        alone_before,
        3,
        "parked at its third cut alone: {:?}",
        uploads
            .iter()
            .map(|e| (e.uploaded_ids().len(), e.outcome.clone()))
            .collect::<Vec<_>>()
    );
    assert!(
        server
            .store()
            .stored_sale(STORE, &big_id)
            .expect("stored")
            .is_none()
    );

    // Retried alone after its backoff and cut again: parked again, and still queued.
    let tries = alone(&proxy);
    wait_until(
        DRAIN,
        "the parked sale retried, cut and parked again",
        || {
            alone(&proxy) > tries
                && dev
                    .till
                    .attention_sales(10)
                    .expect("attention")
                    .first()
                    .is_some_and(|s| {
                        s.state == QueueState::Parked
                            && s.last_error.as_deref().is_some_and(|e| {
                                e.contains(&format!("{how} again when retried alone"))
                            })
                    })
        },
    );
    let late = dev.ring(&[("p-bread", "1")]);
    wait_until(DRAIN, "a sale rung after it to go up", || {
        server
            .store()
            .stored_sale(STORE, &late.sale_id.to_string())
            .expect("stored")
            .is_some()
    });
    assert_eq!(dev.pending_ids(STORE), std::slice::from_ref(&big_id));

    // The path is fixed and the operator retries it: it arrives, once.
    proxy.set_fault_above(None);
    assert_eq!(dev.till.retry_attention_sales(None).expect("retry"), 1);
    dev.wait_drained(DRAIN);
    assert_all_arrived_and_none_set_aside(&server, &dev, &log);
    let accepted = proxy
        .uploads()
        .iter()
        .flat_map(|e| e.results())
        .filter(|(sale, status, _)| *sale == big_id && status == "accepted")
        .count();
    let story: Vec<_> = proxy
        .uploads()
        .iter()
        .map(|e| (e.uploaded_ids().len(), e.outcome.clone()))
        .collect();
    assert_eq!(accepted, 1, "(sales, outcome) of each upload: {story:?}");
}

#[test]
fn a_misrouted_proxy_answering_404_and_405_sets_nothing_aside() {
    let (server, proxy, dev) = offline_device_behind_proxy(120, 20, |_| {});
    let json_404 = Reply::status(404).body("application/json", r#"{"message":"Not Found"}"#);
    proxy.on_uploads([
        Fault::Reply(Reply::html(404)),
        Fault::Reply(Reply::html(405)),
        Fault::Reply(json_404),
        Fault::Reply(Reply::status(405).header("allow", "GET")),
        Fault::Reply(Reply::html(415)),
        Fault::Reply(Reply::status(422).body("text/plain", "unprocessable")),
    ]);
    proxy.script(
        |m, p| m == "GET" && p.contains("/catalog"),
        [Fault::Reply(Reply::html(404))],
    );
    let (log, _sub) = watch_status(&dev);
    dev.set_network(true);
    dev.wait_drained(DRAIN);

    assert_all_arrived_and_none_set_aside(&server, &dev, &log);
    assert!(log.showed_error("HTTP 404, text/html, probably a proxy"));
    assert!(log.showed_error("HTTP 404, application/json, probably a proxy"));
    assert!(log.showed_error("HTTP 405, no content type, probably a proxy"));
}

#[test]
fn absurd_retry_after_values_are_capped_or_ignored_and_every_sale_arrives_once() {
    let (server, proxy, dev) = offline_device_behind_proxy(100, 20, |_| {});
    let busy = |status: u16, retry_after: String| {
        Fault::Reply(Reply::html(status).header("retry-after", retry_after))
    };
    proxy.on_uploads([
        busy(429, u64::MAX.to_string()),
        busy(503, "-1".into()),
        busy(429, "soon, maybe".into()),
        busy(503, "Sun, 06 Nov 1994 08:49:37 GMT".into()),
        busy(429, "Fri, 31 Dec 9999 23:59:59 GMT".into()),
        // A header far longer than any real one, all digits.
        busy(503, "9".repeat(200_000)),
        // More headers than the client parses: an unreadable answer, retried like any.
        Fault::Reply((0..150).fold(Reply::status(503), |r, i| {
            r.header(&format!("x-junk-{i}"), "1")
        })),
        Fault::Reply(Reply::status(429).header("retry-after", "\u{1}\u{7f}")),
    ]);
    let (log, _sub) = watch_status(&dev);
    dev.set_network(true);
    // The test config caps every wait at 500 ms: a Retry-After of 584 billion years or of
    // 9999-12-31 that were honoured would outlast this deadline.
    dev.wait_drained(DRAIN);

    assert_all_arrived_and_none_set_aside(&server, &dev, &log);
    let story: Vec<_> = proxy
        .uploads()
        .iter()
        .map(|e| (e.outcome.clone(), e.status))
        .collect();
    assert_eq!(
        story
            .iter()
            .filter(|(o, _)| *o == Outcome::Answered)
            .count(),
        8,
        "{story:?}"
    );
    assert!(log.showed_error("the server is busy"));
}

#[test]
fn a_catalogue_endpoint_answering_500_for_the_whole_drain_never_delays_an_upload() {
    let fault = Fault::Answer {
        status: 500,
        retry_after: None,
    };
    a_failing_catalogue_endpoint_never_delays_an_upload(fault, Some(500));
}

#[test]
fn a_catalogue_endpoint_that_hangs_or_answers_garbage_never_delays_an_upload() {
    a_failing_catalogue_endpoint_never_delays_an_upload(
        Fault::Stall(Duration::from_secs(120)),
        None,
    );
    let garbage = Reply::status(200).body("application/json", r#"{"products": 7"#);
    a_failing_catalogue_endpoint_never_delays_an_upload(Fault::Reply(garbage), Some(200));
}

/// The catalogue endpoint fails with `fault` for the whole drain (the path's status for
/// each pull: `status`): every upload goes through as if it were not there.
fn a_failing_catalogue_endpoint_never_delays_an_upload(fault: Fault, status: Option<u16>) {
    let (server, proxy, dev) = offline_device_behind_proxy(600, 20, |cfg| {
        // Due again at once, so it fails again and again during the drain.
        cfg.catalog_interval = Duration::from_millis(1);
        // A hanging pull gives up soon enough to be seen in the status.
        cfg.request_timeout = Duration::from_secs(2);
    });
    proxy.always(|m, p| m == "GET" && p.contains("/catalog"), fault);
    let before = proxy.exchanges().len();
    let (log, _sub) = watch_status(&dev);
    dev.set_network(true);
    dev.wait_drained(DRAIN);

    assert_all_arrived_and_none_set_aside(&server, &dev, &log);
    let during: Vec<_> = proxy.exchanges().into_iter().skip(before).collect();
    assert!(
        during[0].is_upload(),
        "the round uploads before it pulls the catalogue: {:?}",
        during[0].path
    );
    assert!(
        during
            .iter()
            .filter(|e| e.is_upload())
            .all(|e| e.status == Some(200)),
        "no upload waited for or failed with the catalogue"
    );
    wait_until(DRAIN, "the catalogue failure to be shown", || {
        dev.engine()
            .status()
            .last_error
            .is_some_and(|e| e.contains("catalogue download"))
    });
    // A stalled exchange is logged once the device hangs up, a moment after its time-out
    // was shown: wait for the log, not only for the status.
    let tried = || {
        proxy
            .exchanges()
            .into_iter()
            .skip(before)
            .filter(|e| e.path.contains("/catalog"))
            .collect::<Vec<_>>()
    };
    wait_until(DRAIN, "the catalogue to be tried during the drain", || {
        !tried().is_empty()
    });
    assert!(tried().iter().all(|e| e.status == status));

    // The endpoint recovers: the catalogue comes in on its own schedule and the error goes.
    proxy.clear_always();
    wait_until(DRAIN, "the catalogue to recover", || {
        dev.engine().status().last_error.is_none()
    });
}

#[test]
fn a_panic_injected_into_the_sync_task_is_caught_shown_and_sync_resumes() {
    let (server, _proxy, dev) = offline_device_behind_proxy(200, 20, |cfg| {
        // The restart waits at least the base: long enough to be seen in the status.
        cfg.backoff_base = Duration::from_millis(300);
        cfg.backoff_cap = Duration::from_secs(1);
        // The first uploads of the drain panic, three in a row (the first round after
        // going online had nothing to upload).
        cfg.hooks.panic_before_uploads(3);
    });
    let (log, _sub) = watch_status(&dev);
    dev.set_network(true);
    dev.wait_drained(DRAIN);

    assert_all_arrived_and_none_set_aside(&server, &dev, &log);
    assert!(
        log.showed_error("sync stopped unexpectedly (panic injected into the sync task"),
        "the panic is shown as last_error"
    );
    assert_eq!(
        dev.engine().status().last_error,
        None,
        "and cleared once sync went on"
    );
}

#[test]
fn logging_out_in_the_middle_of_a_drain_keeps_uploading_and_never_shows_zero_pending() {
    let (server, proxy, dev) = offline_device_behind_proxy(600, 20, |_| {});
    // Whenever the engine says nothing is pending, check the queue itself.
    let log = Arc::new(TruthLog::new(dev.till.clone()));
    let _sub = dev.engine().subscribe(log.clone());
    let (statuses, _watch) = watch_status(&dev);
    // The cashier logs out right after the third batch was stored.
    let till = dev.till.clone();
    let answered = std::sync::atomic::AtomicUsize::new(0);
    proxy.before_reply(Some(Box::new(move |e| {
        if e.is_upload() && answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 2 {
            till.logout();
        }
    })));
    dev.set_network(true);
    dev.wait_drained(DRAIN);

    assert!(dev.till.session().is_err(), "nobody is logged in");
    server.assert_holds_exactly(STORE, &dev.sales);
    let seen = log.seen();
    assert!(
        seen.iter().any(|(shown, _)| *shown > 0),
        "sales were shown pending"
    );
    for (shown, truth) in &seen {
        assert!(
            *shown > 0 || *truth == 0,
            "the status showed 0 pending while {truth} sales were unsent"
        );
    }
    assert!(
        proxy.uploads().len() > 3,
        "uploads went on after the logout"
    );
    // Nothing set aside, on the way or at the end (with nobody logged in, read the queue
    // of every store).
    let backlog = dev.till.queue_backlog().expect("backlog");
    assert!(
        backlog.values().all(|c| c.attention == 0 && c.pending == 0),
        "{backlog:?}"
    );
    assert_no_status_showed_set_aside(&statuses);
}

/// Records each status's pending count with the queue's true count at that moment.
struct TruthLog {
    till: Arc<tillkit_core::Till>,
    seen: std::sync::Mutex<Vec<(u64, u64)>>,
}

impl TruthLog {
    fn new(till: Arc<tillkit_core::Till>) -> Self {
        TruthLog {
            till,
            seen: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn seen(&self) -> Vec<(u64, u64)> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl tillkit_core::sync::StatusListener for TruthLog {
    fn on_status(&self, status: SyncStatus) {
        // No sales are rung during the drain, so the true count only falls: a status of
        // 0 with a positive count read after it was wrong when it was made.
        let truth = tillkit_core::testing::recount(&self.till)
            .expect("recount")
            .values()
            .map(|c| c.pending)
            .sum();
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((status.pending, truth));
    }
}

#[test]
fn a_device_newer_than_its_server_keeps_its_queue_and_says_the_server_is_too_old() {
    let (server, proxy, mut dev) = offline_device_behind_proxy(30, 20, |_| {});
    let token = server.token(STORE, "R1");
    let mut newer = sync_config(&proxy.url(), &token);
    newer.hooks.protocol_version = Some(PROTOCOL_VERSION + 1);
    dev.start(newer);
    let (log, _sub) = watch_status(&dev);
    wait_until(DRAIN, "the mismatch to be shown", || {
        dev.engine().status().protocol_mismatch.is_some()
    });
    let status = dev.engine().status();
    assert!(matches!(
        status.protocol_mismatch,
        Some(ProtocolMismatch::ServerTooOld { app, server }) if app == PROTOCOL_VERSION + 1 && server.max == PROTOCOL_VERSION
    ));
    assert!(
        status
            .last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("server too old for this app")),
        "{status:?}"
    );
    assert_eq!(
        (status.pending, status.attention),
        (30, 0),
        "the queue is kept whole"
    );
    assert_eq!(
        server.store().summary(STORE).expect("summary").sale_count,
        0
    );
    let refused = proxy.uploads();
    assert!(!refused.is_empty());
    assert!(refused.iter().all(|e| e.status == Some(400)
        && e.response_json()["error"] == "unsupported_protocol"
        && e.response_json()["supported_protocol"]["max"] == PROTOCOL_VERSION));

    // The server is brought up to date (here: the app speaks its version again).
    dev.start(sync_config(&proxy.url(), &token));
    dev.wait_drained(DRAIN);
    assert_all_arrived_and_none_set_aside(&server, &dev, &log);
    assert_eq!(dev.engine().status().protocol_mismatch, None);
}

#[test]
fn a_newer_servers_extra_fields_in_every_answer_never_stop_the_app() {
    let server = Server::start();
    let proxy = server.proxy();
    proxy.always(|_, _| true, Fault::Mangle(Mangle::ExtraFields));
    let mut dev = Device::online(
        STORE,
        "R1",
        sync_config(&proxy.url(), &server.token(STORE, "R1")),
    );
    dev.ring_many(40);
    dev.wait_drained(DRAIN);
    server.assert_holds_exactly(STORE, &dev.sales);
    let seen: Vec<_> = proxy
        .exchanges()
        .iter()
        .map(|e| (e.path.clone(), e.outcome.clone()))
        .collect();
    assert!(
        seen.iter()
            .any(|(p, o)| p.contains("/catalog") && *o == Outcome::Mangled),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(p, o)| p.contains("/sales/batch") && *o == Outcome::Mangled)
    );
    assert!(
        dev.till.product("p-kettle").is_ok(),
        "the catalogue with extra fields was applied"
    );
    assert!(dev.till.attention_sales(10).expect("attention").is_empty());
}

#[test]
fn a_verdict_this_app_does_not_know_keeps_the_sales_queued_until_one_it_knows() {
    let (server, proxy, dev) = offline_device_behind_proxy(30, 10, |_| {});
    let (log, _sub) = watch_status(&dev);
    proxy.on_uploads(std::iter::repeat_n(
        Fault::Mangle(Mangle::UnknownVerdict),
        3,
    ));
    dev.set_network(true);
    dev.wait_drained(DRAIN);
    assert!(
        log.seen().iter().any(|s| s
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("does not know"))),
        "the status asked for an app update while the verdicts were unknown"
    );
    // The server stored the mangled batches already: it answers them `duplicate` later.
    assert_all_arrived_and_none_set_aside(&server, &dev, &log);
}

#[test]
fn absurd_durations_in_the_config_never_panic_the_engine() {
    let server = Server::start();
    let mut cfg = sync_config(&server.url(), &server.token(STORE, "R1"));
    cfg.request_timeout = Duration::MAX;
    cfg.connect_timeout = Duration::MAX;
    cfg.backoff_base = Duration::MAX;
    cfg.backoff_cap = Duration::MAX;
    cfg.probe_interval = Duration::MAX;
    cfg.periodic_interval = Duration::MAX;
    cfg.catalog_interval = Duration::MAX;
    cfg.batch_size = usize::MAX;
    let mut dev = Device::online(STORE, "R1", cfg);
    dev.ring_many(30);
    dev.wait_drained(DRAIN);
    server.assert_holds_exactly(STORE, &dev.sales);
    assert_eq!(dev.engine().status().last_error, None);
}

#[test]
fn only_the_servers_own_403_is_a_refused_token_a_wafs_html_403_is_retried() {
    let (server, proxy, dev) = offline_device_behind_proxy(60, 20, |_| {});
    proxy.on_uploads(std::iter::repeat_n(Fault::Reply(Reply::html(403)), 3));
    let (log, _sub) = watch_status(&dev);
    dev.set_network(true);
    dev.wait_drained(DRAIN);
    assert_all_arrived_and_none_set_aside(&server, &dev, &log);
    assert!(
        log.seen().iter().all(|s| !s.auth_failed),
        "an HTML 403 is not the server's verdict on the token"
    );
    assert!(log.showed_error("HTTP 403, text/html, probably a proxy"));
}

#[test]
fn a_local_storage_failure_while_applying_an_answer_is_shown_as_local_and_nothing_is_lost() {
    let (server, _proxy, dev) = offline_device_behind_proxy(30, 10, |_| {});
    let (log, _sub) = watch_status(&dev);
    // The device cannot take sales off its queue: the server's answers cannot be applied.
    tillkit_core::testing::tamper(&dev.till, |c| {
        c.execute_batch(
            "CREATE TEMP TRIGGER fail_unqueue BEFORE DELETE ON outbox
             BEGIN SELECT RAISE(ABORT, 'injected fault'); END;",
        )?;
        Ok(())
    })
    .expect("trigger");
    dev.set_network(true);
    wait_until(DRAIN, "the local failure to be shown", || {
        dev.engine()
            .status()
            .last_error
            .is_some_and(|e| e.contains("local storage failed"))
    });
    let shown = dev.engine().status();
    let error = shown.last_error.clone().unwrap_or_default();
    assert!(
        error.contains("injected fault") && !error.contains("unreadable"),
        "the device's own failure, with its cause, never a server's: {error}"
    );
    assert_eq!(shown.pending, 30, "every sale still queued");

    // The storage works again: the retries are answered as duplicates, once each.
    tillkit_core::testing::tamper(&dev.till, |c| {
        c.execute_batch("DROP TRIGGER fail_unqueue;")?;
        Ok(())
    })
    .expect("drop trigger");
    dev.wait_drained(DRAIN);
    assert_all_arrived_and_none_set_aside(&server, &dev, &log);
}
