//! Pairing through the whole stack, over HTTPS to the server's own TLS: an operator's
//! one-time code becomes the register's token in the keychain (keyring-core's in-memory
//! store here), used on every start; a refused token shows "needs pairing" and keeps the
//! queue, and pairing again uploads it; a device serving two stores uploads each queue with
//! its own token; a used or unknown code is a typed error and stores nothing.

use tillkit_e2e::tls;

use std::sync::Arc;
use std::time::Duration;

use tillkit_core::sync::{
    Connectivity, KeychainTokens, Paired, StoreBlock, SyncConfig, SyncEngine, pair,
};
use tillkit_core::{Config, Error};
use tillkit_e2e::fixtures::*;
use tillkit_server::{ServerConfig, admin};
use tls::Ca;

const DRAIN: Duration = Duration::from_secs(60);
const CODE_TTL: Duration = Duration::from_secs(600);

/// keyring-core's in-memory store as the process's keychain (each test is its own process
/// under nextest; set again, it only starts empty).
fn in_memory_keychain() {
    keyring_core::set_default_store(keyring_core::mock::Store::new().expect("mock store"));
}

/// A server with its own TLS, its certificate signed by `ca`.
fn https_server(backend: &Backend, ca: &Ca) -> Server {
    let identity = ca.issue(&["127.0.0.1", "localhost"]);
    let tls = tillkit_server::tls::config(identity.chain, identity.key).expect("TLS config");
    Server::start_with(
        backend,
        ServerConfig {
            tls: Some(tls),
            ..ServerConfig::default()
        },
    )
}

/// Sync over HTTPS only, trusting `ca`, with the register's tokens from the keychain.
fn keychain_config(server: &Server, ca: &Ca, tokens: Arc<KeychainTokens>) -> SyncConfig {
    let mut cfg = sync_config(&server.url(), "unused");
    cfg.credentials = tokens;
    cfg.allow_http_loopback = false;
    cfg.root_certificates_pem = vec![ca.pem()];
    cfg
}

/// A one-time code for `register` of `store_id`, as `admin pair-register` prints it.
fn code_for(server: &Server, store_id: &str, register: &str) -> String {
    let db = server.store();
    db.block_on(admin::pair_register(
        &*db.store(),
        store_id,
        register,
        CODE_TTL,
    ))
    .expect("pairing code")
    .0
    .display()
}

/// What the device does with a code: pair, then keep the token in the keychain.
fn pair_device(
    server: &Server,
    cfg: &SyncConfig,
    tokens: &KeychainTokens,
    code: &str,
) -> Result<Paired, Error> {
    let paired = server.rt.block_on(pair(cfg, code))?;
    tokens
        .save(&paired.store_id, &paired.register_id, paired.token())
        .expect("token kept in the keychain");
    Ok(paired)
}

/// Loads `store_id`'s catalogue from the server's store into `dev` (logged in to it).
fn import_catalogue(server: &Server, dev: &Device, store_id: &str) {
    let db = server.store();
    let catalogue = db
        .block_on(db.store().catalog(store_id, None))
        .expect("catalogue");
    dev.till
        .import_catalog_json(&serde_json::to_string(&catalogue).expect("json"))
        .expect("import");
}

/// The keychain tokens of `dev`'s data directory, as every start reads them.
/// Each device has its own keychain account, as each data directory does in an app.
fn tokens_of(dev: &Device) -> Arc<KeychainTokens> {
    let mut config = Config::new(dev.dir.path());
    config.keychain_account = format!("{}", dev.dir.path().display());
    Arc::new(KeychainTokens::new(&config).expect("keychain"))
}

fn a_paired_device_keeps_its_token_in_the_keychain_and_uses_it_on_every_start(backend: &Backend) {
    in_memory_keychain();
    let ca = Ca::new();
    let server = https_server(backend, &ca);
    let mut dev = Device::new(STORE, "R1");
    let tokens = tokens_of(&dev);
    let cfg = keychain_config(&server, &ca, tokens.clone());
    let paired =
        pair_device(&server, &cfg, &tokens, &code_for(&server, STORE, "R1")).expect("pairs");
    assert_eq!(
        (paired.store_id.as_str(), paired.register_id.as_str()),
        (STORE, "R1")
    );
    dev.start(cfg);
    dev.wait_for_catalog(STORE);
    dev.ring_many(20);
    dev.wait_drained(DRAIN);

    // The next start reads the token from the keychain again; nobody types anything.
    dev.engine = None;
    let restarted = tokens_of(&dev);
    assert!(
        restarted.load(STORE).expect("keychain").is_some(),
        "the token is in the keychain"
    );
    dev.start(keychain_config(&server, &ca, restarted));
    dev.ring_many(10);
    dev.wait_drained(DRAIN);
    server.assert_holds_exactly(STORE, &dev.sales);
}

#[test]
fn a_paired_device_keeps_its_token_in_the_keychain_and_uses_it_on_every_start_on_sqlite() {
    a_paired_device_keeps_its_token_in_the_keychain_and_uses_it_on_every_start(&Backend::Sqlite);
}

#[test]
fn a_paired_device_keeps_its_token_in_the_keychain_and_uses_it_on_every_start_on_postgres() {
    let Some(pg) = Backend::postgres(
        "a_paired_device_keeps_its_token_in_the_keychain_and_uses_it_on_every_start_on_postgres",
    ) else {
        return;
    };
    a_paired_device_keeps_its_token_in_the_keychain_and_uses_it_on_every_start(&pg);
}

#[test]
fn a_refused_token_shows_needs_pairing_keeps_the_queue_and_pairing_again_uploads_it() {
    in_memory_keychain();
    let ca = Ca::new();
    let server = https_server(&Backend::Sqlite, &ca);
    let mut dev = Device::new(STORE, "R1");
    let tokens = tokens_of(&dev);
    let cfg = keychain_config(&server, &ca, tokens.clone());
    pair_device(&server, &cfg, &tokens, &code_for(&server, STORE, "R1")).expect("pairs");
    dev.start(cfg.clone());
    dev.wait_for_catalog(STORE);
    dev.ring_many(5);
    dev.wait_drained(DRAIN);

    // The register's tokens are revoked (a device reported lost, then found): 401.
    let db = server.store();
    assert_eq!(db.revoke_register(STORE, "R1").expect("revoke"), 1);
    dev.ring_many(12);
    dev.engine().sync_now();
    wait_until(DRAIN, "the status to ask for pairing", || {
        dev.engine().status().needs_pairing
    });
    let status = dev.engine().status();
    assert_eq!(status.pending, 12, "every unsent sale stays queued");
    assert_eq!(
        status.stores.first().and_then(|s| s.blocked),
        Some(StoreBlock::TokenRefused)
    );
    assert_eq!(
        status.connectivity,
        Connectivity::Online,
        "the server answered"
    );
    assert_eq!(db.summary(STORE).expect("summary").sale_count, 5);

    // Pairing again, on the running engine: the queue goes up, once, with the new token.
    pair_device(&server, &cfg, &tokens, &code_for(&server, STORE, "R1")).expect("pairs again");
    dev.engine().sync_now();
    dev.wait_drained(DRAIN);
    assert!(!dev.engine().status().needs_pairing);
    server.assert_holds_exactly(STORE, &dev.sales);
}

#[test]
fn a_device_serving_two_stores_uploads_each_queue_with_its_own_token() {
    in_memory_keychain();
    let ca = Ca::new();
    let server = https_server(&Backend::Sqlite, &ca);
    let db = server.store();
    db.create_store(OTHER_STORE, "Camden Market")
        .expect("store");
    db.load_catalog_json(OTHER_STORE, uk_catalog("34.99"))
        .expect("catalogue");
    let mut dev = Device::new(STORE, "R1");
    let tokens = tokens_of(&dev);
    let cfg = keychain_config(&server, &ca, tokens.clone());
    pair_device(&server, &cfg, &tokens, &code_for(&server, STORE, "R1")).expect("store A");
    pair_device(
        &server,
        &cfg,
        &tokens,
        &code_for(&server, OTHER_STORE, "R5"),
    )
    .expect("store B");

    // Both queues fill before any sync: 7 sales as register R5 of store B, 9 as R1 of A.
    import_catalogue(&server, &dev, STORE);
    dev.till.logout();
    dev.till.login(OTHER_STORE, "R5", "bob").expect("login B");
    import_catalogue(&server, &dev, OTHER_STORE);
    dev.ring_many(7);
    let sales_b = dev.sales.split_off(0);
    dev.till.logout();
    dev.till.login(STORE, "R1", "alice").expect("login A");
    dev.ring_many(9);
    let sales_a = dev.sales.split_off(0);

    // The start reads both tokens from the keychain; both queues drain.
    dev.start(keychain_config(&server, &ca, tokens_of(&dev)));
    dev.wait_drained(DRAIN);
    server.assert_holds_exactly(STORE, &sales_a);
    server.assert_holds_exactly(OTHER_STORE, &sales_b);
    for (store_id, sales, register) in [(STORE, &sales_a, "R1"), (OTHER_STORE, &sales_b, "R5")] {
        for sale in sales {
            let stored = db
                .stored_sale(store_id, &sale.sale_id.to_string())
                .expect("lookup")
                .expect("stored");
            assert_eq!(
                stored.uploaded_by, register,
                "uploaded with its own store's token"
            );
        }
    }
}

#[test]
fn a_used_expired_or_unknown_code_is_a_typed_error_and_stores_no_token() {
    in_memory_keychain();
    let ca = Ca::new();
    let server = https_server(&Backend::Sqlite, &ca);
    let dev = Device::new(STORE, "R1");
    let tokens = tokens_of(&dev);
    let cfg = keychain_config(&server, &ca, tokens.clone());
    let code = code_for(&server, STORE, "R1");
    pair_device(&server, &cfg, &tokens, &code).expect("first use pairs");
    tokens.forget(STORE).expect("forget");

    for bad in [code.as_str(), "ZZZZ-ZZZZ-ZZZZ", "not a code"] {
        let err = server.rt.block_on(pair(&cfg, bad)).expect_err(bad);
        assert!(
            matches!(&err, Error::PairingRefused { reason } if reason.contains("pairing_refused")),
            "{bad}: {err}"
        );
    }
    assert!(tokens.load(STORE).expect("keychain").is_none());

    // A device that does not trust the server's certificate sends no code at all.
    let mut untrusting = cfg.clone();
    untrusting.root_certificates_pem = vec![Ca::new().pem()];
    let fresh = code_for(&server, STORE, "R1");
    let err = server
        .rt
        .block_on(pair(&untrusting, &fresh))
        .expect_err("untrusted server");
    assert!(matches!(err, Error::Sync { .. }), "{err}");
    pair_device(&server, &cfg, &tokens, &fresh).expect("the code was never spent");

    // An engine started without any token shows "needs pairing" once a sale waits.
    let lonely = Device::new(OTHER_STORE, "R9");
    let lonely_tokens = tokens_of(&lonely);
    let engine = SyncEngine::start(
        lonely.till.clone(),
        keychain_config(&server, &ca, lonely_tokens),
    )
    .expect("engine");
    lonely.till.logout();
    lonely.till.login(STORE, "R9", "carol").expect("login");
    import_catalogue(&server, &lonely, STORE);
    ring(&lonely.till, &[("p-bread", "1")], false);
    engine.sync_now();
    wait_until(DRAIN, "no token to show as needs pairing", || {
        let s = engine.status();
        s.needs_pairing && s.stores.first().and_then(|b| b.blocked) == Some(StoreBlock::NoToken)
    });
    assert_eq!(engine.status().pending, 1);
}
