//! Shared fixtures for the HTTP tests: a real server on 127.0.0.1 over a SQLite file in a
//! temp dir, with a store, its catalogue and a register token; plus a small HTTP client.
#![allow(dead_code)]

use reqwest::{Client, Response, StatusCode};
use serde_json::Value;
use tillkit_core::sale::SaleRecord;
use tillkit_server::protocol::{BatchResponse, CatalogFile, ErrorBody, SaleStatus};
use tillkit_server::testkit::uk_catalog;
use tillkit_server::{ServerConfig, ServerHandle, admin, spawn_local_with_config};

pub use tillkit_server::testkit::{d, product, sale, uk_tax};

pub const STORE: &str = "uk-01";

/// A running server with store `uk-01` (sample catalogue) and register `R1`'s token.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub server: ServerHandle,
    pub client: Client,
    pub token: String,
    pub catalog: CatalogFile,
}

pub fn client() -> Client {
    // reqwest is built without a default TLS provider; loopback tests use plain HTTP anyway.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder().build().expect("http client")
}

impl Env {
    pub async fn start() -> Env {
        Env::start_with(uk_catalog()).await
    }

    /// A server whose store has `catalog` loaded.
    pub async fn start_with(catalog: CatalogFile) -> Env {
        Env::start_configured(catalog, ServerConfig::default()).await
    }

    /// A server with a non-default configuration over the sample catalogue.
    pub async fn start_with_config(config: ServerConfig) -> Env {
        Env::start_configured(uk_catalog(), config).await
    }

    async fn start_configured(catalog: CatalogFile, config: ServerConfig) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = spawn_local_with_config(&dir.path().join("server.db"), config)
            .await
            .expect("server starts");
        let store = server.store();
        admin::create_store(&*store, STORE, "Camden")
            .await
            .expect("store");
        admin::load_catalog(&*store, STORE, &catalog)
            .await
            .expect("catalogue");
        let token = admin::create_register(&*store, STORE, "R1")
            .await
            .expect("register")
            .expose()
            .to_string();
        Env {
            dir,
            server,
            client: client(),
            token,
            catalog: uk_catalog(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    /// A new token for another register of the store.
    pub async fn register(&self, register_id: &str) -> String {
        admin::create_register(&*self.server.store(), STORE, register_id)
            .await
            .expect("register")
            .expose()
            .to_string()
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_raw(
        &self,
        path: &str,
        token: &str,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request")
    }

    /// Uploads `sales` with `token` and returns the per-sale statuses (asserting 200).
    pub async fn upload(&self, token: &str, sales: &[SaleRecord]) -> BatchResponse {
        let body = serde_json::json!({ "sales": sales }).to_string();
        let r = self
            .post_raw(&format!("/v1/stores/{STORE}/sales/batch"), token, body)
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.expect("batch response")
    }

    pub async fn summary(&self) -> Value {
        let r = self
            .get(&format!("/v1/stores/{STORE}/summary"), &self.token)
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.expect("summary")
    }

    pub async fn sale_count(&self) -> u64 {
        self.summary().await["sale_count"]
            .as_u64()
            .expect("sale_count")
    }

    /// Checks the server still answers after something nasty.
    pub async fn assert_alive(&self) {
        let r = self
            .client
            .get(self.url("/v1/health"))
            .send()
            .await
            .expect("health");
        assert_eq!(r.status(), StatusCode::OK);
    }

    pub fn kettle_sale(&self, register: &str, seq: u64, qty: &str) -> SaleRecord {
        sale(
            &uk_tax(),
            STORE,
            register,
            seq,
            &[(product(&self.catalog, "p-kettle"), d(qty))],
        )
    }
}

/// Asserts an error answer: status and `{"error": code, "message": ...}`.
pub async fn assert_error(r: Response, status: StatusCode, code: &str) {
    assert_eq!(r.status(), status);
    let body: ErrorBody = r.json().await.expect("error body is JSON");
    assert_eq!(body.error, code, "{}", body.message);
    assert!(!body.message.is_empty());
}

pub fn statuses(b: &BatchResponse) -> Vec<SaleStatus> {
    b.results.iter().map(|r| r.status).collect()
}
