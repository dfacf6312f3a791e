//! The sync protocol version over real HTTP: a device names its version in a header; one
//! the server cannot serve is answered with a typed error that says which it can, and
//! nothing of the request is stored.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;
use tillkit_core::sync::protocol::{PROTOCOL_HEADER, PROTOCOL_VERSION};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protocol_version_the_server_cannot_serve_gets_a_typed_error_and_stores_nothing() {
    let env = Env::start().await;
    let c = env.catalog.clone();
    let sale = sale(
        &uk_tax(),
        STORE,
        "R1",
        1,
        &[(product(&c, "p-kettle"), d("1"))],
    );
    let body = serde_json::json!({ "sales": [sale] }).to_string();
    let post = |version: Option<&str>| {
        let mut r = env
            .client
            .post(env.url(&format!("/v1/stores/{STORE}/sales/batch")))
            .bearer_auth(&env.token)
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(v) = version {
            r = r.header(PROTOCOL_HEADER, v);
        }
        r.send()
    };
    let newer = (PROTOCOL_VERSION + 1).to_string();
    for refused in [newer.as_str(), "0", "two", "", "4294967296"] {
        let r = post(Some(refused)).await.expect("request");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "version {refused:?}");
        let answer: Value = r.json().await.expect("typed body");
        assert_eq!(answer["error"], "unsupported_protocol");
        assert_eq!(answer["supported_protocol"]["min"], 1);
        assert_eq!(answer["supported_protocol"]["max"], PROTOCOL_VERSION);
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(env.sale_count().await, 0);
    // The current version and a device from before the header are served.
    let ok = post(Some(&PROTOCOL_VERSION.to_string()))
        .await
        .expect("request");
    assert_eq!(ok.status(), StatusCode::OK);
    let again = post(None).await.expect("request");
    assert_eq!(again.status(), StatusCode::OK);
    let answer: Value = again.json().await.expect("json");
    assert_eq!(answer["results"][0]["status"], "duplicate");
    env.server.shutdown().await.expect("clean shutdown");
}
