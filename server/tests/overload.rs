//! The server under hostile or heavy load, over real sockets on 127.0.0.1: slow and silent
//! clients, more connections than the cap, a stop with a request stuck mid-body, and (on a
//! real PostgreSQL) one store's pile of uploads next to another store's.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use tillkit_server::store::PgOptions;
use tillkit_server::testkit::{TestDatabase, postgres_url, uk_catalog};
use tillkit_server::{PgStore, ServerConfig, admin, spawn_with_store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A liveness bound only: a test that reaches it has hung, which is the failure it tests.
const HANG: Duration = Duration::from_secs(60);

/// Whether the server has closed `stream` (EOF or reset), without waiting; bytes it sent
/// first (an error answer) are skipped.
fn closed_by_server(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match stream.try_read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

/// Reads until the server closes the connection.
async fn read_until_closed(stream: &mut TcpStream) {
    let mut sink = Vec::new();
    let _ = stream.read_to_end(&mut sink).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_dripping_a_header_is_closed_after_the_head_deadline() {
    let env = Env::start_with_config(ServerConfig {
        header_read_timeout: Duration::from_secs(1),
        ..ServerConfig::default()
    })
    .await;
    let mut slow = TcpStream::connect(env.server.addr())
        .await
        .expect("connect");
    slow.write_all(b"POST /v1/pair HTTP/1.1\r\nHost: till\r\nX-Slow: ")
        .await
        .expect("half a header");
    tokio::time::timeout(HANG, read_until_closed(&mut slow))
        .await
        .expect("the server closes a connection whose header never completes");
    // A connection that never sends a byte, or idles after a request, is closed the same way.
    let mut silent = TcpStream::connect(env.server.addr())
        .await
        .expect("connect");
    tokio::time::timeout(HANG, read_until_closed(&mut silent))
        .await
        .expect("the server closes a silent connection");
    let mut idle = TcpStream::connect(env.server.addr())
        .await
        .expect("connect");
    idle.write_all(b"GET /v1/health HTTP/1.1\r\nHost: till\r\n\r\n")
        .await
        .expect("request");
    let mut answer = Vec::new();
    tokio::time::timeout(HANG, idle.read_to_end(&mut answer))
        .await
        .expect("an idle keep-alive connection is closed")
        .expect("read");
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "the request itself was answered"
    );
    env.assert_alive().await;
}

/// Sends `first`, then one more byte of `drip` every 100 ms (round and round), reading what
/// the server answers meanwhile, until the server closes the connection: what it answered.
async fn trickle_until_closed(mut stream: TcpStream, first: &[u8], drip: &[u8]) -> Vec<u8> {
    stream
        .write_all(first)
        .await
        .expect("the start of a request");
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    for &byte in drip.iter().cycle() {
        loop {
            match stream.try_read(&mut buf) {
                Ok(0) => return answer,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => return answer,
            }
        }
        if stream.write_all(&[byte]).await.is_err() {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    unreachable!("`cycle` over a non-empty drip never ends")
}

/// A client sending its request head a byte every 100 ms, steadily, so no single read ever
/// waits long: the head deadline is one deadline for the whole head, so the server still
/// closes it, while a normal client beside it is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_its_head_a_byte_at_a_time_is_closed_while_others_are_served() {
    let env = Env::start_with_config(ServerConfig {
        header_read_timeout: Duration::from_secs(1),
        ..ServerConfig::default()
    })
    .await;
    let slow = TcpStream::connect(env.server.addr())
        .await
        .expect("connect");
    let trickler = tokio::spawn(trickle_until_closed(
        slow,
        b"GET /v1/health HTTP/1.1\r\nHost: till\r\nX-Slow: ",
        b"abcdefgh",
    ));
    // Beside it, a normal client is served, more than once.
    for _ in 0..3 {
        env.assert_alive().await;
    }
    let answer = tokio::time::timeout(HANG, trickler)
        .await
        .expect("the server closes a head trickling in for longer than the head deadline")
        .expect("task");
    assert!(
        !String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "a head that never ended was not served"
    );
    env.assert_alive().await;
}

/// A client sending an upload body a byte every 100 ms (JSON whitespace, so it never turns
/// invalid): one deadline for the whole body, counted from its head, answers it `408
/// request_timeout` and closes it; nothing of it is stored, and a normal upload beside it
/// is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_its_body_is_answered_408_and_closed_at_the_body_deadline() {
    let env = Env::start_with_config(ServerConfig {
        body_read_timeout: Duration::from_secs(1),
        ..ServerConfig::default()
    })
    .await;
    let slow_token = env.register("R2").await;
    let head = format!(
        "POST /v1/stores/{STORE}/sales/batch HTTP/1.1\r\nHost: till\r\n\
         Authorization: Bearer {slow_token}\r\nContent-Type: application/json\r\n\
         Content-Length: 1000000\r\n\r\n{{\"sales\":["
    );
    let slow = TcpStream::connect(env.server.addr())
        .await
        .expect("connect");
    let trickler =
        tokio::spawn(async move { trickle_until_closed(slow, head.as_bytes(), b" ").await });
    // Beside it, a register uploads normally.
    let stored = env
        .upload(&env.token, &[env.kettle_sale("R1", 1, "1")])
        .await;
    assert_eq!(
        statuses(&stored),
        vec![tillkit_server::protocol::SaleStatus::Accepted]
    );
    let answer = tokio::time::timeout(HANG, trickler)
        .await
        .expect("the server ends a body trickling in for longer than the body deadline")
        .expect("task");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"error\":\"request_timeout\""), "{answer}");
    assert_eq!(
        env.sale_count().await,
        1,
        "only the normal upload was stored"
    );
}

/// A connection from `source` (a loopback address) to `server`.
async fn connect_from(source: [u8; 4], server: std::net::SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind((std::net::Ipv4Addr::from(source), 0).into())
        .expect("bind a loopback source address");
    socket.connect(server).await.expect("connect")
}

/// Reads one answer to `GET /v1/health` sent on `stream`: whether it was a 200.
async fn health_on(stream: &mut TcpStream) -> bool {
    if stream
        .write_all(b"GET /v1/health HTTP/1.1\r\nHost: till\r\nConnection: close\r\n\r\n")
        .await
        .is_err()
    {
        return false;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200")
}

/// One address holding its share of connections (silent ones, which the head deadline
/// would take long to close) cannot open more, while another address is served; when one
/// of its own closes, it may open one again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_hold_more_than_its_share_of_connections() {
    let env = Env::start_with_config(ServerConfig {
        max_connections_per_ip: 2,
        // Longer than the test may take: only the per-address limit closes anything.
        header_read_timeout: HANG * 2,
        ..ServerConfig::default()
    })
    .await;
    let addr = env.server.addr();
    let mut held = vec![
        connect_from([127, 0, 0, 1], addr).await,
        connect_from([127, 0, 0, 1], addr).await,
    ];
    let mut third = connect_from([127, 0, 0, 1], addr).await;
    let mut refused = Vec::new();
    tokio::time::timeout(HANG, third.read_to_end(&mut refused))
        .await
        .expect("the address's third connection is closed")
        .expect("read");
    assert!(refused.is_empty(), "closed before any request");
    assert!(
        held.iter().all(|s| !closed_by_server(s)),
        "the two within the limit stay open"
    );
    let mut other = connect_from([127, 0, 0, 2], addr).await;
    assert!(health_on(&mut other).await, "another address is served");
    // One of the two closes; the address may connect again once the server has seen it.
    drop(held.pop());
    tokio::time::timeout(HANG, async {
        loop {
            let mut again = connect_from([127, 0, 0, 1], addr).await;
            if health_on(&mut again).await {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a place of the address freed by a close is taken again");
    assert!(!closed_by_server(&held[0]), "the one left stays open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_beyond_the_connection_cap_are_served_once_the_cap_frees() {
    let cap = 3;
    let env = Env::start_with_config(ServerConfig {
        max_connections: cap,
        header_read_timeout: Duration::from_secs(1),
        ..ServerConfig::default()
    })
    .await;
    // Twice the cap held open by clients that send nothing at all.
    let mut held = Vec::new();
    for _ in 0..cap * 2 {
        held.push(
            TcpStream::connect(env.server.addr())
                .await
                .expect("connect"),
        );
    }
    // Give the server the chance to take the first `cap` of them before the normal client.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answer = tokio::time::timeout(HANG, env.client.get(env.url("/v1/health")).send())
        .await
        .expect("the normal client is served once the silent ones time out")
        .expect("request");
    assert_eq!(answer.status(), StatusCode::OK);
    // It was served only after the server had closed silent connections to make room:
    // without a cap it would have been answered while they were all still open.
    let closed = held.iter().filter(|s| closed_by_server(s)).count();
    assert!(
        closed >= 1,
        "the cap held the normal client back until a place freed ({closed} of {} closed)",
        held.len()
    );
    for mut s in held {
        tokio::time::timeout(HANG, read_until_closed(&mut s))
            .await
            .expect("every silent connection is closed in the end");
    }
    env.assert_alive().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_stuck_mid_body_does_not_stop_the_server_from_stopping() {
    let env = Env::start_with_config(ServerConfig {
        shutdown_grace: Duration::from_secs(1),
        ..ServerConfig::default()
    })
    .await;
    let mut stuck = TcpStream::connect(env.server.addr())
        .await
        .expect("connect");
    stuck
        .write_all(
            b"POST /v1/pair HTTP/1.1\r\nHost: till\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"code\":",
        )
        .await
        .expect("a head and the start of a body");
    env.assert_alive().await;
    let Env { server, dir, .. } = env;
    tokio::time::timeout(HANG, server.shutdown())
        .await
        .expect("the server stops within its grace period")
        .expect("clean stop");
    tokio::time::timeout(HANG, read_until_closed(&mut stuck))
        .await
        .expect("the stuck connection was dropped");
    drop(dir);
}

/// Two stores on one PostgreSQL, a server with a tiny pool, and store A's row lock held by
/// another instance (a raw transaction here): A's uploads pile up, B's must still go through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_busy_store_never_starves_another_stores_uploads_or_sign_ins() {
    let Some(server_url) = postgres_url("one_busy_store_never_starves_another_stores_uploads")
    else {
        return;
    };
    let db = TestDatabase::create(&server_url).await;
    let store = PgStore::connect_with(
        &db.url,
        &PgOptions {
            pool_size: 2,
            auth_pool_size: 1,
            lock_wait: Duration::from_secs(1),
            ..PgOptions::default()
        },
    )
    .await
    .expect("connect");
    let catalog = uk_catalog();
    let mut tokens = Vec::new();
    for id in ["A", "B"] {
        admin::create_store(&store, id, id).await.expect("store");
        admin::load_catalog(&store, id, &catalog)
            .await
            .expect("catalogue");
        tokens.push(
            admin::create_register(&store, id, "R1")
                .await
                .expect("register")
                .expose()
                .to_string(),
        );
    }
    let server = spawn_with_store(Arc::new(store.clone()), ServerConfig::default())
        .await
        .expect("server");
    let client = client();
    let bread = |store_id: &str, seq: u64| {
        sale(
            &uk_tax(),
            store_id,
            "R1",
            seq,
            &[(product(&catalog, "p-bread"), d("1"))],
        )
    };
    let a_sales: Vec<_> = (1..=6).map(|seq| bread("A", seq)).collect();
    let upload = |store_id: &'static str, token: String, sale: tillkit_core::sale::SaleRecord| {
        let (client, url) = (client.clone(), server.base_url());
        async move {
            client
                .post(format!("{url}/v1/stores/{store_id}/sales/batch"))
                .bearer_auth(token)
                .json(&serde_json::json!({ "sales": [sale] }))
                .send()
                .await
                .expect("request")
        }
    };

    // "Another instance" holds store A's row lock.
    let (mut raw, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let other = raw.transaction().await.expect("tx");
    other
        .execute("SELECT 1 FROM stores WHERE store_id = 'A' FOR UPDATE", &[])
        .await
        .expect("lock A");
    let mut a_uploads: Vec<_> = a_sales
        .iter()
        .enumerate()
        .map(|(i, s)| (i, tokio::spawn(upload("A", tokens[0].clone(), s.clone()))))
        .collect();
    // Until an A upload is waiting on the row lock (it holds one of the two connections).
    let watcher = {
        let (c, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        c
    };
    tokio::time::timeout(HANG, async {
        loop {
            let waiting: i64 = watcher
                .query_one(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
                    &[],
                )
                .await
                .expect("activity")
                .get(0);
            if waiting > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("an upload of A reaches the row lock");

    // B signs in and uploads while A is stuck.
    let b = tokio::time::timeout(HANG, upload("B", tokens[1].clone(), bread("B", 1)))
        .await
        .expect("B's upload is answered");
    assert_eq!(b.status(), StatusCode::OK, "{:?}", b.text().await);
    // Still under the lock, A's first answer can only be "busy, retry later".
    let (first_i, first) = a_uploads.remove(0);
    let first = tokio::time::timeout(HANG, first)
        .await
        .expect("A's upload is answered while the lock is held")
        .expect("task");
    assert_eq!(first.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        first.headers().get("retry-after").is_some(),
        "a busy answer says when to retry"
    );
    other.rollback().await.expect("release A");

    // The device retries each busy one; every sale of A ends up stored, once.
    let mut pending = vec![first_i];
    for (i, task) in a_uploads {
        let r = task.await.expect("task");
        match r.status() {
            StatusCode::OK => {}
            StatusCode::SERVICE_UNAVAILABLE => pending.push(i),
            other => panic!("A's upload answered {other}: {:?}", r.text().await),
        }
    }
    for i in pending {
        let r = tokio::time::timeout(HANG, upload("A", tokens[0].clone(), a_sales[i].clone()))
            .await
            .expect("the retry is answered");
        assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
    }
    use tillkit_server::ServerStore;
    assert_eq!(store.summary("A").await.expect("summary").sale_count, 6);
    assert_eq!(store.summary("B").await.expect("summary").sale_count, 1);
    server.shutdown().await.expect("stop");
}

/// A store with the sample catalogue and one register on `store`: its token.
async fn store_with_register(store: &dyn tillkit_server::ServerStore, id: &str) -> String {
    admin::create_store(store, id, id).await.expect("store");
    admin::load_catalog(store, id, &uk_catalog())
        .await
        .expect("catalogue");
    admin::create_register(store, id, "R1")
        .await
        .expect("register")
        .expose()
        .to_string()
}

/// One sale of bread by register R1 of `store_id`.
fn bread(store_id: &str, seq: u64) -> tillkit_core::sale::SaleRecord {
    sale(
        &uk_tax(),
        store_id,
        "R1",
        seq,
        &[(product(&uk_catalog(), "p-bread"), d("1"))],
    )
}

/// Uploads `sales` to `store_id` on the server at `base`.
async fn post_batch(
    base: &str,
    store_id: &str,
    token: &str,
    sales: &[tillkit_core::sale::SaleRecord],
) -> reqwest::Response {
    client()
        .post(format!("{base}/v1/stores/{store_id}/sales/batch"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "sales": sales }))
        .send()
        .await
        .expect("request")
}

/// Asserts a busy answer: 503, code `busy`, and a `Retry-After` in whole seconds.
async fn assert_busy(r: reqwest::Response) {
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry: u64 = r
        .headers()
        .get("retry-after")
        .expect("a busy answer says when to retry")
        .to_str()
        .expect("ascii")
        .parse()
        .expect("whole seconds");
    assert!(retry >= 1, "Retry-After {retry}");
    let body: serde_json::Value = r.json().await.expect("error body");
    assert_eq!(body["error"], "busy", "{body}");
}

/// Another process (a backup, an admin command) holds the SQLite file's write lock past the
/// store's wait: the upload waiting for the file and the one queued behind it for the
/// connection are both answered busy while the lock is still held, never a 500 or a hang;
/// retried after the release, each sale is stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_while_another_process_holds_the_sqlite_file_are_answered_busy_then_stored_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("server.db");
    // The default wait (3 s): what a server started without options does.
    let store = tillkit_server::SqliteStore::open_async(&path)
        .await
        .expect("open");
    let token = store_with_register(&store, "A").await;
    let server = spawn_with_store(Arc::new(store.clone()), ServerConfig::default())
        .await
        .expect("server");
    let base = server.base_url();
    let sales = [bread("A", 1), bread("A", 2)];

    let locker = rusqlite::Connection::open(&path).expect("open the file");
    locker
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");
    let uploads: Vec<_> = sales
        .iter()
        .map(|s| {
            let (base, token, s) = (base.clone(), token.clone(), s.clone());
            tokio::spawn(async move { post_batch(&base, "A", &token, &[s]).await })
        })
        .collect();
    for upload in uploads {
        let r = tokio::time::timeout(HANG, upload)
            .await
            .expect("answered while the file is still locked")
            .expect("task");
        assert_busy(r).await;
    }
    // Nothing of the busy uploads was written.
    use tillkit_server::ServerStore;
    locker.execute_batch("ROLLBACK").expect("release the lock");
    assert_eq!(store.summary("A").await.expect("summary").sale_count, 0);

    // The device retries after Retry-After: each sale stored once, and a second retry of
    // both is answered duplicate.
    for s in &sales {
        let r = post_batch(&base, "A", &token, std::slice::from_ref(s)).await;
        assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
    }
    let again: tillkit_server::protocol::BatchResponse = post_batch(&base, "A", &token, &sales)
        .await
        .json()
        .await
        .expect("batch");
    assert!(
        again
            .results
            .iter()
            .all(|r| r.status == tillkit_server::protocol::SaleStatus::Duplicate),
        "{again:?}"
    );
    assert_eq!(store.summary("A").await.expect("summary").sale_count, 2);
    server.shutdown().await.expect("stop");
}

/// Every connection of the PostgreSQL pool is in use (one upload waits on a row lock another
/// instance holds): an upload to another store waits at most the pool wait and is answered
/// busy while the lock is still held, never a 500; retried after the release it is stored
/// once, as is the upload that waited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_finding_every_pooled_connection_in_use_is_answered_busy_then_stored_once() {
    let Some(server_url) = postgres_url("an_upload_finding_every_pooled_connection_in_use") else {
        return;
    };
    let db = TestDatabase::create(&server_url).await;
    let store = PgStore::connect_with(
        &db.url,
        &PgOptions {
            pool_size: 1,
            auth_pool_size: 1,
            // A's upload keeps its connection while it waits for the row lock...
            lock_wait: HANG,
            // ...so B gives up on the pool first.
            pool_wait: Duration::from_secs(1),
            ..PgOptions::default()
        },
    )
    .await
    .expect("connect");
    let token_a = store_with_register(&store, "A").await;
    let token_b = store_with_register(&store, "B").await;
    let server = spawn_with_store(Arc::new(store.clone()), ServerConfig::default())
        .await
        .expect("server");
    let base = server.base_url();

    // "Another instance" holds store A's row lock.
    let (mut raw, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let other = raw.transaction().await.expect("tx");
    other
        .execute("SELECT 1 FROM stores WHERE store_id = 'A' FOR UPDATE", &[])
        .await
        .expect("lock A");
    let a = {
        let (base, token) = (base.clone(), token_a.clone());
        tokio::spawn(async move { post_batch(&base, "A", &token, &[bread("A", 1)]).await })
    };
    let watcher = {
        let (c, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        c
    };
    tokio::time::timeout(HANG, async {
        loop {
            let waiting: i64 = watcher
                .query_one(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
                    &[],
                )
                .await
                .expect("activity")
                .get(0);
            if waiting > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("A's upload holds the pool's one connection, waiting on the row lock");

    let b_sales = [bread("B", 1)];
    let b = tokio::time::timeout(HANG, post_batch(&base, "B", &token_b, &b_sales))
        .await
        .expect("B is answered while the pool is held");
    assert_busy(b).await;
    assert!(
        !a.is_finished(),
        "the pool was still held when B was answered"
    );
    other.rollback().await.expect("release A");

    let a = tokio::time::timeout(HANG, a)
        .await
        .expect("A answered")
        .expect("task");
    assert_eq!(a.status(), StatusCode::OK, "{:?}", a.text().await);
    for _ in 0..2 {
        let r = post_batch(&base, "B", &token_b, &b_sales).await;
        assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
    }
    use tillkit_server::ServerStore;
    assert_eq!(store.summary("A").await.expect("summary").sale_count, 1);
    assert_eq!(store.summary("B").await.expect("summary").sale_count, 1);
    server.shutdown().await.expect("stop");
}
