//! Outages with the registers' network up, with a shop's default sync settings: the server
//! killed and started again on its address, the shop's line going silent. Every sale arrives
//! once, the device's latency metric counts from inside the outage, probing stays sparse and
//! spread out, and the health endpoint answers without the database.

use std::time::{Duration, Instant};

use tillkit_core::sync::{Connectivity, SyncConfig};
use tillkit_e2e::child::serve_if_child;
use tillkit_e2e::fixtures::*;
use tillkit_e2e::outage::{self, Kind, Plan, Report, shop_config};
use tillkit_e2e::proxy::{Fault, Link, Reply};

const CHILD_TEST: &str = "outage_server_child_serves_until_killed";

/// The child's body: serve until killed.
#[test]
fn outage_server_child_serves_until_killed() {
    serve_if_child();
}

fn plan(kind: Kind, registers: usize, outage: Duration) -> Plan {
    Plan {
        kind,
        backend: Backend::Sqlite,
        registers,
        outages: vec![outage],
        backlog: 0,
        config: shop_config,
        child_test: CHILD_TEST,
    }
}

fn print(report: &Report) {
    for r in &report.recoveries {
        eprintln!(
            "outage {:.1?}: register {} rang {} sales; queue empty {:.2?} after it ended; the \
             device's sample {:?} ms, from {:?} ms into the outage",
            r.lasted, r.register, r.sales, r.latency, r.device_ms, r.device_since_ms
        );
    }
}

/// The device's sample of every recovery starts inside its outage: never before the
/// outage began and, when `to_the_end`, never after the server could be reached again.
fn assert_samples_start_inside_the_outage(report: &Report, to_the_end: bool) {
    for r in &report.recoveries {
        let since = r
            .device_since_ms
            .unwrap_or_else(|| panic!("register {} recorded no latency sample", r.register));
        assert!(since >= 0, "the sample starts before the outage: {r:?}");
        if to_the_end {
            let lasted = i64::try_from(r.lasted.as_millis()).unwrap_or(i64::MAX);
            assert!(
                since <= lasted,
                "the sample starts after the server was back: {r:?}"
            );
        }
        assert!(r.device_ms.is_some_and(|ms| ms >= 0), "{r:?}");
    }
}

#[test]
fn after_a_server_restart_every_register_drains_once_and_its_metric_counts_from_inside_the_outage()
{
    let report = outage::run(&plan(Kind::Server, 2, Duration::from_secs(6)), |_| {});
    print(&report);
    // Refused connections are refused at once: the last one was before the server was back.
    assert_samples_start_inside_the_outage(&report, true);
}

#[test]
fn after_the_shop_line_goes_silent_and_comes_back_every_register_drains_once() {
    // Longer than the request timeout: the first upload into the silence must time out.
    let report = outage::run(
        &plan(Kind::Path(Link::BlackHole), 2, Duration::from_secs(12)),
        |_| {},
    );
    print(&report);
    // A request lost in the silence is only known lost at its timeout, which may come
    // after the line is back: the sample starts at its sending, inside the outage.
    assert_samples_start_inside_the_outage(&report, false);
}

/// Probing as the test below runs it: an interval of a second (the default is 5 s), and a
/// request timeout of 2 s so the registers find the silence together and quickly.
fn quick_probing(url: &str, token: &str) -> SyncConfig {
    let mut cfg = shop_config(url, token);
    cfg.probe_interval = PROBE_INTERVAL;
    cfg.request_timeout = Duration::from_secs(2);
    cfg
}

const PROBE_INTERVAL: Duration = Duration::from_secs(1);

#[test]
fn registers_that_lose_the_server_together_probe_at_most_once_per_half_interval_and_spread_out() {
    const REGISTERS: usize = 40;
    let outage = Duration::from_secs(10);
    let report = outage::run(
        &Plan {
            // Each register rings a sale at once when the line goes silent: they all upload
            // into it together and time out together, the worst case for a herd.
            backlog: 1,
            config: quick_probing,
            ..plan(Kind::Path(Link::BlackHole), REGISTERS, outage)
        },
        |_| {},
    );
    let counts: Vec<usize> = report.probes.iter().map(Vec::len).collect();
    let total: usize = counts.iter().sum();
    eprintln!(
        "{REGISTERS} registers, {outage:?} of silence: health requests per register {counts:?}, \
         {:.1} per register per minute, closest two of one register {:?}",
        report.probes_per_minute(),
        report.closest_probes()
    );
    assert!(
        counts.iter().all(|n| *n > 0),
        "every register probed: {counts:?}"
    );

    // Spacing: never two probes of one register closer than half the interval (0.4 allows
    // for the proxy reading one request later than the next); so at most one per half
    // interval of outage, plus the first.
    let closest = report.closest_probes().expect("two probes of one register");
    assert!(
        closest.as_secs_f64() / PROBE_INTERVAL.as_secs_f64() >= 0.4,
        "two probes {closest:?} apart"
    );
    let most = (outage.as_secs_f64() / (PROBE_INTERVAL.as_secs_f64() / 2.0)) as usize + 1;
    assert!(
        counts.iter().all(|n| *n <= most),
        "{counts:?} (at most {most} each)"
    );

    // Spread: registers that timed out together must not probe together. Without jitter
    // all of them would arrive within a few ms of each other at every probe; spread
    // evenly, a quarter interval holds about a quarter of them.
    let mut arrivals: Vec<Instant> = report.probes.iter().flatten().copied().collect();
    arrivals.sort();
    let window = PROBE_INTERVAL / 4;
    let busiest = arrivals
        .iter()
        .enumerate()
        .map(|(i, start)| {
            arrivals[i..]
                .iter()
                .take_while(|at| at.duration_since(*start) < window)
                .count()
        })
        .max()
        .unwrap_or_default();
    eprintln!(
        "{total} health requests; the busiest {window:?} held {busiest} ({:.0}% of the registers)",
        100.0 * busiest as f64 / REGISTERS as f64
    );
    assert!(
        busiest * 4 <= REGISTERS * 3,
        "{busiest} of {REGISTERS} registers probed within {window:?}"
    );
}

/// `GET /v1/health` on `server`: the status and whether the body was the protocol's.
fn health(server: &Server) -> (u16, bool) {
    let client = server.http();
    let url = format!("{}/v1/health", server.url());
    server.rt.block_on(async {
        let resp = client
            .get(url)
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .expect("health request");
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        (status, body["status"] == "ok")
    })
}

/// An authenticated request that needs the store, sent in the background: its status.
fn catalogue_request(server: &Server, token: &str) -> tokio::task::JoinHandle<u16> {
    let client = server.http();
    let url = format!("{}/v1/stores/{STORE}/catalog", server.url());
    let token = token.to_string();
    server.rt.spawn(async move {
        match client.get(url).bearer_auth(token).send().await {
            Ok(resp) => resp.status().as_u16(),
            Err(_) => 0,
        }
    })
}

#[test]
fn health_answers_while_another_writer_holds_the_servers_sqlite_file() {
    let server = Server::start();
    let token = server.token(STORE, "R1");
    let mut dev = Device::online(STORE, "R1", sync_config(&server.url(), &token));
    dev.set_network(false);
    dev.ring_many(3);

    // Another process holds the write lock: the server's one connection waits for the file
    // (up to its busy timeout) inside the upload, and every store call queues behind it.
    let locker = rusqlite::Connection::open(server.store().location()).expect("open the file");
    locker
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");
    let client = server.http();
    let url = format!("{}/v1/stores/{STORE}/sales/batch", server.url());
    let body = serde_json::json!({ "sales": dev.sales }).to_string();
    let upload = server.rt.spawn(async move {
        match client
            .post(url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
        {
            Ok(resp) => resp.status().as_u16(),
            Err(_) => 0,
        }
    });
    // Health, again and again for a moment, while the upload waits for the file: had it
    // waited for the store, it could only answer after the upload gave up.
    let window = Instant::now() + Duration::from_secs(1);
    let mut answers = 0;
    while Instant::now() < window || answers < 3 {
        assert_eq!(health(&server), (200, true));
        assert!(
            !upload.is_finished(),
            "health answered only after the upload gave up on the locked file"
        );
        answers += 1;
    }
    locker.execute_batch("ROLLBACK").expect("release the lock");
    let status = server.rt.block_on(upload).expect("upload task");
    // Stored once the file was free, or refused as busy if it waited past its timeout.
    assert!(matches!(status, 200 | 503), "upload answered {status}");
    eprintln!("{answers} health answers while the file was locked; the upload then got {status}");
    dev.set_network(true);
    dev.wait_drained(Duration::from_secs(60));
    server.assert_holds_exactly(STORE, &dev.sales);
}

#[test]
fn health_answers_while_every_table_of_the_servers_postgres_store_is_locked() {
    let Some(pg) = Backend::postgres("health_answers_while_the_servers_postgres_tables_are_locked")
    else {
        return;
    };
    let server = Server::start_on(&pg);
    let token = server.token(STORE, "R1");
    let rt = server.rt.clone();
    let locker = rt.block_on(async {
        let (client, connection) =
            tokio_postgres::connect(server.store().location(), tokio_postgres::NoTls)
                .await
                .expect("connect to the store's database");
        tokio::spawn(connection);
        client
    });
    let sql = |q: &str| rt.block_on(locker.batch_execute(q)).expect(q);
    let tables: Vec<String> = rt
        .block_on(locker.query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema()",
            &[],
        ))
        .expect("the store's tables")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(!tables.is_empty());
    sql("BEGIN");
    sql(&format!(
        "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
        tables.join(", ")
    ));
    // More requests than the server's connection pool holds: every pooled connection ends
    // up waiting for the lock, and the rest wait for a connection.
    let waiting: Vec<_> = (0..24)
        .map(|_| catalogue_request(&server, &token))
        .collect();
    wait_until(
        Duration::from_secs(30),
        "the server's queries to wait for the lock",
        || {
            let row = rt
                .block_on(locker.query_one(
                    "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                     WHERE NOT l.granted AND c.relnamespace = current_schema()::regnamespace",
                    &[],
                ))
                .expect("lock waiters");
            row.get::<_, i64>(0) > 0
        },
    );
    for _ in 0..3 {
        assert_eq!(health(&server), (200, true));
    }
    assert!(
        waiting.iter().all(|h| !h.is_finished()),
        "a request that needs the store was answered while its tables were locked"
    );
    sql("ROLLBACK");
    for request in waiting {
        assert_eq!(rt.block_on(request).expect("request task"), 200);
    }
}

/// Sync settings for the gateway tests: the quick test retries (500 ms cap), and probes
/// about every second.
fn gateway_config(url: &str, token: &str) -> SyncConfig {
    let mut cfg = sync_config(url, token);
    cfg.probe_interval = Duration::from_secs(1);
    cfg
}

#[test]
fn a_gateways_error_page_in_the_servers_place_is_an_outage_probed_on_schedule_and_measured() {
    let server = Server::start();
    let proxy = server.proxy();
    let mut dev = Device::online(
        STORE,
        "R1",
        gateway_config(&proxy.url(), &server.token(STORE, "R1")),
    );
    let log = std::sync::Arc::new(StatusLog::default());
    let _sub = dev.engine().subscribe(log.clone());
    // The server is gone behind a load balancer: its nginx page answers every upload, with
    // a Retry-After of its own that is no word of the server's.
    proxy.always(
        |m, p| m == "POST" && p.ends_with("/sales/batch"),
        Fault::Reply(Reply::html(502).header("retry-after", "120")),
    );
    // The health route meets a 503 page, a bare 504 and a gateway's own JSON (no protocol
    // error code), then gets through.
    proxy.script(
        |m, p| m == "GET" && p == "/v1/health",
        [
            Fault::Reply(Reply::html(503)),
            Fault::Reply(Reply::status(504)),
            Fault::Reply(
                Reply::status(502).body("application/json", r#"{"message":"Bad Gateway"}"#),
            ),
        ],
    );
    let before = proxy.exchanges().len();
    let outage_from = tillkit_core::time::now_ms();
    dev.ring_many(3);
    wait_until(
        Duration::from_secs(60),
        "three health probes answered by the gateway",
        || {
            proxy
                .exchanges()
                .iter()
                .skip(before)
                .filter(|e| e.path == "/v1/health" && e.status.is_some())
                .count()
                >= 3
        },
    );
    let during: Vec<_> = proxy.exchanges().into_iter().skip(before).collect();
    let third_probe = during
        .iter()
        .filter(|e| e.path == "/v1/health")
        .nth(2)
        .expect("a third probe")
        .started;
    let uploads = during
        .iter()
        .filter(|e| e.is_upload() && e.started < third_probe)
        .count();
    assert_eq!(
        uploads, 1,
        "after the first page the engine probes, it does not retry the upload on a backoff"
    );
    assert!(
        log.seen()
            .iter()
            .any(|s| s.connectivity == Connectivity::Offline
                && s.last_error.as_deref().is_some_and(
                    |e| e.contains("server unreachable: the upload got HTTP 502, text/html")
                )),
        "the register showed the server unreachable: {:?}",
        log.seen().last()
    );

    // The server is back behind the gateway.
    proxy.clear_always();
    dev.wait_drained(Duration::from_secs(60));
    server.assert_holds_exactly(STORE, &dev.sales);
    wait_until(Duration::from_secs(10), "the recovery's sample", || {
        dev.till.metrics().expect("metrics").latency_samples == 1
    });
    let sample = dev
        .till
        .metrics()
        .expect("metrics")
        .last_recovery
        .expect("the recovery");
    assert_eq!(sample.sales, 3, "{sample:?}");
    assert!(sample.since >= outage_from, "{sample:?}");
    assert_eq!(dev.engine().status().connectivity, Connectivity::Online);
}

#[test]
fn the_servers_own_busy_answer_keeps_the_register_online_and_is_retried_after_its_wait() {
    let server = Server::start();
    let proxy = server.proxy();
    let mut dev = Device::online(
        STORE,
        "R1",
        gateway_config(&proxy.url(), &server.token(STORE, "R1")),
    );
    let log = std::sync::Arc::new(StatusLog::default());
    let _sub = dev.engine().subscribe(log.clone());
    // The server's own answer when its store is busy: its JSON error body and a Retry-After.
    let busy = Fault::Reply(
        Reply::status(503)
            .body(
                "application/json",
                r#"{"error":"busy","message":"the store is busy with other uploads; nothing of this request was stored, retry in 1 s"}"#,
            )
            .header("retry-after", "1"),
    );
    proxy.on_uploads([busy.clone(), busy]);
    let before = proxy.exchanges().len();
    dev.ring_many(3);
    dev.wait_drained(Duration::from_secs(60));
    server.assert_holds_exactly(STORE, &dev.sales);

    let during: Vec<_> = proxy.exchanges().into_iter().skip(before).collect();
    assert_eq!(
        during.iter().filter(|e| e.is_upload()).count(),
        3,
        "two busy answers, then stored"
    );
    assert!(
        during.iter().all(|e| e.path != "/v1/health"),
        "a busy server is reachable: no health probes"
    );
    assert!(log.showed_error("the server is busy: HTTP 503"));
    assert!(
        log.seen()
            .iter()
            .all(|s| s.connectivity == Connectivity::Online),
        "the register never showed the busy server unreachable"
    );
    assert_eq!(
        dev.till.metrics().expect("metrics").latency_samples,
        0,
        "a busy answer is no outage"
    );
}

#[test]
fn a_register_never_has_more_than_one_probe_out_however_long_each_goes_unanswered() {
    use std::io::Read;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    // An address that accepts every connection and never answers, as a swallowing path does.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let addr = listener.local_addr().expect("address");
    let open = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    {
        let (open, most, accepted) = (open.clone(), most.clone(), accepted.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                accepted.fetch_add(1, Ordering::SeqCst);
                let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                let open = open.clone();
                std::thread::spawn(move || {
                    // Until the register gives up on it and closes.
                    let _ = std::io::copy(&mut stream.by_ref(), &mut std::io::sink());
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
    }
    let mut dev = Device::new(STORE, "R1");
    let mut cfg = sync_config(&format!("http://{addr}"), "t");
    // Each request would wait 10 s for an answer; probes are due every 0.5 to 1.5 s.
    cfg.request_timeout = Duration::from_secs(10);
    cfg.probe_interval = Duration::from_secs(1);
    dev.start(cfg);
    // The first health check times out (10 s), then the probes follow.
    wait_until(
        Duration::from_secs(60),
        "five probes after the first check",
        || accepted.load(Ordering::SeqCst) >= 6,
    );
    let most = most.load(Ordering::SeqCst);
    eprintln!(
        "{} connections, at most {most} open at once",
        accepted.load(Ordering::SeqCst)
    );
    // One probe out at a time; two connections can be seen open only for the instant between
    // a probe giving up (its timeout, one interval) and the next going out, before the first
    // socket's close has reached this side. Overlapping probes, each waiting out 10 s while
    // the next went out every 0.5 to 1.5 s, would hold several open.
    assert!(most <= 2, "{most} connections open at once");
}
