//! Shared set-up for the sync benchmarks: a real server on loopback and devices with
//! their own encrypted stores, all under target/bench-data.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tillkit_core::sale::{Payment, PaymentMethod};
use tillkit_core::store::key::MemoryVault;
use tillkit_core::sync::{SyncConfig, SyncEngine};
use tillkit_core::{Config, Till};
use tillkit_server::{ServerHandle, admin, testkit};

pub const STORE: &str = "bench-store";

pub fn bench_dir(name: &str) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/bench-data")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn start_server(rt: &tokio::runtime::Runtime, dir: &std::path::Path) -> ServerHandle {
    let server = rt
        .block_on(tillkit_server::spawn_local(&dir.join("server.db")))
        .unwrap();
    add_store(rt, &server);
    server
}

/// A server over `store` (any backend) on loopback; `add_store` gives it the bench store.
pub fn start_server_over(
    rt: &tokio::runtime::Runtime,
    store: std::sync::Arc<dyn tillkit_server::ServerStore>,
) -> ServerHandle {
    rt.block_on(tillkit_server::spawn_with_store(
        store,
        tillkit_server::ServerConfig::default(),
    ))
    .unwrap()
}

/// Creates the bench store with the sample catalogue.
pub fn add_store(rt: &tokio::runtime::Runtime, server: &ServerHandle) {
    rt.block_on(admin::create_store(server.store().as_ref(), STORE, "Bench"))
        .unwrap();
    rt.block_on(admin::load_catalog(
        server.store().as_ref(),
        STORE,
        &testkit::uk_catalog(),
    ))
    .unwrap();
}

pub struct Device {
    pub till: Arc<Till>,
    pub engine: SyncEngine,
}

/// A register with its catalogue pulled from the server, then taken offline.
pub fn offline_device(
    rt: &tokio::runtime::Runtime,
    server: &ServerHandle,
    dir: &std::path::Path,
    register: &str,
    batch_size: usize,
) -> Device {
    let token = rt
        .block_on(admin::create_register(
            server.store().as_ref(),
            STORE,
            register,
        ))
        .unwrap();
    let till = Arc::new(
        Till::open_with_vault(Config::new(dir.join(register)), &MemoryVault::default()).unwrap(),
    );
    till.login(STORE, register, "bench").unwrap();
    let mut cfg = SyncConfig::new(&server.base_url(), token.expose());
    cfg.allow_http_loopback = true;
    cfg.batch_size = batch_size;
    cfg.backoff_base = Duration::from_millis(20);
    cfg.backoff_cap = Duration::from_millis(200);
    let engine = SyncEngine::start(till.clone(), cfg).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while till.catalog_cursor(STORE).unwrap().is_none() {
        assert!(Instant::now() < deadline, "catalogue never arrived");
        std::thread::sleep(Duration::from_millis(5));
    }
    engine.set_network_available(false);
    Device { till, engine }
}

/// Rings `n` two-line cash sales.
pub fn ring(till: &Till, n: usize) {
    for i in 0..n {
        let mut cart = till.new_cart().unwrap();
        till.add_product(&mut cart, "p-bread", testkit::d("2"))
            .unwrap();
        till.add_product(
            &mut cart,
            if i % 2 == 0 { "p-kettle" } else { "p-seat" },
            testkit::d("1"),
        )
        .unwrap();
        let total = cart.totals().unwrap().total;
        till.complete_sale(
            &cart,
            &[Payment {
                method: PaymentMethod::Cash,
                amount: total,
                reference: None,
            }],
        )
        .unwrap();
    }
}

/// Network up, then the time until the queue is empty.
pub fn drain(device: &Device) -> Duration {
    let t = Instant::now();
    device.engine.set_network_available(true);
    assert!(
        device.engine.wait_until_drained(Duration::from_secs(600)),
        "queue did not drain"
    );
    t.elapsed()
}

pub fn pct(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}
