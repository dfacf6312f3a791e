//! Load: many registers draining at once into one server process while the network
//! misbehaves, many registers recovering from one server outage at the same moment, and one
//! register with a very long outage. Each promise is checked (no sale lost or doubled,
//! selling stays fast); the figures are printed, never asserted.
//!
//! The default run uses small sizes. The full runs, whose figures go into
//! docs/PERFORMANCE.md, are ignored by default:
//! `cargo test --release -p tillkit-e2e --test load -- --ignored --nocapture`

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tillkit_core::sale::SaleRecord;
use tillkit_e2e::chaos::{self, Mix};
use tillkit_e2e::child::{ChildServer, serve_if_child};
use tillkit_e2e::fixtures::*;
use tillkit_e2e::outage::{self, Kind, Plan, percentile, shop_config};
use tillkit_e2e::proxy::{Outcome, Proxy};

const CHILD_TEST: &str = "load_server_child_serves_until_killed";
/// The fault schedule's seed (any fixed value; the figures should not depend on it).
const FAULT_SEED: u64 = 7;

/// The child's body: serve until killed.
#[test]
fn load_server_child_serves_until_killed() {
    serve_if_child();
}

/// Load tests run one at a time, so one's figures are not skewed by the other.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// `registers` devices ring `sales` sales each offline, then all drain at once, `batch_size`
/// sales per upload, through a proxy injecting background faults into a server running in its own process. Checks
/// that the server holds every sale once; prints throughput, batch latency and the
/// server's peak memory.
fn registers_drain_at_once_into_one_server(
    backend: &Backend,
    registers: usize,
    sales: usize,
    batch_size: usize,
) {
    let server_dir = tempfile::tempdir().expect("server dir");
    let rt = runtime();
    let store = Db::create(rt.clone(), backend, server_dir.path());
    let names: Vec<String> = (1..=registers).map(|r| format!("R{r:02}")).collect();
    let tokens: Vec<String> = names.iter().map(|r| store.token(STORE, r)).collect();
    let server = ChildServer::start(CHILD_TEST, store.location());
    let proxy = Proxy::start(rt.handle(), server.addr());
    let (schedule, picks) = chaos::schedule(FAULT_SEED, Mix::background(), Duration::ZERO);
    proxy.set_schedule(Some(schedule));

    // Each register holds the catalogue and its sales, rung offline (two at a time).
    let catalogue = {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        let url = format!("{}/v1/stores/{STORE}/catalog", server.url());
        rt.block_on(async {
            client
                .get(url)
                .bearer_auth(&tokens[0])
                .send()
                .await
                .expect("catalogue")
                .text()
                .await
                .expect("catalogue body")
        })
    };
    let mut devices: Vec<Device> = names
        .iter()
        .map(|r| {
            let dev = Device::new(STORE, r);
            dev.till.import_catalog_json(&catalogue).expect("catalogue");
            dev
        })
        .collect();
    let ring_started = Instant::now();
    std::thread::scope(|scope| {
        for half in devices.chunks_mut(registers.div_ceil(2)) {
            scope.spawn(move || half.iter_mut().for_each(|d| d.ring_many(sales)));
        }
    });
    let rung = ring_started.elapsed();

    // All registers come back online at once.
    let started = Instant::now();
    for (dev, token) in devices.iter_mut().zip(&tokens) {
        let mut cfg = sync_config(&proxy.url(), token);
        cfg.batch_size = batch_size;
        dev.start(cfg);
    }
    for dev in &devices {
        dev.wait_drained(Duration::from_secs(1_800));
    }
    let drained = started.elapsed();
    let peak_rss_kib = server.peak_rss_kib().expect("server VmHWM");

    let all: Vec<SaleRecord> = devices.iter().flat_map(|d| d.sales.clone()).collect();
    assert_store_holds_exactly(&store, STORE, &all);

    let uploads = proxy.uploads();
    let mut latencies: Vec<Duration> = uploads
        .iter()
        .filter(|e| e.outcome == Outcome::Forwarded && e.status == Some(200))
        .filter_map(|e| Some(e.replied_at?.duration_since(e.started)))
        .collect();
    latencies.sort();
    let duplicates = uploads
        .iter()
        .flat_map(|e| e.results())
        .filter(|(_, s, _)| s == "duplicate")
        .count();
    let total = all.len();
    let on = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres(_) => "postgres",
    };
    eprintln!(
        "load ({on}): {registers} registers x {sales} sales = {total} sales (rung offline in {rung:.1?})"
    );
    eprintln!(
        "load: drained in {drained:.2?}: {} uploads, {} batches stored, {duplicates} re-sent \
         sales recognised as duplicates; faults on uploads {:?}",
        uploads.len(),
        latencies.len(),
        picks.upload_counts()
    );
    eprintln!(
        "load: batch latency at the proxy: p50 {:.1?}, p99 {:.1?}, max {:.1?}",
        percentile(&latencies, 50),
        percentile(&latencies, 99),
        percentile(&latencies, 100)
    );
    eprintln!(
        "load: server peak RSS (VmHWM) {:.1} MiB",
        peak_rss_kib as f64 / 1024.0
    );
    eprintln!(
        "load_sales_per_sec: {:.0}",
        total as f64 / drained.as_secs_f64()
    );
}

/// `registers` registers with the default sync settings each queue `backlog` sales when the
/// server process is killed, and one a second while it stays down for `down`; it comes back
/// on its address and they all recover at the same moment. Checks that the server holds every
/// sale once; prints when the last queue was empty and the restarted server's peak memory.
fn registers_recover_together_from_one_server_outage(
    backend: Backend,
    registers: usize,
    backlog: usize,
    down: Duration,
) {
    let on = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres(_) => "postgres",
    };
    let report = outage::run(
        &Plan {
            kind: Kind::Server,
            backend,
            registers,
            outages: vec![down],
            backlog,
            config: shop_config,
            child_test: CHILD_TEST,
        },
        |_| {},
    );
    let latencies = report.latencies();
    let last = percentile(&latencies, 100);
    eprintln!(
        "recovery ({on}): {registers} registers, {} sales ({backlog} queued each when the server \
         died, then one a second for {down:?}), all stored once",
        report.sales
    );
    eprintln!(
        "recovery: after the server was back, queues empty at p50 {:.2?}, p95 {:.2?}, the last \
         at {last:.2?}",
        percentile(&latencies, 50),
        percentile(&latencies, 95)
    );
    eprintln!(
        "recovery: restarted server's peak RSS (VmHWM) {:.1} MiB",
        report.server_peak_rss_kib.expect("server VmHWM") as f64 / 1024.0
    );
    eprintln!("recovery_last_empty_secs: {:.2}", last.as_secs_f64());
}

/// One register rings `queued` sales during an outage, its sync engine running (offline).
/// Completing a sale is timed 200 times with that queue and 200 times on a register with
/// an empty one: alternately (a cashier's pace: each register idles while the other
/// sells) and then back to back (a burst); then the register drains. Prints the medians
/// and their ratios, the storage used and the drain time.
fn a_long_outage_keeps_selling_fast_and_drains(queued: usize) {
    const TIMED: usize = 200;
    let server = Server::start();
    let mut empty = Device::online(
        STORE,
        "R1",
        sync_config(&server.url(), &server.token(STORE, "R1")),
    );
    empty.set_network(false);
    let mut full = Device::online(
        STORE,
        "R2",
        sync_config(&server.url(), &server.token(STORE, "R2")),
    );
    full.set_network(false);
    let ring_started = Instant::now();
    full.ring_many(queued);
    let rung = ring_started.elapsed();

    let timed = |dev: &mut Device, i: usize| {
        let started = Instant::now();
        dev.ring(match i % 2 {
            0 => &[("p-bread", "1")],
            _ => &[("p-seat", "1"), ("p-cheese", "0.125")],
        });
        started.elapsed()
    };
    let (mut paced_empty, mut paced_full) = (Vec::new(), Vec::new());
    for i in 0..TIMED {
        paced_empty.push(timed(&mut empty, i));
        paced_full.push(timed(&mut full, i));
    }
    let mut burst_empty: Vec<Duration> = (0..TIMED).map(|i| timed(&mut empty, i)).collect();
    let mut burst_full: Vec<Duration> = (0..TIMED).map(|i| timed(&mut full, i)).collect();
    for v in [
        &mut paced_empty,
        &mut paced_full,
        &mut burst_empty,
        &mut burst_full,
    ] {
        v.sort();
    }
    let metrics = full.till.metrics().expect("metrics");
    let pending = full.till.queue_counts().expect("counts").pending;
    assert_eq!(pending, (queued + 2 * TIMED) as u64, "every sale is queued");

    let started = Instant::now();
    full.set_network(true);
    full.wait_drained(Duration::from_secs(1_800));
    let drained = started.elapsed();
    server.assert_holds_exactly(STORE, &full.sales);

    eprintln!(
        "outage: {queued} sales rung offline in {rung:.1?} ({:.0} sales/s)",
        queued as f64 / rung.as_secs_f64()
    );
    for (pace, empty, full) in [
        ("alternating", &paced_empty, &paced_full),
        ("back to back", &burst_empty, &burst_full),
    ] {
        let (p50_empty, p50_full) = (percentile(empty, 50), percentile(full, 50));
        let mean = |v: &Vec<Duration>| v.iter().sum::<Duration>() / v.len() as u32;
        eprintln!(
            "outage: completing a sale {pace}, p50 / p99 / mean: {p50_empty:.2?} / {:.2?} / \
             {:.2?} with 0 to {} queued, {p50_full:.2?} / {:.2?} / {:.2?} with {queued} queued; \
             p50 ratio {:.2}",
            percentile(empty, 99),
            mean(empty),
            2 * TIMED,
            percentile(full, 99),
            mean(full),
            p50_full.as_secs_f64() / p50_empty.as_secs_f64()
        );
    }
    eprintln!(
        "outage_capture_p50_ratio: {:.2}",
        percentile(&paced_full, 50).as_secs_f64() / percentile(&paced_empty, 50).as_secs_f64()
    );
    eprintln!(
        "outage: storage with {} queued: database {:.1} MiB, queued payloads {:.1} MiB",
        pending,
        metrics.database_bytes as f64 / 1_048_576.0,
        metrics.queued_bytes as f64 / 1_048_576.0
    );
    eprintln!(
        "outage_drain_secs: {:.2} ({:.0} sales/s)",
        drained.as_secs_f64(),
        pending as f64 / drained.as_secs_f64()
    );
}

#[test]
fn ten_registers_draining_at_once_through_faults_store_every_sale_once() {
    let _serial = one_at_a_time();
    // Small batches, so the few sales still make enough uploads to meet some faults.
    registers_drain_at_once_into_one_server(&Backend::Sqlite, 10, 200, 25);
}

#[test]
fn ten_registers_draining_at_once_through_faults_into_postgres_store_every_sale_once() {
    let Some(pg) = Backend::postgres("ten_registers_draining_at_once_through_faults_into_postgres")
    else {
        return;
    };
    let _serial = one_at_a_time();
    registers_drain_at_once_into_one_server(&pg, 10, 200, 25);
}

/// The full run: 50 registers x 2,000 sales (100,000) into one server process.
/// `cargo test --release -p tillkit-e2e --test load -- --ignored --nocapture`
#[test]
#[ignore = "long: 100,000 sales; run in release with --ignored --nocapture"]
fn fifty_registers_draining_100k_sales_at_once_through_faults_store_every_sale_once() {
    let _serial = one_at_a_time();
    // The device's default batch size.
    registers_drain_at_once_into_one_server(&Backend::Sqlite, 50, 2_000, 200);
}

/// The full run on PostgreSQL (needs `TILLKIT_TEST_POSTGRES`, see tests/postgres.sh):
/// `cargo test --release -p tillkit-e2e --test load -- --ignored --nocapture fifty`
#[test]
#[ignore = "long: 100,000 sales into PostgreSQL; run in release with --ignored --nocapture"]
fn fifty_registers_draining_100k_sales_at_once_through_faults_into_postgres_store_every_sale_once()
{
    let Some(pg) = Backend::postgres("fifty_registers_draining_100k_sales_into_postgres") else {
        return;
    };
    let _serial = one_at_a_time();
    registers_drain_at_once_into_one_server(&pg, 50, 2_000, 200);
}

#[test]
fn ten_registers_recovering_from_one_server_outage_together_store_every_sale_once() {
    let _serial = one_at_a_time();
    registers_recover_together_from_one_server_outage(
        Backend::Sqlite,
        10,
        50,
        Duration::from_secs(4),
    );
}

#[test]
fn ten_registers_recovering_from_one_server_outage_together_into_postgres_store_every_sale_once() {
    let Some(pg) =
        Backend::postgres("ten_registers_recovering_from_one_server_outage_into_postgres")
    else {
        return;
    };
    let _serial = one_at_a_time();
    registers_recover_together_from_one_server_outage(pg, 10, 50, Duration::from_secs(4));
}

/// The full run: 50 registers, 500 sales queued each and a minute down.
/// `cargo test --release -p tillkit-e2e --test load -- --ignored --nocapture recovering`
#[test]
#[ignore = "long: 50 registers through a minute's server outage; run in release with --ignored"]
fn fifty_registers_recovering_from_one_server_outage_together_store_every_sale_once() {
    let _serial = one_at_a_time();
    registers_recover_together_from_one_server_outage(
        Backend::Sqlite,
        50,
        500,
        Duration::from_secs(60),
    );
}

/// The full run on PostgreSQL (needs `TILLKIT_TEST_POSTGRES`, see tests/postgres.sh).
#[test]
#[ignore = "long: 50 registers through a minute's server outage into PostgreSQL; --ignored"]
fn fifty_registers_recovering_from_one_server_outage_together_into_postgres_store_every_sale_once()
{
    let Some(pg) =
        Backend::postgres("fifty_registers_recovering_from_one_server_outage_into_postgres")
    else {
        return;
    };
    let _serial = one_at_a_time();
    registers_recover_together_from_one_server_outage(pg, 50, 500, Duration::from_secs(60));
}

#[test]
fn a_register_with_5k_queued_sales_sells_as_before_and_drains() {
    let _serial = one_at_a_time();
    a_long_outage_keeps_selling_fast_and_drains(5_000);
}

/// The full run: 50,000 sales queued during an outage.
/// `cargo test --release -p tillkit-e2e --test load -- --ignored --nocapture`
#[test]
#[ignore = "long: 50,000 queued sales; run in release with --ignored --nocapture"]
fn a_register_with_50k_queued_sales_sells_as_before_and_drains() {
    let _serial = one_at_a_time();
    a_long_outage_keeps_selling_fast_and_drains(50_000);
}
