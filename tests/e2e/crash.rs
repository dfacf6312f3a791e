//! The device dies between the server's 2xx and marking the batch sent: a child process
//! runs the device and is SIGKILLed, again and again; a fresh device on the same data dir
//! re-sends what it never marked and the server keeps every sale exactly once.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tillkit_core::sale::SaleRecord;
use tillkit_e2e::fixtures::*;
use tillkit_e2e::proxy::Exchange;

const CHILD_DIR: &str = "TILLKIT_E2E_CRASH_DIR";
const CHILD_URL: &str = "TILLKIT_E2E_CRASH_URL";
const CHILD_TOKEN: &str = "TILLKIT_E2E_CRASH_TOKEN";
const SEED: &str = "TILLKIT_E2E_CRASH_SEED";
const REGISTER: &str = "R1";
const SALES: usize = 2_000;
const BATCH: usize = 20;

fn open(dir: &Path) -> Arc<tillkit_core::Till> {
    open_with_key_file(&dir.join("data"), &dir.join("key"), STORE, REGISTER)
}

fn child_config(url: &str, token: &str) -> tillkit_core::sync::SyncConfig {
    let mut cfg = sync_config(url, token);
    cfg.batch_size = BATCH;
    cfg
}

/// The child's body: run the device's sync engine until killed.
#[test]
fn crash_child_syncs_until_killed() {
    let (Ok(dir), Ok(url), Ok(token)) = (
        std::env::var(CHILD_DIR),
        std::env::var(CHILD_URL),
        std::env::var(CHILD_TOKEN),
    ) else {
        return;
    };
    let till = open(Path::new(&dir));
    let _engine = tillkit_core::sync::SyncEngine::start(till, child_config(&url, &token))
        .expect("engine starts");
    // The parent kills us long before this; if it died first, we stop by ourselves.
    std::thread::sleep(Duration::from_secs(60));
}

/// The running child, if any; killed when the test ends, even by a failed assertion.
#[derive(Clone, Default)]
struct ChildSlot(Arc<Mutex<Option<Child>>>);

impl ChildSlot {
    fn set(&self, child: Child) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
    }

    /// SIGKILLs the child and reaps it; true if there was one.
    fn kill(&self) -> bool {
        let Some(mut child) = self.0.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return false;
        };
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        true
    }
}

impl Drop for ChildSlot {
    fn drop(&mut self) {
        if Arc::strong_count(&self.0) == 1 {
            self.kill();
        }
    }
}

fn spawn_child(dir: &Path, url: &str, token: &str) -> Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "crash_child_syncs_until_killed",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir)
        .env(CHILD_URL, url)
        .env(CHILD_TOKEN, token)
        .env(child_env().0, child_env().1)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("child starts")
}

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// Sales the server stored that the device still has queued: left by a crash in the window.
fn stored_but_unmarked(server: &Server, dir: &Path) -> HashSet<String> {
    pending_ids(&open(dir), STORE)
        .into_iter()
        .filter(|id| {
            server
                .store()
                .stored_sale(STORE, id)
                .expect("stored_sale")
                .is_some()
        })
        .collect()
}

#[test]
fn sales_acknowledged_by_the_server_but_unmarked_at_a_crash_are_resent_and_stored_once() {
    let seed: u64 = std::env::var(SEED)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261121);
    eprintln!("crash sync test: seed {seed} (rerun with {SEED}={seed})");
    let server = Server::start();
    let proxy = server.proxy();
    let token = server.token(STORE, REGISTER);
    let dir = device_dir();

    // Ring the sales offline with the catalogue the device pulled once.
    let sales: Vec<SaleRecord> = {
        let till = open(dir.path());
        let engine =
            tillkit_core::sync::SyncEngine::start(till.clone(), child_config(&proxy.url(), &token))
                .expect("engine starts");
        wait_until(
            Duration::from_secs(20),
            "the first sync round and catalogue",
            || {
                engine.status().last_success_at.is_some()
                    && till.catalog_cursor(STORE).expect("cursor").is_some()
            },
        );
        engine.set_network_available(false);
        let mut dev_sales = Vec::with_capacity(SALES);
        for i in 0..SALES {
            let items: &[(&str, &str)] = if i % 2 == 0 {
                &[("p-bread", "1")]
            } else {
                &[("p-cheese", "0.125")]
            };
            dev_sales.push(ring(&till, items, i % 3 == 0));
        }
        dev_sales
    };

    let child = ChildSlot::default();
    let mut rng = Rng(seed | 1);
    let (mut window_kills, mut random_kills, mut random_in_window) = (0, 0, 0);
    let mut unmarked = HashSet::new();
    // Alternate kills in the window and at random points until each kind happened four
    // times; random kills let the device drain, so the queue is sized to outlast them.
    for round in 0..16 {
        if pending_ids(&open(dir.path()), STORE).is_empty()
            || (window_kills >= 4 && random_kills >= 4)
        {
            break;
        }
        // The proxy's HTTPS port, trusted through the parent's CA: the kills land on the
        // child's TLS connection to the proxy itself.
        child.set(spawn_child(dir.path(), &proxy.https_url(), &token));
        if round % 2 == 0 {
            // Kill the device the moment the server's 2xx for a batch with new sales comes
            // back, before the proxy passes it on: the server has committed, the device
            // never marks. (A batch of re-sent duplicates would prove less.)
            let killer = child.clone();
            let killed = Arc::new(AtomicBool::new(false));
            let flag = killed.clone();
            proxy.before_reply(Some(Box::new(move |e: &Exchange| {
                let stored_new = e
                    .results()
                    .iter()
                    .any(|(_, status, _)| status == "accepted");
                if e.is_upload()
                    && e.status.is_some_and(|s| (200..300).contains(&s))
                    && stored_new
                    && killer.kill()
                {
                    flag.store(true, Ordering::SeqCst);
                }
            })));
            wait_until(
                Duration::from_secs(30),
                "a batch acknowledged by the server",
                || killed.load(Ordering::SeqCst),
            );
            proxy.before_reply(None);
            window_kills += 1;
        } else {
            // Kill at a random point: start-up, mid-upload, while marking, or idle.
            std::thread::sleep(Duration::from_millis(10 + rng.below(80)));
            child.kill();
            random_kills += 1;
        }
        // Acknowledged sales this kill left queued (not ones an earlier kill left).
        let before = std::mem::replace(&mut unmarked, stored_but_unmarked(&server, dir.path()));
        let new_in_window = unmarked.difference(&before).count();
        if round % 2 == 0 {
            assert!(
                new_in_window > 0,
                "round {round}: the server acknowledged a batch the device never marked"
            );
        } else if new_in_window > 0 {
            random_in_window += 1;
        }
        // Nothing is lost at any kill: each sale is on the server or still queued.
        let pending: HashSet<String> = pending_ids(&open(dir.path()), STORE).into_iter().collect();
        for s in &sales {
            let id = s.sale_id.to_string();
            assert!(
                pending.contains(&id)
                    || server
                        .store()
                        .stored_sale(STORE, &id)
                        .expect("stored_sale")
                        .is_some(),
                "round {round}: sale {} is neither queued nor on the server",
                s.receipt_no
            );
        }
    }
    eprintln!(
        "crash sync test: {window_kills} kills right after a 2xx; {random_kills} at random \
         points, {random_in_window} of them between a 2xx and marking"
    );
    assert!(
        window_kills >= 4,
        "the queue drained before the crash window was hit often enough"
    );

    // A fresh device on the same data dir finishes the job; the server dedupes.
    let till = open(dir.path());
    let engine = tillkit_core::sync::SyncEngine::start(till, child_config(&proxy.url(), &token))
        .expect("engine starts");
    assert!(
        engine.wait_until_drained(Duration::from_secs(30)),
        "{:?}",
        engine.status()
    );
    server.assert_holds_exactly(STORE, &sales);
    let resent = proxy
        .uploads()
        .iter()
        .flat_map(|e| e.results())
        .filter(|(_, status, _)| status == "duplicate")
        .count();
    assert!(
        resent > 0,
        "some sales were re-sent after a crash and recognised as duplicates"
    );
}
