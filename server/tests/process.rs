//! The `tillkit-server` binary as an operator and a crash see it: admin commands on a data
//! file, and a server killed with SIGKILL mid-upload that never leaves part of a batch.

mod common;

use std::collections::HashSet;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use tillkit_core::sale::SaleRecord;
use tillkit_server::protocol::{BatchResponse, SaleStatus, StockAudit};
use tillkit_server::{ServerStore, SqliteStore, admin};

const BIN: &str = env!("CARGO_BIN_EXE_tillkit-server");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run tillkit-server")
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn admin_commands_manage_stores_registers_catalogues_and_audits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("server.db");
    let data = db.to_str().expect("utf-8 path");
    let file = dir.path().join("catalog.json");
    let catalog =
        serde_json::to_string_pretty(&tillkit_server::testkit::uk_catalog()).expect("json");
    std::fs::write(&file, catalog).expect("write catalogue");

    stdout(&run(&[
        "admin",
        "create-store",
        "--data",
        data,
        "--id",
        STORE,
        "--name",
        "Camden",
    ]));
    let loaded = stdout(&run(&[
        "admin",
        "load-catalog",
        "--data",
        data,
        "--store",
        STORE,
        "--file",
        file.to_str().expect("path"),
    ]));
    assert!(loaded.contains("cursor 1"), "{loaded}");
    let token = stdout(&run(&[
        "admin",
        "create-register",
        "--store",
        STORE,
        "--register",
        "R07",
        "--data",
        data,
    ]));
    assert_eq!(token.len(), 64, "{token}");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));

    let store = SqliteStore::open(&db).expect("open");
    let principal = store.authenticate(
        &tillkit_server::auth::Token::parse(&token)
            .expect("token")
            .hash(),
    );
    assert_eq!(
        principal.expect("lookup").map(|p| p.register_id),
        Some("R07".into())
    );
    drop(store);

    let text = stdout(&run(&["admin", "audit", "--data", data, "--store", STORE]));
    assert!(
        text.contains("p-kettle") && text.contains("started 3"),
        "{text}"
    );
    let json = stdout(&run(&[
        "admin", "audit", "--data", data, "--store", STORE, "--json",
    ]));
    let audit: StockAudit = serde_json::from_str(&json).expect("audit json");
    assert_eq!(audit.products.len(), 2);

    assert_eq!(
        stdout(&run(&[
            "admin",
            "revoke-token",
            "--data",
            data,
            "--token",
            &token
        ])),
        "token revoked"
    );
    let again = run(&["admin", "revoke-token", "--data", data, "--token", &token]);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(!err.contains(&token), "a token is never echoed in an error");

    for bad in [
        vec![
            "admin",
            "create-store",
            "--data",
            data,
            "--id",
            STORE,
            "--name",
            "Again",
        ],
        vec![
            "admin",
            "create-register",
            "--data",
            data,
            "--store",
            "nope",
            "--register",
            "R1",
        ],
        vec![
            "admin",
            "load-catalog",
            "--data",
            data,
            "--store",
            STORE,
            "--file",
            "/no/such/file.json",
        ],
        vec!["admin", "frobnicate", "--data", data],
        vec!["admin", "create-store", "--data", data, "--id"],
        vec!["serve", "--data", data, "--listen", "not-an-address"],
        vec![],
    ] {
        let o = run(&bad);
        assert!(!o.status.success(), "{bad:?} should fail");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("usage:"),
            "{bad:?} prints usage"
        );
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_server(db: &Path, port: u16, client: &reqwest::Client) -> Server {
    let child = Command::new(BIN)
        .args([
            "serve",
            "--data",
            db.to_str().expect("path"),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn server");
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let health = client
            .get(format!("http://127.0.0.1:{port}/v1/health"))
            .send()
            .await;
        if health.is_ok_and(|r| r.status().is_success()) {
            return server;
        }
        assert!(Instant::now() < deadline, "server did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_never_leaves_a_partial_batch() {
    const BATCH: u64 = 150;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("server.db");
    let catalog = tillkit_server::testkit::uk_catalog();
    let token = {
        let store = SqliteStore::open(&db).expect("open");
        admin::create_store(&store, STORE, "Camden").expect("store");
        admin::load_catalog(&store, STORE, &catalog).expect("catalogue");
        admin::create_register(&store, STORE, "R1")
            .expect("token")
            .expose()
            .to_string()
    };
    let client = client();
    let port = free_port();
    let mut sent: Vec<Vec<SaleRecord>> = Vec::new();
    let mut seq = 0;
    for round in 0..4u64 {
        let server = start_server(&db, port, &client).await;
        let url = format!("http://127.0.0.1:{port}/v1/stores/{STORE}/sales/batch");
        // Keep uploading fresh batches until the server dies under us.
        let uploads = {
            let (client, url, token, catalog) =
                (client.clone(), url.clone(), token.clone(), catalog.clone());
            let start_seq = seq;
            tokio::spawn(async move {
                let mut batches = Vec::new();
                let mut seq = start_seq;
                loop {
                    let batch: Vec<SaleRecord> = (0..BATCH)
                        .map(|_| {
                            seq += 1;
                            sale(
                                &uk_tax(),
                                STORE,
                                "R1",
                                seq,
                                &[(product(&catalog, "p-seat"), d("1"))],
                            )
                        })
                        .collect();
                    batches.push(batch.clone());
                    let body = serde_json::json!({ "sales": batch }).to_string();
                    match client
                        .post(&url)
                        .bearer_auth(&token)
                        .body(body)
                        .send()
                        .await
                    {
                        Ok(r) if r.status().is_success() => {}
                        _ => return (batches, seq),
                    }
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(80 + 70 * round)).await;
        drop(server); // SIGKILL, mid-batch more often than not.
        let (batches, last) = uploads.await.expect("upload task");
        seq = last;
        sent.extend(batches);

        let store = SqliteStore::open(&db).expect("reopen after kill");
        eprintln!(
            "round {round}: {} batches sent, {} sales stored",
            sent.len(),
            store.summary(STORE).expect("summary").sale_count
        );
        for batch in &sent {
            let stored = batch
                .iter()
                .filter(|s| {
                    store
                        .stored_sale(&s.sale_id.to_string())
                        .expect("read")
                        .is_some()
                })
                .count();
            assert!(
                stored == 0 || stored == batch.len(),
                "round {round}: {stored} of {} stored",
                batch.len()
            );
        }
    }

    // The devices retry everything: each sale ends up stored exactly once.
    let server = start_server(&db, port, &client).await;
    let url = format!("http://127.0.0.1:{port}/v1/stores/{STORE}/sales/batch");
    let mut ids = HashSet::new();
    for batch in &sent {
        let body = serde_json::json!({ "sales": batch }).to_string();
        let r: BatchResponse = client
            .post(&url)
            .bearer_auth(&token)
            .body(body)
            .send()
            .await
            .expect("retry")
            .json()
            .await
            .expect("json");
        assert!(
            r.results
                .iter()
                .all(|r| matches!(r.status, SaleStatus::Accepted | SaleStatus::Duplicate))
        );
        ids.extend(batch.iter().map(|s| s.sale_id));
    }
    drop(server);
    let store = SqliteStore::open(&db).expect("open");
    let summary = store.summary(STORE).expect("summary");
    assert_eq!(summary.sale_count, ids.len() as u64);
    let audit = store.stock_audit(STORE).expect("audit");
    let seat = audit
        .products
        .iter()
        .find(|p| p.product_id == "p-seat")
        .expect("seat");
    assert_eq!(
        seat.current_stock,
        d("10") - rust_decimal::Decimal::from(ids.len() as u64),
        "one movement per sale"
    );
}
