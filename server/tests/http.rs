//! The sync protocol over real HTTP on 127.0.0.1, against a real SQLite file: each test is
//! named after the promise it keeps.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tillkit_core::catalog::{CatalogPayload, PayloadKind};
use tillkit_server::protocol::{SaleStatus, StockAudit};
use tillkit_server::{ServerConfig, admin};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_without_a_token() {
    let env = Env::start().await;
    let r = env
        .client
        .get(env.url("/v1/health"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["status"], "ok");
    assert!(body["server_time"].as_i64().expect("server_time") > 1_600_000_000_000);
    assert_error(
        env.get("/v1/nope", "").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    env.server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogue_is_a_snapshot_then_a_delta_after_a_change() {
    let env = Env::start().await;
    let path = format!("/v1/stores/{STORE}/catalog");
    let r = env.get(&path, &env.token).await;
    assert_eq!(r.status(), StatusCode::OK);
    let snap: CatalogPayload = r.json().await.expect("payload parses as the core's type");
    assert_eq!(snap.kind, PayloadKind::Snapshot);
    assert_eq!(snap.products.len(), 3);

    let mut changed = env.catalog.clone();
    changed
        .products
        .iter_mut()
        .filter(|p| p.id == "p-bread")
        .for_each(|p| p.price = d("3.40"));
    changed.products.retain(|p| p.id != "p-seat");
    admin::load_catalog(&*env.server.store(), STORE, &changed)
        .await
        .expect("reload");

    let delta: CatalogPayload = env
        .get(&format!("{path}?since={}", snap.cursor), &env.token)
        .await
        .json()
        .await
        .expect("delta");
    assert_eq!(delta.kind, PayloadKind::Delta);
    assert_eq!(delta.products.len(), 1);
    assert_eq!(
        (delta.products[0].id.as_str(), delta.products[0].price),
        ("p-bread", d("3.40"))
    );
    assert_eq!(delta.removed_product_ids, ["p-seat"]);
    assert_ne!(delta.cursor, snap.cursor);

    let unknown: CatalogPayload = env
        .get(&format!("{path}?since=not-a-cursor"), &env.token)
        .await
        .json()
        .await
        .expect("snapshot");
    assert_eq!(unknown.kind, PayloadKind::Snapshot);
    assert_eq!(unknown.products.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_checked_scoped_to_their_store_and_revocable() {
    let env = Env::start().await;
    let store = env.server.store();
    admin::create_store(&*store, "fr-01", "Paris")
        .await
        .expect("store");
    admin::load_catalog(&*store, "fr-01", &env.catalog)
        .await
        .expect("catalogue");
    let paris = admin::create_register(&*store, "fr-01", "R1")
        .await
        .expect("token")
        .expose()
        .to_string();
    let summary = format!("/v1/stores/{STORE}/summary");

    let r = env
        .client
        .get(env.url(&summary))
        .send()
        .await
        .expect("request");
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_error(
        env.get(&summary, &"0".repeat(64)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_error(
        env.get(&summary, "short").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_error(
        env.get(&summary, &paris).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let batch = "/v1/stores/fr-01/sales/batch";
    let body = json!({"sales": [env.kettle_sale("R1", 1, "1")]}).to_string();
    assert_error(
        env.post_raw(batch, &env.token, body).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(
        store
            .summary("fr-01")
            .await
            .map(|s| s.sale_count)
            .expect("summary"),
        0
    );
    // A store id that does not exist: a valid token reveals and writes nothing.
    for path in [
        "/v1/stores/no-such-store/sales/batch",
        "/v1/stores/'%20OR%201=1--/sales/batch",
    ] {
        let body = json!({"sales": [env.kettle_sale("R1", 2, "1")]}).to_string();
        assert_error(
            env.post_raw(path, &env.token, body).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    assert_eq!(
        store
            .summary(STORE)
            .await
            .map(|s| s.sale_count)
            .expect("summary"),
        0
    );

    assert_eq!(env.get(&summary, &env.token).await.status(), StatusCode::OK);
    assert!(
        admin::revoke_token(&*store, &env.token)
            .await
            .expect("revoke")
    );
    assert_error(
        env.get(&summary, &env.token).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_bad_tokens_from_one_peer_are_rate_limited() {
    let env = Env::start().await;
    let summary = format!("/v1/stores/{STORE}/summary");
    for i in 0..20 {
        let r = env.get(&summary, &format!("{i:064x}")).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let r = env.get(&summary, &"f".repeat(64)).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Even a good token waits: a guesser must not learn which guess was right.
    assert_eq!(
        env.get(&summary, &env.token).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Health needs no token and stays open.
    env.assert_alive().await;
}

async fn post_pair(env: &Env, body: serde_json::Value) -> reqwest::Response {
    env.client
        .post(env.url("/v1/pair"))
        .json(&body)
        .send()
        .await
        .expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pairing_code_gives_the_registers_token_once() {
    let env = Env::start().await;
    let store = env.server.store();
    let (code, _) = admin::pair_register(&*store, STORE, "R1", std::time::Duration::from_secs(60))
        .await
        .expect("code");
    let r = post_pair(&env, json!({ "code": code.display() })).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        (body["store_id"].as_str(), body["register_id"].as_str()),
        (Some(STORE), Some("R1"))
    );
    let token = body["token"].as_str().expect("token").to_string();
    assert_eq!(
        env.get(&format!("/v1/stores/{STORE}/summary"), &token)
            .await
            .status(),
        StatusCode::OK,
        "the paired token works"
    );
    assert_error(
        env.get(&format!("/v1/stores/{STORE}/summary"), &env.token)
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    // The same code again: refused, and the token it gave keeps working.
    assert_error(
        post_pair(&env, json!({ "code": code.display() })).await,
        StatusCode::UNAUTHORIZED,
        "pairing_refused",
    )
    .await;
    assert_eq!(
        env.get(&format!("/v1/stores/{STORE}/summary"), &token)
            .await
            .status(),
        StatusCode::OK
    );
    for bad in [json!({}), json!({ "code": 7 }), json!("ABCD")] {
        assert_eq!(post_pair(&env, bad).await.status(), StatusCode::BAD_REQUEST);
    }
    let long = "A".repeat(4096);
    assert!(
        post_pair(&env, json!({ "code": long }))
            .await
            .status()
            .is_client_error()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_pairing_codes_is_rate_limited_like_bad_tokens() {
    let env = Env::start().await;
    let (code, _) = admin::pair_register(
        &*env.server.store(),
        STORE,
        "R2",
        std::time::Duration::from_secs(60),
    )
    .await
    .expect("code");
    for i in 0..20 {
        let r = post_pair(&env, json!({ "code": format!("{i:012}") })).await;
        assert_error(r, StatusCode::UNAUTHORIZED, "pairing_refused").await;
    }
    // The right code now waits too: a guesser must not learn which guess was right.
    let r = post_pair(&env, json!({ "code": code.display() })).await;
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // The limit is the one bad tokens count against.
    assert_eq!(
        env.get(&format!("/v1/stores/{STORE}/summary"), &env.token)
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_batch_after_lost_response_creates_no_duplicate() {
    let env = Env::start().await;
    let batch: Vec<_> = (1..=5).map(|i| env.kettle_sale("R1", i, "0.5")).collect();
    let first = env.upload(&env.token, &batch).await;
    assert_eq!(statuses(&first), vec![SaleStatus::Accepted; 5]);
    let summary = env.summary().await;
    let again = env.upload(&env.token, &batch).await;
    assert_eq!(statuses(&again), vec![SaleStatus::Duplicate; 5]);
    let ids: Vec<_> = again.results.iter().map(|r| r.sale_id).collect();
    assert_eq!(
        ids,
        batch.iter().map(|s| s.sale_id).collect::<Vec<_>>(),
        "request order"
    );
    assert_eq!(env.summary().await, summary, "nothing new");
    assert_eq!(summary["sale_count"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflicting_sale_leaves_the_stored_one_unchanged() {
    let env = Env::start().await;
    let original = env.kettle_sale("R1", 1, "1");
    env.upload(&env.token, std::slice::from_ref(&original))
        .await;
    let mut forged = env.kettle_sale("R1", 1, "2");
    forged.sale_id = original.sale_id;
    let r = env.upload(&env.token, std::slice::from_ref(&forged)).await;
    assert_eq!(statuses(&r), [SaleStatus::Conflict]);
    assert!(r.results[0].reason.is_some());
    let stored = env
        .server
        .store()
        .stored_sale(STORE, &original.sale_id.to_string())
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(stored.record, original);
    assert_eq!(env.summary().await["total"], original.total.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_batch_gives_each_sale_its_own_result() {
    let env = Env::start().await;
    let stored = env.kettle_sale("R1", 1, "1");
    let dup_of = env.kettle_sale("R1", 2, "1");
    env.upload(&env.token, &[stored.clone(), dup_of.clone()])
        .await;
    let fresh = env.kettle_sale("R1", 3, "1");
    let mut conflicting = env.kettle_sale("R1", 4, "1");
    conflicting.sale_id = stored.sale_id;
    let mut invalid = env.kettle_sale("R1", 5, "1");
    invalid.total += d("1");
    let r = env
        .upload(
            &env.token,
            &[fresh.clone(), dup_of, conflicting, invalid.clone()],
        )
        .await;
    assert_eq!(
        statuses(&r),
        [
            SaleStatus::Accepted,
            SaleStatus::Duplicate,
            SaleStatus::Conflict,
            SaleStatus::Rejected
        ]
    );
    assert!(r.results[0].reason.is_none() && r.results[1].reason.is_none());
    assert!(
        r.results[3]
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("total")
    );
    // The wire format omits `reason` when there is none.
    let raw = serde_json::to_value(&r).expect("json");
    assert!(raw["results"][0].get("reason").is_none());
    assert_eq!(env.sale_count().await, 3);
    let store = env.server.store();
    assert!(
        store
            .stored_sale(STORE, &invalid.sale_id.to_string())
            .await
            .expect("read")
            .is_none()
    );
    assert!(
        store
            .stored_sale(STORE, &fresh.sale_id.to_string())
            .await
            .expect("read")
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_is_refused_with_413() {
    let env = Env::start().await;
    let sale = serde_json::to_string(&env.kettle_sale("R1", 1, "1")).expect("json");
    let mut body = String::from("{\"sales\":[");
    while body.len() <= 8 * 1024 * 1024 {
        body.push_str(&sale);
        body.push(',');
    }
    body.push_str(&sale);
    body.push_str("]}");
    let r = env
        .post_raw(&format!("/v1/stores/{STORE}/sales/batch"), &env.token, body)
        .await;
    assert_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert_eq!(env.sale_count().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_500_sales_in_a_batch_is_refused_with_413() {
    let env = Env::start().await;
    let batch: Vec<_> = (1..=501).map(|i| env.kettle_sale("R1", i, "1")).collect();
    let body = json!({ "sales": batch }).to_string();
    let r = env
        .post_raw(&format!("/v1/stores/{STORE}/sales/batch"), &env.token, body)
        .await;
    assert_error(r, StatusCode::PAYLOAD_TOO_LARGE, "batch_too_large").await;
    assert_eq!(env.sale_count().await, 0);
    let ok = env.upload(&env.token, &batch[..500]).await;
    assert_eq!(ok.results.len(), 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_and_deep_nesting_are_400_and_an_unreadable_sale_is_rejected_alone() {
    let env = Env::start().await;
    let good = serde_json::to_value(env.kettle_sale("R1", 1, "1")).expect("json");
    let mut unknown_field = good.clone();
    unknown_field["surprise"] = json!(1);
    let mut wrong_type = good.clone();
    wrong_type["lines"][0]["quantity"] = json!("lots");
    let mut bad_id = good.clone();
    bad_id["sale_id"] = json!("not-a-uuid");
    let deep_array = format!(
        "{{\"sales\":[{}{}]}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let deep_object = format!(
        "{{\"sales\":{}1{}}}",
        "{\"a\":".repeat(50_000),
        "}".repeat(50_000)
    );
    let bodies = vec![
        "".to_string(),
        "{".to_string(),
        "not json".to_string(),
        "[]".to_string(),
        "{\"sales\": \"nope\"}".to_string(),
        "{\"sales\": [1, 2]}".to_string(),
        "{\"sales\": [], \"extra\": true}".to_string(),
        // A sale without a readable id: nothing to answer for, so the request fails.
        json!({"sales": [good.clone(), bad_id]}).to_string(),
        deep_array,
        deep_object,
        String::from_utf8_lossy(b"{\"sales\": [\xff]}").into_owned(),
    ];
    let path = format!("/v1/stores/{STORE}/sales/batch");
    for body in bodies {
        let shown: String = body.chars().take(40).collect();
        let r = env.post_raw(&path, &env.token, body).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{shown}");
        assert_error(r, StatusCode::BAD_REQUEST, "bad_request").await;
        env.assert_alive().await;
    }
    assert_eq!(
        env.sale_count().await,
        0,
        "the valid sale in a malformed batch was not stored"
    );
    // Invalid UTF-8 bytes, sent raw.
    let r = env
        .post_raw(&path, &env.token, b"{\"sales\": [\"\xff\xfe\"]}".to_vec())
        .await;
    assert_error(r, StatusCode::BAD_REQUEST, "bad_request").await;
    let r = env
        .upload(
            &env.token,
            &[serde_json::from_value(good.clone()).expect("sale")],
        )
        .await;
    assert_eq!(
        statuses(&r),
        [SaleStatus::Accepted],
        "the server keeps serving"
    );

    // A sale that does not decode (an unknown field, a wrong type) is rejected alone, with
    // the reason; the rest of its batch is decided as usual.
    let other = env.kettle_sale("R1", 2, "1");
    let body = json!({"sales": [unknown_field, other, wrong_type, good]}).to_string();
    let r = env.post_raw(&path, &env.token, body).await;
    assert_eq!(r.status(), StatusCode::OK);
    let answer: serde_json::Value = r.json().await.expect("JSON answer");
    let results = answer["results"].as_array().expect("results");
    let verdicts: Vec<&str> = results
        .iter()
        .map(|r| r["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(verdicts, ["rejected", "accepted", "rejected", "duplicate"]);
    for (i, needle) in [(0, "surprise"), (2, "")] {
        let reason = results[i]["reason"].as_str().unwrap_or_default();
        assert!(
            reason.starts_with("unreadable sale record") && reason.contains(needle),
            "{reason}"
        );
    }
    assert_eq!(env.sale_count().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_looking_text_is_stored_verbatim() {
    let env = Env::start().await;
    let mut s = env.kettle_sale("R1", 1, "1");
    s.staff_id = "x'); DROP TABLE sales;--".into();
    s.receipt_no = "R1-1\" OR 1=1 --".into();
    s.lines[0].name = "Kettle'; UPDATE stock_movements SET delta_milli = 0; --".into();
    let r = env.upload(&env.token, std::slice::from_ref(&s)).await;
    assert_eq!(statuses(&r), [SaleStatus::Accepted]);
    let stored = env
        .server
        .store()
        .stored_sale(STORE, &s.sale_id.to_string())
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(stored.record, s);
    let again = env.upload(&env.token, std::slice::from_ref(&s)).await;
    assert_eq!(statuses(&again), [SaleStatus::Duplicate]);
    assert_eq!(env.sale_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tax_difference_is_recorded_when_the_store_settings_differ() {
    // The store charges 17.5% where the device still used 20%.
    let mut server_side = tillkit_server::testkit::uk_catalog();
    server_side
        .tax
        .rates
        .iter_mut()
        .filter(|r| r.id == "vat20")
        .for_each(|r| r.percent = d("17.5"));
    let env = Env::start_with(server_side).await;
    let s = env.kettle_sale("R1", 1, "1");
    let r = env.upload(&env.token, std::slice::from_ref(&s)).await;
    assert_eq!(
        statuses(&r),
        [SaleStatus::Accepted],
        "the receipt stands as printed"
    );
    let stored = env
        .server
        .store()
        .stored_sale(STORE, &s.sale_id.to_string())
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(stored.tax_difference, Some(d("0.62")));
    assert_eq!(
        stored.server_totals.expect("recomputed").tax_total,
        d("5.21")
    );
    assert_eq!(stored.record.tax_total, d("5.83"));
    let summary = env.summary().await;
    assert_eq!(summary["sales_with_tax_difference"], 1);
    assert_eq!(summary["tax_difference_total"], "0.62");
    assert_eq!(summary["tax_total"], "5.83");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_audit_shows_an_oversell_by_two_registers() {
    let env = Env::start().await;
    let r2 = env.register("R2").await;
    // Both registers were offline and each sold 2 of the last 3 kettles.
    let a = env.kettle_sale("R1", 1, "2");
    let mut b = env.kettle_sale("R2", 1, "2");
    b.created_at = a.created_at - 7_200_000;
    assert_eq!(
        statuses(&env.upload(&env.token, std::slice::from_ref(&a)).await),
        [SaleStatus::Accepted]
    );
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(
        statuses(&env.upload(&r2, &[b.clone()]).await),
        [SaleStatus::Accepted]
    );

    let r = env
        .get(&format!("/v1/stores/{STORE}/stock-audit"), &r2)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let audit: StockAudit = r.json().await.expect("audit");
    let kettle = audit
        .products
        .iter()
        .find(|p| p.product_id == "p-kettle")
        .expect("kettle");
    assert_eq!(
        (kettle.starting_stock, kettle.current_stock),
        (d("3"), d("-1"))
    );
    let per_register: Vec<_> = kettle
        .registers
        .iter()
        .map(|r| (r.register_id.as_str(), r.movements, r.total))
        .collect();
    assert_eq!(per_register, [("R1", 1, d("-2")), ("R2", 1, d("-2"))]);
    assert_eq!(kettle.below_zero.len(), 1);
    let dip = &kettle.below_zero[0];
    assert_eq!(
        (dip.sale_id, dip.register_id.as_str(), dip.stock_after),
        (b.sale_id, "R2", d("-1"))
    );
    assert!(
        dip.received_at >= 1_600_000_000_000,
        "server time, not the device's"
    );
    let stored = env
        .server
        .store()
        .stored_sale(STORE, &b.sale_id.to_string())
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(stored.uploaded_by, "R2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_before_any_catalogue_is_a_409_and_stores_nothing() {
    let env = Env::start().await;
    let store = env.server.store();
    admin::create_store(&*store, "new-01", "New")
        .await
        .expect("store");
    let token = admin::create_register(&*store, "new-01", "R1")
        .await
        .expect("token")
        .expose()
        .to_string();
    let mut s = env.kettle_sale("R1", 1, "1");
    s.store_id = "new-01".into();
    let body = json!({"sales": [s]}).to_string();
    let r = env
        .post_raw("/v1/stores/new-01/sales/batch", &token, body)
        .await;
    assert_error(r, StatusCode::CONFLICT, "no_catalog").await;
    assert_error(
        env.get("/v1/stores/new-01/catalog", &token).await,
        StatusCode::CONFLICT,
        "no_catalog",
    )
    .await;
    let r = env
        .client
        .delete(env.url("/v1/health"))
        .send()
        .await
        .expect("request");
    assert_error(r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_seq_tells_a_register_its_highest_stored_seq_and_nobody_else() {
    let env = Env::start().await;
    let r2 = env.register("R2").await;
    let path = format!("/v1/stores/{STORE}/registers/R1/last-seq");
    let r = env.get(&path, &env.token).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        body,
        json!({"store_id": STORE, "register_id": "R1", "last_seq": 0})
    );

    env.upload(
        &env.token,
        &[
            env.kettle_sale("R1", 41, "1"),
            env.kettle_sale("R1", 40, "1"),
        ],
    )
    .await;
    env.upload(&r2, &[env.kettle_sale("R2", 99, "1")]).await;
    let seq = |body: Value| body["last_seq"].as_u64().expect("last_seq");
    let mine: Value = env.get(&path, &env.token).await.json().await.expect("json");
    assert_eq!(seq(mine), 41);
    let theirs: Value = env
        .get(&format!("/v1/stores/{STORE}/registers/R2/last-seq"), &r2)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(seq(theirs), 99);

    // Another register's token, another store's token, none at all.
    assert_error(
        env.get(&path, &r2).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let store = env.server.store();
    admin::create_store(&*store, "fr-01", "Paris")
        .await
        .expect("store");
    let paris = admin::create_register(&*store, "fr-01", "R1")
        .await
        .expect("token")
        .expose()
        .to_string();
    assert_error(
        env.get(&path, &paris).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_error(
        env.get("/v1/stores/fr-01/registers/R1/last-seq", &env.token)
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let r = env
        .client
        .get(env.url(&path))
        .send()
        .await
        .expect("request");
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

/// Sends a bad token as if through a proxy that saw the client at `forwarded_for`.
async fn guess(env: &Env, path: &str, token: &str, forwarded_for: &str) -> StatusCode {
    env.client
        .get(env.url(path))
        .bearer_auth(token)
        .header("x-forwarded-for", forwarded_for)
        .send()
        .await
        .expect("request")
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_guesser_behind_a_trusted_proxy_cannot_lock_out_the_other_registers() {
    // Every request comes from 127.0.0.1, as every device behind one TLS proxy would.
    let env = Env::start_with_config(ServerConfig {
        trusted_proxies: vec!["127.0.0.0/8".parse().expect("cidr")],
        ..ServerConfig::default()
    })
    .await;
    let summary = format!("/v1/stores/{STORE}/summary");
    for i in 0..20 {
        let status = guess(&env, &summary, &format!("{i:064x}"), "203.0.113.7").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    // The guesser is blocked, even when it prepends a made-up address of its own...
    assert_eq!(
        guess(&env, &summary, &env.token, "203.0.113.7").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        guess(&env, &summary, &env.token, "198.51.100.99, 203.0.113.7").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // ...while the other registers behind the same proxy carry on.
    let r2 = env.register("R2").await;
    assert_eq!(
        guess(&env, &summary, &r2, "198.51.100.2").await,
        StatusCode::OK
    );
    assert_eq!(
        guess(&env, &summary, &env.token, "198.51.100.3, 127.0.0.1").await,
        StatusCode::OK,
        "a chain of trusted proxies is walked to the client"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_forwarded_for_from_an_untrusted_peer_is_ignored() {
    // Only 10.0.0.0/8 is trusted; the test connects from 127.0.0.1.
    let env = Env::start_with_config(ServerConfig {
        trusted_proxies: vec!["10.0.0.0/8".parse().expect("cidr")],
        ..ServerConfig::default()
    })
    .await;
    let summary = format!("/v1/stores/{STORE}/summary");
    // A new made-up client address on every guess does not reset the count.
    for i in 0..20 {
        let status = guess(
            &env,
            &summary,
            &format!("{i:064x}"),
            &format!("203.0.113.{i}"),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    assert_eq!(
        guess(&env, &summary, &env.token, "198.51.100.2").await,
        StatusCode::TOO_MANY_REQUESTS,
        "the failures count against the real peer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_register_cannot_upload_sales_as_another_register() {
    let env = Env::start().await;
    let r2 = env.register("R2").await;
    let as_r1 = env.kettle_sale("R1", 1, "1");
    let own = env.kettle_sale("R2", 1, "1");
    let r = env.upload(&r2, &[as_r1.clone(), own]).await;
    assert_eq!(statuses(&r), [SaleStatus::Rejected, SaleStatus::Accepted]);
    let why = r.results[0].reason.as_deref().unwrap_or_default();
    assert!(why.contains("register \"R1\""), "{why}");
    let stored = env
        .server
        .store()
        .stored_sale(STORE, &as_r1.sale_id.to_string())
        .await
        .expect("read");
    assert!(stored.is_none(), "the injected sale is stored nowhere");
    // R1's own token still uploads it.
    let r = env.upload(&env.token, &[as_r1]).await;
    assert_eq!(statuses(&r), [SaleStatus::Accepted]);
}

/// Every field of a register's report, exactly as docs/sync-protocol.md shows the answer.
const REGISTER_REPORT_KEYS: [&str; 12] = [
    "breaks",
    "forks",
    "gaps",
    "head",
    "intact",
    "records",
    "register_id",
    "reused_numbers",
    "segments",
    "skips",
    "store_id",
    "unchained",
];

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    k.sort_unstable();
    k
}

/// The record reference an audit names a stored sale by.
fn record_ref(s: &tillkit_core::sale::SaleRecord) -> Value {
    json!({
        "seq": s.seq,
        "kind": "sale",
        "record_id": s.sale_id.to_string(),
        "receipt_no": s.receipt_no,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal_audit_names_each_gap_fork_and_break_to_the_stores_registers_only() {
    use tillkit_core::journal::JournalLink;
    let env = Env::start().await;
    let r2 = env.register("R2").await;
    let path = format!("/v1/stores/{STORE}/journal-audit");
    let audit = |token: String| {
        let env = &env;
        let path = &path;
        async move {
            let r = env.get(path, &token).await;
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Value>().await.expect("JSON answer")
        }
    };

    // No token, a made-up one, another store's: refused before anything is read.
    let r = env
        .client
        .get(env.url(&path))
        .send()
        .await
        .expect("request");
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_error(
        env.get(&path, &"0".repeat(64)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let store = env.server.store();
    admin::create_store(&*store, "fr-01", "Paris")
        .await
        .expect("store");
    let paris = admin::create_register(&*store, "fr-01", "R1")
        .await
        .expect("token")
        .expose()
        .to_string();
    assert_error(
        env.get(&path, &paris).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_error(
        env.get("/v1/stores/fr-01/journal-audit", &env.token).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // R1's first four records, chained, and R2's two: intact, read with any register's token.
    let bread = |register: &str, seq: u64| {
        sale(
            &uk_tax(),
            STORE,
            register,
            seq,
            &[(product(&env.catalog, "p-bread"), d("1"))],
        )
    };
    let r1 = tillkit_server::testkit::chained((1..=6).map(|i| bread("R1", i)).collect());
    let theirs = tillkit_server::testkit::chained((1..=2).map(|i| bread("R2", i)).collect());
    assert_eq!(
        statuses(&env.upload(&env.token, &r1[..4]).await),
        [SaleStatus::Accepted; 4]
    );
    assert_eq!(
        statuses(&env.upload(&r2, &theirs).await),
        [SaleStatus::Accepted; 2]
    );
    let intact = audit(r2.clone()).await;
    assert_eq!(
        keys(&intact),
        ["intact", "omitted", "registers", "store_id", "unreadable"]
    );
    assert_eq!(
        (
            &intact["store_id"],
            &intact["intact"],
            &intact["unreadable"],
            &intact["omitted"]
        ),
        (&json!(STORE), &json!(true), &json!([]), &json!(0)),
        "{intact:#}"
    );
    let registers = intact["registers"].as_array().expect("registers");
    let ids: Vec<_> = registers.iter().map(|r| &r["register_id"]).collect();
    assert_eq!(ids, [&json!("R1"), &json!("R2")], "by register id");
    let one = &registers[0];
    assert_eq!(keys(one), REGISTER_REPORT_KEYS);
    for list in [
        "unchained",
        "gaps",
        "skips",
        "reused_numbers",
        "forks",
        "breaks",
    ] {
        assert_eq!(one[list], json!([]), "{list}: {one:#}");
    }
    assert_eq!((&one["records"], &one["intact"]), (&json!(4), &json!(true)));
    assert_eq!(
        one["head"],
        json!({"seq": 4, "hash": tillkit_core::journal::record_hash(&r1[3]).expect("hash")})
    );
    let segment = &one["segments"][0];
    assert_eq!(
        keys(segment),
        [
            "after",
            "after_verified",
            "id",
            "note",
            "reason",
            "restart",
            "start"
        ]
    );
    let opened = r1[0].journal.as_ref().and_then(|j| j.segment.as_ref());
    assert_eq!(
        segment["id"],
        json!(opened.expect("the first record opens a segment").id)
    );
    assert_eq!(
        (
            &segment["reason"],
            &segment["restart"],
            &segment["start"],
            &segment["after"],
            &segment["after_verified"],
            &segment["note"]
        ),
        (
            &json!("new_register"),
            &json!(false),
            &record_ref(&r1[0]),
            &Value::Null,
            &Value::Null,
            &Value::Null
        ),
        "{segment:#}"
    );

    // Number 6 without 5: a gap. A record slipped in beside 4, claiming 3 as its
    // predecessor: a fork. A record linking to a 6 that hashes otherwise: a break.
    let mut forged = bread("R1", 7);
    forged.journal = r1[3].journal.clone();
    let mut broken = bread("R1", 8);
    broken.journal = Some(JournalLink {
        prev_seq: 6,
        prev: "0".repeat(64),
        segment: None,
        skipped: None,
    });
    let late = [r1[5].clone(), forged.clone(), broken.clone()];
    assert_eq!(
        statuses(&env.upload(&env.token, &late).await),
        [SaleStatus::Accepted; 3],
        "every record is stored: the audit is where they show"
    );
    let found = audit(env.token.clone()).await;
    assert_eq!(
        (&found["intact"], &found["omitted"]),
        (&json!(false), &json!(0))
    );
    let one = &found["registers"][0];
    assert_eq!(keys(one), REGISTER_REPORT_KEYS);
    assert_eq!(
        (&one["records"], &one["intact"]),
        (&json!(7), &json!(false))
    );
    assert_eq!(one["gaps"], json!([{"first": 5, "last": 5}]), "{one:#}");
    assert_eq!(
        one["forks"],
        json!([{
            "prev_seq": 3,
            "prev": r1[3].journal.as_ref().expect("linked").prev,
            "records": [record_ref(&r1[3]), record_ref(&forged)],
        }]),
        "{one:#}"
    );
    let breaks = one["breaks"].as_array().expect("breaks");
    assert_eq!(breaks.len(), 1, "{one:#}");
    let b = &breaks[0];
    assert_eq!(keys(b), ["detail", "kind", "predecessor", "record"]);
    assert_eq!(
        (&b["kind"], &b["record"], &b["predecessor"]),
        (
            &json!("link_mismatch"),
            &record_ref(&broken),
            &record_ref(&r1[5])
        )
    );
    let detail = b["detail"].as_str().expect("detail");
    assert!(
        detail.contains("R1-000008") && detail.contains("record 6"),
        "{detail}"
    );
    assert_eq!(one["head"]["seq"], 8, "{one:#}");
    // R2's journal is untouched by R1's: still intact on its own.
    assert_eq!(found["registers"][1]["intact"], true);
}
