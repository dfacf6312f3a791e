//! Opening the store (key, SQLCipher, pragmas, migrations check) with 100,000 products
//! and 10,000 sales on disk.
//! Run: cargo bench -p tillkit-core --bench open

mod common;

use std::time::Instant;

use common::*;

fn main() {
    let dir = large_store();
    drop(open(&dir));
    let mut times = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        let till = open(&dir);
        till.login("bench", "R01", "bench").unwrap();
        // Opening is done when the first screen can show the queue count.
        till.queue_counts().unwrap();
        times.push(t.elapsed());
        drop(till);
    }
    times.sort();
    println!(
        "opens: {} of a store with 100,000 products and 10,000 sales",
        times.len()
    );
    println!("open p99: {:.2} ms", ms(pct(&times, 99.0)));
    println!("open_p50_ms: {:.2}", ms(pct(&times, 50.0)));
}
