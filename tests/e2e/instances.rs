//! Several server instances on one PostgreSQL database, the way a chain runs them behind a
//! load balancer: registers spread over instances through fault proxies (one instance dies
//! and its registers fail over), and one batch sent to two instances at the same moment.
//! Every sale must be stored exactly once. Needs `TILLKIT_TEST_POSTGRES` (tests/run-all.sh).

use std::sync::{Arc, Barrier};
use std::time::Duration;

use tillkit_e2e::chaos::{self, Mix};
use tillkit_e2e::child::{ChildServer, serve_if_child};
use tillkit_e2e::fixtures::*;
use tillkit_e2e::proxy::{Outcome, Proxy};

const CHILD_TEST: &str = "instance_child_serves_until_killed";
const INSTANCES: usize = 3;
const REGISTERS: usize = 6;
const SALES: usize = 300;

/// The child's body: one server instance, serving until killed.
#[test]
fn instance_child_serves_until_killed() {
    serve_if_child();
}

#[test]
fn registers_spread_over_three_instances_store_every_sale_once_even_when_one_dies() {
    let Some(pg) = Backend::postgres("registers_spread_over_three_instances") else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let rt = runtime();
    let db = Db::create(rt.clone(), &pg, dir.path());
    let mut servers: Vec<ChildServer> = (0..INSTANCES)
        .map(|_| ChildServer::start(CHILD_TEST, db.location()))
        .collect();
    // One proxy per instance, as a load balancer's backends, each with background faults.
    let mut picks = Vec::new();
    let proxies: Vec<Proxy> = servers
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let proxy = Proxy::start(rt.handle(), s.addr());
            let (schedule, p) = chaos::schedule(11 + i as u64, Mix::background(), Duration::ZERO);
            proxy.set_schedule(Some(schedule));
            picks.push(p);
            proxy
        })
        .collect();

    let catalogue = catalogue(&db, &servers[0]);
    let mut devices: Vec<Device> = (0..REGISTERS)
        .map(|r| {
            let mut dev = Device::new(STORE, &format!("R{r}"));
            dev.till.import_catalog_json(&catalogue).expect("catalogue");
            dev.ring_many(SALES);
            dev
        })
        .collect();
    for (r, dev) in devices.iter_mut().enumerate() {
        let mut cfg = sync_config(
            &proxies[r % INSTANCES].url(),
            &db.token(STORE, &format!("R{r}")),
        );
        cfg.batch_size = 20;
        dev.start(cfg);
    }
    // Instance 0 dies once it has stored something; its registers fail over to instance 1.
    wait_until(
        Duration::from_secs(60),
        "instance 0 to store a batch",
        || {
            proxies[0]
                .uploads()
                .iter()
                .any(|e| e.outcome == Outcome::Forwarded && e.status == Some(200))
        },
    );
    assert!(servers[0].kill());
    proxies[0].set_upstream(servers[1].addr());
    for dev in &devices {
        dev.wait_drained(Duration::from_secs(300));
    }

    let all: Vec<_> = devices.iter().flat_map(|d| d.sales.clone()).collect();
    assert_store_holds_exactly(&db, STORE, &all);
    let served: Vec<usize> = proxies
        .iter()
        .map(|p| p.uploads().iter().filter(|e| e.status == Some(200)).count())
        .collect();
    assert!(
        served.iter().all(|&n| n > 0),
        "every instance took uploads: {served:?}"
    );
    let duplicates = proxies
        .iter()
        .flat_map(|p| p.uploads())
        .flat_map(|e| e.results())
        .filter(|(_, s, _)| s == "duplicate")
        .count();
    eprintln!(
        "instances: {} sales from {REGISTERS} registers over {INSTANCES} instances (one killed): \
         uploads answered per proxy {served:?}, {duplicates} re-sent sales recognised as duplicates",
        all.len()
    );
    drop(servers.remove(0));
}

#[test]
fn the_same_batch_sent_to_two_instances_at_the_same_moment_stores_each_sale_once() {
    let Some(pg) = Backend::postgres("the_same_batch_sent_to_two_instances_at_the_same_moment")
    else {
        return;
    };
    const ROUNDS: usize = 12;
    let dir = tempfile::tempdir().expect("dir");
    let rt = runtime();
    let db = Db::create(rt.clone(), &pg, dir.path());
    let servers = [
        ChildServer::start(CHILD_TEST, db.location()),
        ChildServer::start(CHILD_TEST, db.location()),
    ];
    let token = db.token(STORE, "R1");
    let mut dev = Device::new(STORE, "R1");
    dev.till
        .import_catalog_json(&catalogue(&db, &servers[0]))
        .expect("catalogue");
    let mut stored = Vec::new();
    for round in 0..ROUNDS {
        dev.sales.clear();
        dev.ring_many(50);
        let body = serde_json::json!({ "sales": dev.sales }).to_string();
        // Both requests leave together: the database decides who stores each sale.
        let barrier = Arc::new(Barrier::new(2));
        let answers: Vec<serde_json::Value> = std::thread::scope(|scope| {
            let handles: Vec<_> = servers
                .iter()
                .map(|s| {
                    let (barrier, body, token, url) =
                        (barrier.clone(), body.clone(), token.clone(), s.url());
                    scope.spawn(move || {
                        let rt = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .expect("runtime");
                        let client = reqwest_client();
                        barrier.wait();
                        rt.block_on(async {
                            let r = client
                                .post(format!("{url}/v1/stores/{STORE}/sales/batch"))
                                .bearer_auth(token)
                                .header("content-type", "application/json")
                                .body(body)
                                .send()
                                .await
                                .expect("upload");
                            assert_eq!(r.status().as_u16(), 200, "round {round}");
                            r.json().await.expect("answer")
                        })
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("uploader"))
                .collect()
        });
        for (i, sale) in dev.sales.iter().enumerate() {
            let statuses: Vec<&str> = answers
                .iter()
                .map(|a| a["results"][i]["status"].as_str().expect("status"))
                .collect();
            let mut sorted = statuses.clone();
            sorted.sort();
            assert_eq!(
                sorted,
                ["accepted", "duplicate"],
                "round {round}, sale {}: one instance stores it, the other sees it stored",
                sale.receipt_no
            );
        }
        stored.extend(dev.sales.clone());
    }
    assert_store_holds_exactly(&db, STORE, &stored);
}

/// The store's catalogue as the server sends it, for devices rung offline from the start.
fn catalogue(db: &Db, server: &ChildServer) -> String {
    let token = db.token(STORE, "R-catalogue");
    db.block_on(async {
        reqwest_client()
            .get(format!("{}/v1/stores/{STORE}/catalog", server.url()))
            .bearer_auth(token)
            .send()
            .await
            .expect("catalogue")
            .text()
            .await
            .expect("catalogue body")
    })
}

/// A plain HTTP client with rustls' ring provider installed.
fn reqwest_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}
