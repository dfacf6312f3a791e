//! Certificate pinning through the full stack: a device pinned to a key of the server's
//! verified chain syncs; any other pin is refused before a byte is sent, visibly and losing nothing.
//! No test here installs a process-wide crypto provider: the device must never need one.

use tillkit_e2e::tls;

use std::time::Duration;

use tillkit_core::sync::SyncConfig;
use tillkit_core::sync::tls::certificate_pin;
use tillkit_e2e::fixtures::*;
use tls::{Ca, Identity, TlsTerminator};

const DRAIN: Duration = Duration::from_secs(30);

/// Sync settings for `url` over HTTPS only, trusting `ca` and pinned to `pins`.
fn pinned_config(url: &str, token: &str, ca: &Ca, pins: &[String]) -> SyncConfig {
    let mut cfg = sync_config(url, token);
    cfg.allow_http_loopback = false;
    cfg.root_certificates_pem = vec![ca.pem()];
    cfg.pinned_spki_sha256 = pins.to_vec();
    cfg
}

fn pin(der: &[u8]) -> String {
    certificate_pin(der).expect("pin of a certificate")
}

/// The TLS code path on the device asked for no process-wide provider (reqwest panics for
/// want of one when it builds its own configuration).
fn assert_no_process_wide_provider() {
    assert!(
        rustls::crypto::CryptoProvider::get_default().is_none(),
        "the device needed a process-wide crypto provider"
    );
}

#[test]
fn device_pinned_to_its_servers_key_or_ca_key_syncs_every_sale_once() {
    let server = Server::start();
    let ca = Ca::new();
    let identity = ca.issue(&["127.0.0.1"]);
    let (leaf_pin, ca_pin) = (pin(&identity.chain[0]), pin(&identity.chain[1]));
    let terminator = TlsTerminator::start(server.rt.handle(), identity, server.addr());
    let url = terminator.url("127.0.0.1");
    let mut all = Vec::new();
    // The server's own key; the private CA's key (any certificate it signs); a set holding
    // an unrelated pin besides the right one.
    let unrelated = pin(&tls::self_signed(&["elsewhere.example"]).chain[0]);
    for (register, pins) in [
        ("R1", vec![leaf_pin]),
        ("R2", vec![ca_pin.clone()]),
        ("R3", vec![unrelated, ca_pin]),
    ] {
        let token = server.token(STORE, register);
        let mut dev = Device::online(STORE, register, pinned_config(&url, &token, &ca, &pins));
        dev.ring_many(10);
        dev.wait_drained(DRAIN);
        all.append(&mut dev.sales);
        server.assert_holds_exactly(STORE, &all);
    }
    assert!(
        terminator.failures().is_empty(),
        "{:?}",
        terminator.failures()
    );
    assert_no_process_wide_provider();
}

/// Starts a device with 5 sales queued against a terminator presenting `identity`, trusting
/// `ca` and pinned to `pins`, and checks the refusal: Offline with a pin error the status
/// shows, every sale still queued, nothing stored. Returns the device.
fn assert_pin_refused(server: &Server, identity: Identity, ca: &Ca, pins: &[String]) -> Device {
    let terminator = TlsTerminator::start(server.rt.handle(), identity, server.addr());
    let token = server.token(STORE, "R1");
    // The catalogue comes over HTTPS through a TLS front; then the engine stops and sales queue.
    let mut dev = Device::online(STORE, "R1", sync_config(&server.url(), &token));
    dev.engine = None;
    dev.ring_many(5);
    dev.start(pinned_config(
        &terminator.url("127.0.0.1"),
        &token,
        ca,
        pins,
    ));
    wait_until(DRAIN, "the device to refuse the server's chain", || {
        dev.engine()
            .status()
            .last_error
            .is_some_and(|e| e.contains("pin"))
    });
    tls::assert_refused_and_nothing_sent(
        &dev.engine().status(),
        "certificate pin mismatch",
        5,
        &terminator,
        server,
    );
    dev
}

#[test]
fn a_wrong_pin_refuses_the_server_and_loses_nothing_until_the_pin_is_fixed() {
    let server = Server::start();
    let ca = Ca::new();
    let identity = ca.issue(&["127.0.0.1"]);
    let right = pin(&identity.chain[0]);
    let wrong = pin(&tls::self_signed(&["127.0.0.1"]).chain[0]);
    let fixed_identity = Identity {
        chain: identity.chain.clone(),
        key: identity.key.clone_key(),
    };
    let mut dev = assert_pin_refused(&server, identity, &ca, &[wrong]);

    // The right pin, same queue: every sale goes up once.
    let terminator = TlsTerminator::start(server.rt.handle(), fixed_identity, server.addr());
    let token = server.token(STORE, "R1");
    dev.start(pinned_config(
        &terminator.url("127.0.0.1"),
        &token,
        &ca,
        &[right],
    ));
    dev.wait_drained(DRAIN);
    server.assert_holds_exactly(STORE, &dev.sales);
    assert_no_process_wide_provider();
}

#[test]
fn a_pinned_certificate_sent_along_but_outside_the_verified_chain_does_not_satisfy_the_pin() {
    // The attacker's chain is valid (the CA signed it) and carries, as a spare, a public
    // certificate whose key the device pins. Only the path the device verified counts.
    let server = Server::start();
    let ca = Ca::new();
    let pinned = tls::self_signed(&["sync.shop.example"]);
    let mut identity = ca.issue(&["127.0.0.1"]);
    identity.chain.push(pinned.chain[0].clone());
    assert_pin_refused(&server, identity, &ca, &[pin(&pinned.chain[0])]);
    assert_no_process_wide_provider();
}
