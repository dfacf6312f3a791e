//! Draining a long outage: 10,000 queued sales to the server over loopback in batches,
//! against one sale per request, in the same run.
//! Run: cargo bench -p tillkit-server --bench drain

mod common;

use common::*;

fn main() {
    let batched_n: usize = std::env::var("SALES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let single_n = (batched_n / 10).max(100);
    let dir = bench_dir("drain");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = start_server(&rt, &dir);

    let batched = offline_device(&rt, &server, &dir, "R01", 200);
    ring(&batched.till, batched_n);
    let single = offline_device(&rt, &server, &dir, "R02", 1);
    ring(&single.till, single_n);

    let t_batched = drain(&batched);
    let t_single = drain(&single);
    let summary = rt.block_on(server.store().summary(STORE)).unwrap();
    assert_eq!(
        summary.sale_count as usize,
        batched_n + single_n,
        "every sale exactly once"
    );

    let rate = |n: usize, t: std::time::Duration| n as f64 / t.as_secs_f64();
    println!("server holds {} sales, each once", summary.sale_count);
    println!(
        "batches of 200: {batched_n} sales in {:.2} s",
        t_batched.as_secs_f64()
    );
    println!(
        "one per request: {single_n} sales in {:.2} s ({:.0} sales/s)",
        t_single.as_secs_f64(),
        rate(single_n, t_single)
    );
    println!(
        "batching speed-up: {:.1}x",
        rate(batched_n, t_batched) / rate(single_n, t_single)
    );
    println!("drain_sales_per_sec: {:.0}", rate(batched_n, t_batched));
}
