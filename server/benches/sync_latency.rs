//! Sync latency after reconnect: 1,000 pending sales, from set_network_available(true)
//! to an empty queue, over repeated outages.
//! Run: cargo bench -p tillkit-server --bench sync_latency

mod common;

use common::*;

fn main() {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let dir = bench_dir("sync-latency");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = start_server(&rt, &dir);
    let device = offline_device(&rt, &server, &dir, "R01", 200);
    let mut times = Vec::with_capacity(runs);
    for run in 0..runs {
        device.engine.set_network_available(false);
        ring(&device.till, 1_000);
        times.push(drain(&device));
        // The engine records the sample just after the queue empties: each recovery must
        // leave exactly one, or the device's figures below would be of fewer runs.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while device.till.metrics().unwrap().latency_samples < run as u64 + 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "run {} of {runs} recorded no latency sample on the device",
                run + 1
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    times.sort();
    let m = device.till.metrics().unwrap();
    assert_eq!(
        (m.latency_samples, m.latency_dropped),
        (runs as u64, 0),
        "one device sample per outage, none impossible"
    );
    let stored = rt
        .block_on(server.store().summary(STORE))
        .unwrap()
        .sale_count;
    assert_eq!(stored, runs as u64 * 1_000, "every sale stored once");
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    println!("{runs} outages of 1,000 sales each; the server holds {stored} sales, each once");
    println!(
        "as measured by the caller: p50 {:.0} ms, p95 {:.0} ms",
        ms(pct(&times, 50.0)),
        ms(pct(&times, 95.0))
    );
    println!(
        "as the device's own metric records it: p50 {} ms, p95 {} ms ({} samples)",
        m.sync_latency_p50_ms.unwrap_or_default(),
        m.sync_latency_p95_ms.unwrap_or_default(),
        m.latency_samples
    );
    println!("sync_latency_p95_ms: {:.0}", ms(pct(&times, 95.0)));
}
