//! Device memory: peak RSS of a register holding 100,000 products and 50,000 queued sales
//! while it sells and drains them to the real server (on loopback, in the parent process;
//! the device runs in a child process so that only its memory is measured).
//! Run: cargo bench -p tillkit-e2e --bench device_memory   (PRODUCTS=, QUEUED= to change)
//! Last line: `device_peak_rss_mib: N` (the selling-and-draining phase).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tillkit_core::store::key::MemoryVault;
use tillkit_core::sync::SyncEngine;
use tillkit_core::{Config, Till};
use tillkit_e2e::fixtures::*;

const STORE_ID: &str = "mem-01";
const CHILD: &str = "TILLKIT_MEMORY_CHILD";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn products(n: usize) -> Vec<serde_json::Value> {
    (0..n)
        .map(|i| {
            serde_json::json!({
                "id": format!("p{i}"), "sku": format!("SKU-{i:06}"),
                "name": format!("Product {i} organic whole wheat"),
                "price": format!("{}.{:02}", 1 + i % 40, i % 100),
                "tax_category": if i % 3 == 0 { "reduced" } else { "standard" },
                "barcodes": [format!("50{i:011}")],
                "stock_tracked": i % 2 == 0, "stock": "1000"
            })
        })
        .collect()
}

/// (current, peak) resident set of this process, MiB.
fn rss() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Starts a new peak: the phases are measured apart.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn child(url: &str, token: &str, n_products: usize, queued: usize) {
    let dir = device_dir();
    let till = Arc::new(
        Till::open_with_vault(Config::new(dir.path()), &MemoryVault::default()).expect("till"),
    );
    till.login(STORE_ID, "R1", "alice").expect("login");
    let engine = SyncEngine::start(till.clone(), sync_config(url, token)).expect("engine");
    wait_until(Duration::from_secs(600), "the catalogue", || {
        till.catalog_cursor(STORE_ID).expect("cursor").is_some()
    });
    engine.set_network_available(false);
    let (now, peak) = rss();
    println!("catalogue: {n_products} products pulled; RSS {now:.1} MiB, peak {peak:.1} MiB");
    reset_peak();
    let t = Instant::now();
    for i in 0..queued {
        let a = format!("p{}", ((i * 7919) % n_products) | 1);
        let b = format!("p{}", (i * 104_729) % n_products);
        ring(&till, &[(&a, "1"), (&b, "2")], i % 3 == 0);
    }
    let (now, peak) = rss();
    println!(
        "ring offline: {queued} sales queued in {:.0} s; RSS {now:.1} MiB, peak {peak:.1} MiB",
        t.elapsed().as_secs_f64()
    );
    reset_peak();
    // Selling and draining: the network comes back while the cashier keeps selling.
    engine.set_network_available(true);
    let t = Instant::now();
    let mut sold = 0;
    while !(sold >= 1_000 && engine.status().pending == 0) {
        if sold < 1_000 {
            ring(
                &till,
                &[(&format!("p{}", sold * 31 % n_products), "1")],
                false,
            );
            sold += 1;
        } else {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            t.elapsed() < Duration::from_secs(1800),
            "drain stalled: {:?}",
            engine.status()
        );
    }
    let (now, peak) = rss();
    println!(
        "sell + drain: {sold} sold while {queued} uploaded in {:.0} s; RSS {now:.1} MiB, peak {peak:.1} MiB",
        t.elapsed().as_secs_f64()
    );
    println!("device_peak_rss_mib: {peak:.1}");
}

fn main() {
    let n_products = env_or("PRODUCTS", 100_000);
    let queued = env_or("QUEUED", 50_000);
    if let Ok(args) = std::env::var(CHILD) {
        let (url, token) = args.split_once(' ').expect("child args");
        child(url, token, n_products, queued);
        return;
    }
    let server = Server::start();
    server
        .store()
        .create_store(STORE_ID, "Memory")
        .expect("store");
    server
        .store()
        .load_catalog_json(
            STORE_ID,
            serde_json::json!({"tax": uk_tax(), "products": products(n_products), "discounts": []}),
        )
        .expect("catalogue");
    let token = server.token(STORE_ID, "R1");
    let exe = std::env::current_exe().expect("exe");
    let mut device = Command::new(exe)
        // The TLS front stays in this process, so its memory is not counted as the device's.
        .env(CHILD, format!("{} {token}", https_for(&server.url())))
        .env(child_env().0, child_env().1)
        .stdout(Stdio::piped())
        .spawn()
        .expect("device child");
    let mut last = String::new();
    for line in BufReader::new(device.stdout.take().expect("stdout")).lines() {
        let line = line.expect("line");
        println!("{line}");
        last = line;
    }
    assert!(
        device.wait().expect("child").success(),
        "device child failed"
    );
    assert!(last.starts_with("device_peak_rss_mib"), "{last}");
    let summary = server.store().summary(STORE_ID).expect("summary");
    assert_eq!(
        summary.sale_count as usize,
        queued + 1_000,
        "every sale stored once"
    );
    println!("server holds {} sales", summary.sale_count);
    println!("{last}");
}
