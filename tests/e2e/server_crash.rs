//! The server dies mid-batch: it runs as a child process and is SIGKILLed again and again
//! while a device drains thousands of sales, then restarted on the same port and file.
//! A batch is stored whole or not at all, and the device's retries store every sale once.

use std::time::{Duration, Instant};

use tillkit_e2e::chaos::Rng;
use tillkit_e2e::child::{ChildServer, serve_if_child};
use tillkit_e2e::fixtures::*;
use tillkit_e2e::proxy::{Outcome, Proxy};

const CHILD_TEST: &str = "server_child_serves_until_killed";
const SALES: usize = 3_000;
const BATCH: usize = 100;
const KILLS: usize = 6;

/// The child's body: serve until killed.
#[test]
fn server_child_serves_until_killed() {
    serve_if_child();
}

/// Which of `sales` (in queue order) the server holds.
fn stored(store: &Db, sales: &[tillkit_core::sale::SaleRecord]) -> Vec<bool> {
    sales
        .iter()
        .map(|s| {
            store
                .stored_sale(STORE, &s.sale_id.to_string())
                .expect("stored_sale")
                .is_some()
        })
        .collect()
}

#[test]
fn server_killed_mid_batch_again_and_again_stores_each_batch_whole_and_every_sale_once() {
    let dir = device_dir();
    let rt = runtime();
    let store = Db::create(rt.clone(), &Backend::Sqlite, dir.path());
    let token = store.token(STORE, "R1");
    let mut server = ChildServer::start(CHILD_TEST, store.location());
    // Only forwards: the proxy's log shows which requests a kill cut.
    let proxy = Proxy::start(rt.handle(), server.addr());
    let mut cfg = sync_config(&proxy.url(), &token);
    cfg.batch_size = BATCH;
    let mut dev = Device::online(STORE, "R1", cfg);
    dev.set_network(false);
    dev.ring_many(SALES);
    dev.set_network(true);

    let mut rng = Rng::new(20_261_121);
    let mut lives = Vec::new();
    for kill in 0..KILLS {
        let born = Instant::now();
        // Kill a moment after a batch was stored: the device sends the next one at once,
        // so the server dies reading, validating or committing it, or answering.
        let seen = proxy.uploads().len();
        wait_until(
            Duration::from_secs(30),
            "a batch stored since the last restart",
            || {
                proxy.uploads()[seen..]
                    .iter()
                    .any(|e| e.outcome == Outcome::Forwarded && e.status == Some(200))
            },
        );
        std::thread::sleep(Duration::from_millis(rng.below(40)));
        assert!(server.kill());
        lives.push(born..Instant::now());

        // While it is down: what it holds is the first k batches, never part of one.
        let held = stored(&store, &dev.sales);
        let k = held.iter().take_while(|h| **h).count();
        assert!(
            held[k..].iter().all(|h| !h),
            "kill {kill}: the server holds sales out of queue order"
        );
        assert!(
            k % BATCH == 0 || k == SALES,
            "kill {kill}: the server holds {k} sales: part of a batch of {BATCH}"
        );
        assert!(
            k < SALES,
            "the queue drained before kill {kill}: the test needs more sales"
        );
        server.restart();
    }
    dev.wait_drained(Duration::from_secs(60));

    assert_store_holds_exactly(&store, STORE, &dev.sales);
    let uploads = proxy.uploads();
    // Cut by a kill: sent to a live server that died before answering (not refused later).
    let cut = uploads
        .iter()
        .filter(|e| {
            e.outcome == Outcome::UpstreamFailed && lives.iter().any(|l| l.contains(&e.started))
        })
        .count();
    let duplicates = uploads
        .iter()
        .flat_map(|e| e.results())
        .filter(|(_, s, _)| s == "duplicate")
        .count();
    eprintln!(
        "server killed {KILLS} times during a drain of {SALES} sales: {} uploads, {cut} cut by a \
         kill, {duplicates} re-sent sales recognised as duplicates",
        uploads.len()
    );
    assert!(cut > 0, "no kill landed while a batch was in flight");
}
