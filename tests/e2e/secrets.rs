//! Secrets never reach the logs: with every target at TRACE (ours, the server's, reqwest,
//! hyper, rustls) captured for the whole process, a day's story (open the encrypted store,
//! rotate its key, sell offline with a card, sync over TLS through faults, a revoked token
//! and its replacement) leaves no bearer token, database key or card reference in them.
//! This file holds one test: the capturing subscriber is global to its process.

use tillkit_e2e::tls;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tillkit_core::sale::{Payment, PaymentMethod};
use tillkit_core::store::key::{KeyVault, MemoryVault};
use tillkit_core::sync::{SyncConfig, SyncEngine};
use tillkit_core::{Config, Till};
use tillkit_e2e::fixtures::*;
use tillkit_e2e::proxy::Fault;
use tracing_subscriber::fmt::MakeWriter;

const DRAIN: Duration = Duration::from_secs(30);
/// The card terminal's reference for the card sale.
const CARD_REFERENCE: &str = "AUTH-Zq81Xv3k-7734";

/// Everything every subscriber line wrote, in memory.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

/// The database key's secret half (`id:hex` is how the vault keeps it).
fn key_hex(vault: &MemoryVault) -> String {
    let key = vault.load().expect("vault").expect("a key");
    let encoded = key.encode();
    let (_, hex) = encoded.split_once(':').expect("id:hex");
    hex.to_string()
}

/// Panics if any 16-character stretch of `secret` (or all of it) appears in `logs`: a
/// truncated or split secret leaks too.
fn assert_absent(logs: &str, what: &str, secret: &str) {
    let lower = logs.to_ascii_lowercase();
    let secret = secret.to_ascii_lowercase();
    let window = secret.len().min(16);
    for start in 0..=secret.len() - window {
        let piece = &secret[start..start + window];
        assert!(
            !lower.contains(piece),
            "the logs show part of the {what}: {piece:?}"
        );
    }
}

#[test]
fn tracing_at_trace_level_never_shows_keys_or_tokens() {
    let capture = Capture::default();
    // With the `tracing-log` feature this also captures crates logging through `log`.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(capture.clone())
        .init();

    // The server behind a fault proxy that terminates TLS with the test process's CA.
    let server = Server::start();
    let proxy = server.proxy();
    let config = |token: &str| {
        let mut cfg = SyncConfig::new(&proxy.https_url(), token);
        cfg.root_certificates_pem = vec![tls::test_ca().pem()];
        cfg.backoff_base = Duration::from_millis(20);
        cfg.backoff_cap = Duration::from_millis(200);
        cfg
    };

    // Open the encrypted store, and rotate its key once.
    let dir = device_dir();
    let vault = MemoryVault::default();
    let till = Arc::new(Till::open_with_vault(Config::new(dir.path()), &vault).expect("till"));
    let first_key = key_hex(&vault);
    till.rotate_key(&vault).expect("key rotation");
    let second_key = key_hex(&vault);
    assert_ne!(first_key, second_key);
    till.login(STORE, "R1", "alice").expect("login");

    // Online with the first token: the catalogue arrives.
    let first_token = server.token(STORE, "R1");
    let engine = SyncEngine::start(till.clone(), config(&first_token)).expect("engine");
    wait_until(DRAIN, "the catalogue", || {
        till.catalog_cursor(STORE).expect("cursor").is_some()
    });

    // Offline: a card sale and some cash sales.
    engine.set_network_available(false);
    let mut cart = till.new_cart().expect("cart");
    till.add_product(&mut cart, "p-seat", d("1")).expect("seat");
    let total = cart.totals().expect("totals").total;
    till.complete_sale(
        &cart,
        &[Payment {
            method: PaymentMethod::Card,
            amount: total,
            reference: Some(CARD_REFERENCE.into()),
        }],
    )
    .expect("card sale");
    for _ in 0..3 {
        ring(&till, &[("p-bread", "1")], true);
    }

    // Back online through a lost answer and a server error.
    proxy.on_uploads([
        Fault::DropResponse,
        Fault::Answer {
            status: 500,
            retry_after: None,
        },
    ]);
    engine.set_network_available(true);
    assert!(engine.wait_until_drained(DRAIN), "{:?}", engine.status());

    // The token is revoked; the next sale is refused until a new token is installed.
    assert!(server.store().revoke_token(&first_token).expect("revoke"));
    ring(&till, &[("p-bread", "2")], false);
    wait_until(DRAIN, "the revoked token to be refused", || {
        engine.status().auth_failed
    });
    drop(engine);
    let second_token = server.token(STORE, "R1");
    let engine = SyncEngine::start(till.clone(), config(&second_token)).expect("engine");
    assert!(engine.wait_until_drained(DRAIN), "{:?}", engine.status());
    drop(engine);

    // Closing and reopening the store reads the key from the vault again.
    drop(till);
    let till = Till::open_with_vault(Config::new(dir.path()), &vault).expect("reopen");
    till.login(STORE, "R1", "alice").expect("login");
    assert_eq!(till.queue_counts().expect("counts").pending, 0);

    let logs = capture.text();
    // The capture worked, at every level and from every layer.
    assert!(logs.contains("batch acknowledged"), "the core's own events");
    assert!(logs.contains("batch stored"), "the server's events");
    assert!(logs.contains("TRACE"), "TRACE level");
    assert!(logs.contains("rustls"), "rustls, through the log bridge");
    assert!(logs.contains("hyper"), "hyper");
    let (plain, over_tls) = proxy.connections();
    assert!(plain == 0 && over_tls > 0, "{plain} plain, {over_tls} TLS");

    assert_absent(&logs, "first bearer token", &first_token);
    assert_absent(&logs, "second bearer token", &second_token);
    assert_absent(&logs, "database key", &first_key);
    assert_absent(&logs, "rotated database key", &second_key);
    assert_absent(&logs, "card reference", CARD_REFERENCE);
    eprintln!(
        "secrets: {} lines of TRACE logs scanned, none shows a token, a key or a card reference",
        logs.lines().count()
    );
}
