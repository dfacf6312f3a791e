//! The device's transport through the full stack: it talks to the server over TLS only when
//! the server's certificate chains to the CA it was configured with and names the host it
//! dialled; a refused certificate loses nothing and uploads nothing. Plain HTTP is refused
//! off loopback before any request is made.

use tillkit_e2e::tls;

use std::time::Duration;

use tillkit_core::sync::{SyncConfig, SyncEngine};
use tillkit_e2e::fixtures::*;
use tls::{Ca, Identity, TlsTerminator};

const DRAIN: Duration = Duration::from_secs(30);

/// Sync settings for `url` over HTTPS only (no plain-HTTP exception), trusting `roots`.
fn https_config(url: &str, token: &str, roots: Vec<Vec<u8>>) -> SyncConfig {
    let mut cfg = sync_config(url, token);
    cfg.allow_http_loopback = false;
    cfg.root_certificates_pem = roots;
    cfg
}

/// A device holding the store's catalogue (fetched out of band) and `sales` sales rung
/// offline, its engine not started yet.
fn device_with_queued_sales(server: &Server, sales: usize) -> Device {
    let mut dev = Device::new(STORE, "R1");
    let token = server.token(STORE, "R0");
    let catalogue = server.get_json(&format!("/v1/stores/{STORE}/catalog"), &token);
    dev.till
        .import_catalog_json(&catalogue.to_string())
        .expect("catalogue");
    dev.ring_many(sales);
    dev
}

/// Starts the device against a terminator presenting `identity` with `roots` trusted, and
/// checks that the handshake is refused: the device shows offline with the error, keeps
/// every sale queued, and the server received nothing. Returns the handshake failures.
fn assert_refused(identity: Identity, host: &str, roots: Vec<Vec<u8>>) -> Vec<String> {
    let server = Server::start();
    let terminator = TlsTerminator::start(server.rt.handle(), identity, server.addr());
    let mut dev = device_with_queued_sales(&server, 5);
    let token = server.token(STORE, "R1");
    dev.start(https_config(&terminator.url(host), &token, roots));
    wait_until(DRAIN, "the device to try and fail the handshake", || {
        !terminator.failures().is_empty() && dev.engine().status().last_error.is_some()
    });

    tls::assert_refused_and_nothing_sent(
        &dev.engine().status(),
        "certificate is not trusted",
        5,
        &terminator,
        &server,
    );
    assert_eq!(dev.pending_ids(STORE).len(), 5);
    terminator.failures()
}

#[test]
fn device_syncs_over_tls_when_the_servers_ca_is_configured() {
    let server = Server::start();
    let ca = Ca::new();
    let terminator = TlsTerminator::start(
        server.rt.handle(),
        ca.issue(&["localhost", "127.0.0.1"]),
        server.addr(),
    );
    // By IP address and by name: the certificate names both.
    let mut all = Vec::new();
    for (host, register) in [("127.0.0.1", "R1"), ("localhost", "R2")] {
        let token = server.token(STORE, register);
        let mut dev = Device::online(
            STORE,
            register,
            https_config(&terminator.url(host), &token, vec![ca.pem()]),
        );
        dev.ring_many(10);
        dev.wait_drained(DRAIN);
        all.append(&mut dev.sales);
        server.assert_holds_exactly(STORE, &all);
    }
    assert!(terminator.handshakes() > 0);
    assert!(
        terminator.failures().is_empty(),
        "{:?}",
        terminator.failures()
    );
}

#[test]
fn device_refuses_a_self_signed_certificate_it_was_not_given() {
    // Neither with the platform's trust store nor with the deployment's own CA configured.
    let no_roots = assert_refused(tls::self_signed(&["127.0.0.1"]), "127.0.0.1", Vec::new());
    let other_ca = assert_refused(
        tls::self_signed(&["127.0.0.1"]),
        "127.0.0.1",
        vec![Ca::new().pem()],
    );
    for failure in no_roots.iter().chain(&other_ca) {
        assert!(
            failure.contains("UnknownCA") || failure.contains("BadCertificate"),
            "the client refused the certificate: {failure}"
        );
    }
}

#[test]
fn device_refuses_a_certificate_for_another_host_even_from_its_own_ca() {
    let ca = Ca::new();
    let failures = assert_refused(
        ca.issue(&["sync.other-shop.example"]),
        "127.0.0.1",
        vec![ca.pem()],
    );
    for failure in &failures {
        assert!(
            failure.contains("BadCertificate") || failure.contains("CertificateUnknown"),
            "the client refused the certificate for its name: {failure}"
        );
    }
}

#[test]
fn plain_http_off_loopback_is_refused_before_any_request() {
    let dev = Device::new(STORE, "R1");
    for url in ["http://sync.example.com", "http://192.0.2.10:8787"] {
        let mut cfg = SyncConfig::new(url, "token");
        cfg.allow_http_loopback = true;
        assert!(
            SyncEngine::start(dev.till.clone(), cfg).is_err(),
            "{url} must be refused"
        );
    }
}
