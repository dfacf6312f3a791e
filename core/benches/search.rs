//! Product search at 100,000 products: word, prefix, SKU and barcode queries.
//! Run: cargo bench -p tillkit-core --bench search

mod common;

use std::time::Instant;

use common::*;

fn main() {
    let dir = large_store();
    let till = open(&dir);
    till.login("bench", "R01", "bench").unwrap();
    let queries: Vec<String> = (0..2000)
        .map(|i| match i % 6 {
            0 => "choc".to_string(),
            1 => "organic apple".to_string(),
            2 => format!("SKU-{:06}", (i * 37) % 100_000),
            3 => format!("50{:011}", (i * 53) % 100_000),
            4 => "gr te".to_string(),
            _ => format!("{}", (i * 91) % 100_000),
        })
        .collect();
    for q in queries.iter().take(100) {
        till.search(q).unwrap();
    }
    let mut times = Vec::with_capacity(queries.len());
    let mut hits = 0;
    for q in &queries {
        let t = Instant::now();
        hits += till.search(q).unwrap().len();
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "queries: {} over 100,000 products ({hits} results)",
        queries.len()
    );
    println!("search p50: {:.3} ms", ms(pct(&times, 50.0)));
    println!("search max: {:.3} ms", ms(*times.last().unwrap()));
    println!("search_p99_ms: {:.3}", ms(pct(&times, 99.0)));
}
