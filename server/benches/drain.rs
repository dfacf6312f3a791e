//! Draining a long outage: 10,000 queued sales to the server over loopback, into SQLite,
//! into PostgreSQL through one instance, and through two instances at once (two registers
//! of 5,000, one per instance), side by side in one run; plus one sale per request (SQLite)
//! for scale. Every server ends holding each sale once.
//! Run: tests/bench.sh drain (starts a private PostgreSQL; or set TILLKIT_TEST_POSTGRES and
//! `cargo bench -p tillkit-server --bench drain`; without it only SQLite is measured).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use tillkit_server::testkit::{POSTGRES_URL_VAR, TestDatabase};
use tillkit_server::{PgStore, ServerHandle, ServerStore};

fn rate(n: usize, t: Duration) -> f64 {
    n as f64 / t.as_secs_f64()
}

/// Network up on every device at once, then the time until every queue is empty.
fn drain_all(devices: &[&Device]) -> Duration {
    let t = Instant::now();
    for d in devices {
        d.engine.set_network_available(true);
    }
    for d in devices {
        assert!(
            d.engine.wait_until_drained(Duration::from_secs(600)),
            "queue did not drain"
        );
    }
    t.elapsed()
}

fn held(rt: &tokio::runtime::Runtime, server: &ServerHandle) -> usize {
    rt.block_on(server.store().summary(STORE))
        .unwrap()
        .sale_count as usize
}

fn main() {
    let n: usize = std::env::var("SALES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let single_n = (n / 10).max(100);
    let dir = bench_dir("drain");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // Every server and device is set up and every sale rung before the first drain.
    let sqlite = start_server(&rt, &dir);
    let batched = offline_device(&rt, &sqlite, &dir, "R01", 200);
    ring(&batched.till, n);
    let single = offline_device(&rt, &sqlite, &dir, "R02", 1);
    ring(&single.till, single_n);

    let pg_url = std::env::var(POSTGRES_URL_VAR).ok();
    let postgres = pg_url.as_ref().map(|url| {
        let one_db = rt.block_on(TestDatabase::create(url));
        let one = start_server_over(
            &rt,
            Arc::new(rt.block_on(PgStore::connect(&one_db.url)).unwrap()),
        );
        add_store(&rt, &one);
        let one_dev = offline_device(&rt, &one, &dir, "P01", 200);
        ring(&one_dev.till, n);
        // Two instances: two servers, each with its own pool, on one database.
        let two_db = rt.block_on(TestDatabase::create(url));
        let instances: Vec<ServerHandle> = (0..2)
            .map(|_| {
                let store: Arc<dyn ServerStore> =
                    Arc::new(rt.block_on(PgStore::connect(&two_db.url)).unwrap());
                start_server_over(&rt, store)
            })
            .collect();
        add_store(&rt, &instances[0]);
        let two_devs: Vec<Device> = instances
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let d = offline_device(&rt, s, &dir, &format!("Q0{i}"), 200);
                ring(&d.till, n / 2);
                d
            })
            .collect();
        (one_db, one, one_dev, two_db, instances, two_devs)
    });

    let t_sqlite = drain_all(&[&batched]);
    let t_single = drain_all(&[&single]);
    assert_eq!(held(&rt, &sqlite), n + single_n, "every sale exactly once");
    println!(
        "sqlite, one instance: {n} sales in {:.2} s ({:.0} sales/s)",
        t_sqlite.as_secs_f64(),
        rate(n, t_sqlite)
    );
    println!(
        "sqlite, one sale per request: {single_n} sales in {:.2} s ({:.0} sales/s)",
        t_single.as_secs_f64(),
        rate(single_n, t_single)
    );

    let mut pg_rates = None;
    if let Some((_one_db, one, one_dev, _two_db, instances, two_devs)) = &postgres {
        let t_one = drain_all(&[one_dev]);
        assert_eq!(held(&rt, one), n, "every sale exactly once");
        let t_two = drain_all(&two_devs.iter().collect::<Vec<_>>());
        assert_eq!(
            held(&rt, &instances[1]),
            2 * (n / 2),
            "every sale exactly once"
        );
        println!(
            "postgres, one instance: {n} sales in {:.2} s ({:.0} sales/s)",
            t_one.as_secs_f64(),
            rate(n, t_one)
        );
        println!(
            "postgres, two instances (two registers of {} at once): {} sales in {:.2} s ({:.0} sales/s)",
            n / 2,
            2 * (n / 2),
            t_two.as_secs_f64(),
            rate(2 * (n / 2), t_two)
        );
        pg_rates = Some((rate(n, t_one), rate(2 * (n / 2), t_two)));
    } else {
        println!("postgres: skipped ({POSTGRES_URL_VAR} not set; tests/bench.sh drain sets it)");
    }
    println!(
        "batching speed-up (sqlite): {:.1}x",
        rate(n, t_sqlite) / rate(single_n, t_single)
    );
    if let Some((_, two)) = pg_rates {
        println!("drain_postgres_two_instances_sales_per_sec: {two:.0}");
    }
    println!("drain_sqlite_sales_per_sec: {:.0}", rate(n, t_sqlite));
    if let Some((one, _)) = pg_rates {
        println!("drain_postgres_sales_per_sec: {one:.0}");
    }
}
