//! HTTPS straight to the server (`--tls-cert`/`--tls-key`, no proxy in front), as a small
//! shop runs it: a device trusting the certificate made in the test syncs every sale once,
//! on SQLite and on PostgreSQL; a device that does not trust it uploads nothing and loses
//! nothing; plain HTTP gets no answer from the TLS port.

use tillkit_e2e::tls;

use std::time::Duration;

use tillkit_core::sync::{Connectivity, SyncConfig};
use tillkit_e2e::fixtures::*;
use tillkit_server::ServerConfig;
use tls::Ca;

const DRAIN: Duration = Duration::from_secs(60);

/// A server on `backend` presenting a certificate for 127.0.0.1 and localhost from `ca`.
fn https_server(backend: &Backend, ca: &Ca) -> Server {
    let identity = ca.issue(&["127.0.0.1", "localhost"]);
    let tls = tillkit_server::tls::config(identity.chain, identity.key).expect("TLS config");
    let server = Server::start_with(
        backend,
        ServerConfig {
            tls: Some(tls),
            ..ServerConfig::default()
        },
    );
    assert!(
        server.url().starts_with("https://127.0.0.1:"),
        "{}",
        server.url()
    );
    server
}

/// Sync settings over HTTPS only, trusting `roots`.
fn https_config(url: &str, token: &str, roots: Vec<Vec<u8>>) -> SyncConfig {
    let mut cfg = sync_config(url, token);
    cfg.allow_http_loopback = false;
    cfg.root_certificates_pem = roots;
    cfg
}

fn a_device_syncs_every_sale_once_over_https_to_the_server_itself(backend: &Backend) {
    let ca = Ca::new();
    let server = https_server(backend, &ca);
    let token = server.token(STORE, "R1");
    let mut dev = Device::online(
        STORE,
        "R1",
        https_config(&server.url(), &token, vec![ca.pem()]),
    );
    dev.set_network(false);
    dev.ring_many(150);
    dev.set_network(true);
    dev.wait_drained(DRAIN);
    dev.ring_many(30);
    dev.wait_drained(DRAIN);
    server.assert_holds_exactly(STORE, &dev.sales);
}

#[test]
fn a_device_syncs_every_sale_once_over_https_to_a_sqlite_server() {
    a_device_syncs_every_sale_once_over_https_to_the_server_itself(&Backend::Sqlite);
}

#[test]
fn a_device_syncs_every_sale_once_over_https_to_a_postgres_server() {
    let Some(pg) =
        Backend::postgres("a_device_syncs_every_sale_once_over_https_to_a_postgres_server")
    else {
        return;
    };
    a_device_syncs_every_sale_once_over_https_to_the_server_itself(&pg);
}

#[test]
fn a_device_not_trusting_the_servers_certificate_uploads_nothing_and_loses_nothing() {
    let server = https_server(&Backend::Sqlite, &Ca::new());
    let mut dev = Device::new(STORE, "R1");
    let db = server.store();
    let catalogue = db
        .block_on(db.store().catalog(STORE, None))
        .expect("catalogue");
    dev.till
        .import_catalog_json(&serde_json::to_string(&catalogue).expect("json"))
        .expect("import");
    dev.ring_many(5);
    let token = server.token(STORE, "R1");
    // Another CA: the server's certificate chains to nothing this device trusts.
    dev.start(https_config(&server.url(), &token, vec![Ca::new().pem()]));
    wait_until(DRAIN, "the device to try and fail the handshake", || {
        dev.engine().status().last_error.is_some()
    });
    let status = dev.engine().status();
    assert_eq!(status.connectivity, Connectivity::Offline);
    assert_eq!(status.pending, 5, "every sale is still queued");
    assert_eq!(
        server.store().summary(STORE).expect("summary").sale_count,
        0
    );

    // Plain HTTP to the TLS port is no way in either.
    let plain = server.url().replacen("https://", "http://", 1);
    let answered = server.rt.block_on(async {
        server
            .http()
            .get(format!("{plain}/v1/health"))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    });
    assert!(!answered, "plain HTTP got an answer from the TLS port");
}
