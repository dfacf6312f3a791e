//! Sync through a fault-injecting proxy: whatever the network does to a request (lost
//! answer, reset, 5xx, 429, stall, a flapping link), the server ends up holding exactly the
//! device's sales, once each.

use std::time::Duration;

use tillkit_e2e::fixtures::*;
use tillkit_e2e::proxy::{Fault, Outcome, Proxy};

const DRAIN: Duration = Duration::from_secs(30);

/// Uploads in order with their outcome and status.
fn upload_story(proxy: &Proxy) -> Vec<(Outcome, Option<u16>)> {
    proxy
        .uploads()
        .iter()
        .map(|e| (e.outcome.clone(), e.status))
        .collect()
}

#[test]
fn retried_batch_after_lost_response_creates_no_duplicate() {
    let (server, proxy, dev) = offline_device_behind_proxy(25, 10, |_| {});
    // The server stores the second batch, but its answer never reaches the device.
    proxy.on_uploads([Fault::Forward, Fault::DropResponse]);
    dev.set_network(true);
    dev.wait_drained(DRAIN);

    server.assert_holds_exactly(STORE, &dev.sales);
    let uploads = proxy.uploads();
    let lost = &uploads[1];
    assert_eq!(
        (lost.outcome.clone(), lost.status),
        (Outcome::ResponseDropped, Some(200))
    );
    assert!(
        lost.results()
            .iter()
            .all(|(_, status, _)| status == "accepted"),
        "the server stored the lost batch"
    );
    // The device re-sent the very same sales and the server recognised every one.
    let retry = &uploads[2];
    assert_eq!(retry.uploaded_ids(), lost.uploaded_ids());
    assert!(
        retry
            .results()
            .iter()
            .all(|(_, status, _)| status == "duplicate"),
        "{:?}",
        retry.results()
    );
    assert_eq!(uploads.len(), 4, "{:?}", upload_story(&proxy));
}

#[test]
fn batch_cut_by_a_reset_mid_request_is_resent_and_stored_once() {
    let (server, proxy, dev) = offline_device_behind_proxy(25, 10, |_| {});
    proxy.on_uploads([Fault::Forward, Fault::ResetMidRequest]);
    dev.set_network(true);
    dev.wait_drained(DRAIN);

    server.assert_holds_exactly(STORE, &dev.sales);
    let uploads = proxy.uploads();
    assert_eq!(uploads[1].outcome, Outcome::Reset);
    // Half a request stores nothing: the re-sent batch is new to the server.
    assert_eq!(uploads[2].uploaded_ids(), uploads[1].uploaded_ids());
    assert!(
        uploads[2]
            .results()
            .iter()
            .all(|(_, status, _)| status == "accepted"),
        "{:?}",
        uploads[2].results()
    );
}

#[test]
fn server_errors_in_a_row_are_retried_until_the_server_recovers() {
    let (server, proxy, dev) = offline_device_behind_proxy(25, 10, |_| {});
    let five_hundred = Fault::Answer {
        status: 500,
        retry_after: None,
    };
    proxy.on_uploads([
        Fault::Forward,
        five_hundred.clone(),
        five_hundred.clone(),
        five_hundred,
    ]);
    dev.set_network(true);
    dev.wait_drained(DRAIN);

    server.assert_holds_exactly(STORE, &dev.sales);
    let story = upload_story(&proxy);
    assert_eq!(
        story[..5],
        [
            (Outcome::Forwarded, Some(200)),
            (Outcome::Answered, Some(500)),
            (Outcome::Answered, Some(500)),
            (Outcome::Answered, Some(500)),
            (Outcome::Forwarded, Some(200)),
        ]
    );
    let uploads = proxy.uploads();
    assert_eq!(
        uploads[4].uploaded_ids(),
        uploads[1].uploaded_ids(),
        "the refused batch is retried as it was"
    );
}

#[test]
fn rate_limited_upload_waits_at_least_retry_after_even_while_selling() {
    // Retry-After is honoured up to the backoff cap: 2 s here, so the full second counts.
    let (server, proxy, mut dev) =
        offline_device_behind_proxy(25, 10, |cfg| cfg.backoff_cap = Duration::from_secs(2));
    proxy.on_uploads([Fault::Answer {
        status: 429,
        retry_after: Some(1),
    }]);
    dev.set_network(true);
    wait_until(DRAIN, "the first upload to be answered 429", || {
        proxy
            .uploads()
            .first()
            .is_some_and(|e| e.replied_at.is_some())
    });
    // The cashier keeps selling during the wait; each sale must not bring the retry forward.
    for _ in 0..3 {
        dev.ring(&[("p-bread", "1")]);
        std::thread::sleep(Duration::from_millis(50));
    }
    dev.wait_drained(DRAIN);

    server.assert_holds_exactly(STORE, &dev.sales);
    let uploads = proxy.uploads();
    let refused_at = uploads[0].replied_at.expect("429 was sent");
    let gap = uploads[1].started.duration_since(refused_at);
    // The one timing assertion allowed: a lower bound set by the server.
    assert!(
        gap >= Duration::from_secs(1),
        "retried {gap:?} after a 429 with Retry-After: 1"
    );
    assert_eq!(uploads[1].uploaded_ids(), uploads[0].uploaded_ids());
}

#[test]
fn stalled_upload_times_out_and_is_retried() {
    // The request timeout is lowered to 2 s (default 10 s) so the 10 s stall outlasts it.
    let (server, proxy, dev) =
        offline_device_behind_proxy(25, 10, |cfg| cfg.request_timeout = Duration::from_secs(2));
    proxy.on_uploads([Fault::Stall(Duration::from_secs(10))]);
    dev.set_network(true);
    dev.wait_drained(DRAIN);

    server.assert_holds_exactly(STORE, &dev.sales);
    let uploads = proxy.uploads();
    // The device hung up on the stalled request (its timeout fired) and sent its sales
    // again, oldest first, in a smaller batch (a timeout may mean a slow link).
    assert_eq!(uploads[0].outcome, Outcome::ClientGaveUp);
    let (stalled, retried) = (uploads[0].uploaded_ids(), uploads[1].uploaded_ids());
    assert_eq!(retried.len(), stalled.len() / 2);
    assert!(stalled.starts_with(&retried));
    assert!(
        uploads[1]
            .results()
            .iter()
            .all(|(_, status, _)| status == "accepted")
    );
}

/// Link cycles (each at least 100 ms down, then at least 100 ms up) within which the
/// flapping link must let some batch through. After a cut the register waits for a health
/// probe, and probes go out at most every 0.5 to 1.5 s (`MIN_PROBE_INTERVAL`, issue 13's
/// cheap probing), so a drain that keeps going needs up to about 65 cycles between batches
/// on a quiet machine (1,008 cycles, 210 s for the 5,000 sales); one that stalls (as before
/// the batch shrank on cuts: 0 of 5,000 in 450 cycles) does not get through at all.
const PROGRESS_CYCLES: u64 = 150;

#[test]
fn five_thousand_sales_drain_exactly_once_over_a_link_flapping_every_100ms() {
    let (server, proxy, dev) = offline_device_behind_proxy(5_000, 200, |_| {});
    drain_over_a_flapping_link(&server, &proxy, &dev);
}

/// The same behind a TLS terminator that passes bytes to the link (as a layer-4 load
/// balancer or stunnel in front of the server does): the terminator always completes the
/// handshake, and the link's refusals and resets reach the device as a TLS connection
/// closed, after the request went out, without close_notify.
///
/// Known gap (docs/RELIABILITY.md): the device cannot tell those closes from a batch the
/// link cut, so the batch keeps halving and this drains at about 4 sales/s (815 of the
/// 5,000 in the first 190 s), against about 54/s above. Not yet run to completion (one run
/// was stopped after 15 minutes, unfinished); at that rate it takes 20 minutes or more, so
/// it is not in the default run.
#[test]
#[ignore = "known gap: about 20 minutes; run with --ignored"]
fn five_thousand_sales_drain_exactly_once_through_a_tls_terminator_in_front_of_a_flapping_link() {
    let server = Server::start();
    let proxy = server.proxy();
    let plain = proxy
        .url()
        .trim_start_matches("http://")
        .parse()
        .expect("proxy address");
    let mut cfg = sync_config(&https_front(plain), &server.token(STORE, "R1"));
    cfg.batch_size = 200;
    let mut dev = Device::online(STORE, "R1", cfg);
    dev.set_network(false);
    dev.ring_many(5_000);
    drain_over_a_flapping_link(&server, &proxy, &dev);
}

/// Drains `dev`'s queue while `proxy`'s link flaps every 100 ms, and checks every sale went
/// up once.
fn drain_over_a_flapping_link(server: &Server, proxy: &Proxy, dev: &Device) {
    // Pending sales, and the most parked at once so far: a lone sale the link happened to
    // cut three times running is parked (see `LONE_CUTS_BEFORE_PARKING`); it stays pending,
    // so it still has to reach the server, once, like every other.
    let most_parked = std::cell::Cell::new(0);
    let pending = || {
        let counts = dev.till.queue_counts().expect("counts");
        most_parked.set(most_parked.get().max(counts.parked));
        counts.pending
    };
    proxy.start_flapping(Duration::from_millis(100));
    dev.set_network(true);
    // Progress is counted in link cycles, not seconds: the queue must shrink within every
    // PROGRESS_CYCLES cycles, however slowly the machine runs them.
    let mut left = pending();
    let mut since = proxy.link_cycles();
    // (link cycle, pending) at each shrink.
    let mut story = vec![(since, left)];
    while left > 0 {
        std::thread::sleep(Duration::from_millis(10));
        let (now, cycles) = (pending(), proxy.link_cycles());
        if now < left {
            (left, since) = (now, cycles);
            story.push((cycles, now));
        }
        assert!(
            cycles.saturating_sub(since) <= PROGRESS_CYCLES,
            "{left} sales still pending after {PROGRESS_CYCLES} link cycles without progress; \
             (cycle, pending): {story:?}; damage {:?}; {:?}",
            proxy.link_damage(),
            dev.engine().status()
        );
    }
    dev.wait_drained(DRAIN);
    proxy.stop_flapping();
    let uploads = proxy.uploads();
    let delivered: Vec<usize> = uploads
        .iter()
        .filter(|e| e.outcome == Outcome::Forwarded)
        .map(|e| e.uploaded_ids().len())
        .collect();
    let longest_wait = story.windows(2).map(|w| w[1].0 - w[0].0).max();
    eprintln!(
        "drained 5,000 sales over {} link cycles (longest without progress: {longest_wait:?}); \
         damage {:?}; {} batches delivered, {} to {} sales; at most {} parked at once; \
         requests {:?}",
        proxy.link_cycles(),
        proxy.link_damage(),
        delivered.len(),
        delivered.iter().min().unwrap_or(&0),
        delivered.iter().max().unwrap_or(&0),
        most_parked.get(),
        requests_by_path(proxy)
    );

    // Exactly once, by the server's own count and totals.
    server.assert_holds_exactly(STORE, &dev.sales);
    let (_, cut_requests, _) = proxy.link_damage();
    assert!(
        cut_requests > 0,
        "the flapping link must have cut some requests in flight"
    );
    // Cut batches were resent with the same sale ids: no answer the device got stored a
    // sale twice (a batch whose answer was cut shows up later as duplicates).
    let mut accepted = std::collections::HashSet::new();
    let mut duplicates = 0;
    for (sale, status, _) in uploads.iter().flat_map(|e| e.results()) {
        match status.as_str() {
            "accepted" => assert!(accepted.insert(sale.clone()), "{sale} accepted twice"),
            "duplicate" => duplicates += 1,
            other => panic!("sale {sale} answered {other}"),
        }
    }
    eprintln!("{duplicates} sales answered as duplicates of a cut batch");
}

/// How many requests the proxy answered or passed on, by path (query left out).
fn requests_by_path(proxy: &Proxy) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for e in proxy.exchanges() {
        let path = e.path.split('?').next().unwrap_or_default().to_string();
        *counts.entry(path).or_default() += 1;
    }
    counts
}

#[test]
fn a_link_too_slow_for_a_full_batch_still_drains_in_smaller_batches() {
    // The request timeout is lowered to 1 s (default 10 s); the uplink carries a batch of
    // 100 sales in about 1.6 s, so that batch can never make it in time.
    let (server, proxy, dev) =
        offline_device_behind_proxy(100, 100, |cfg| cfg.request_timeout = Duration::from_secs(1));
    let queued = dev.till.queue_counts().expect("counts").queued_bytes;
    proxy.set_uplink(Some(queued * 10 / 16));
    dev.set_network(true);
    dev.wait_drained(DRAIN);

    server.assert_holds_exactly(STORE, &dev.sales);
    let uploads = proxy.uploads();
    assert_eq!(
        uploads[0].outcome,
        Outcome::ClientGaveUp,
        "the full batch timed out"
    );
    assert_eq!(uploads[0].uploaded_ids().len(), 100);
    let delivered = uploads
        .iter()
        .filter(|e| e.outcome == Outcome::Forwarded)
        .map(|e| e.uploaded_ids().len());
    assert!(
        delivered.clone().all(|n| n < 100),
        "only smaller batches got through"
    );
}
