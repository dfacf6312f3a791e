//! The HTTP side of sync: health, batch upload and catalogue download over rustls.
//! It classifies every failure (retry, offline, auth, refused) but keeps no state.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use zeroize::Zeroizing;

use super::SyncConfig;
use super::protocol::{BatchResponse, ErrorBody};
use crate::catalog::CatalogPayload;
use crate::error::Error;

/// Why a request failed, sorted by what the engine should do about it.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncError {
    /// No answer (connect refused, reset, timeout): the server is unreachable.
    Network(String),
    /// The request went out but no answer came within the request timeout: the server is
    /// slow or unreachable, or the link too slow for the request.
    Timeout(String),
    /// The server answered 5xx or 429: try again later, not before `retry_after`.
    Busy {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// The server answered but the body made no sense (truncated, not JSON, wrong type).
    BadResponse(String),
    /// 401/403: the token is unknown, revoked or for another store. Needs a person.
    Auth { status: u16, message: String },
    /// Another 4xx: the request itself was refused (e.g. too large, malformed).
    Refused { status: u16, message: String },
}

impl std::fmt::Display for SyncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncError::Network(m) => write!(f, "server unreachable: {m}"),
            SyncError::Timeout(m) => write!(f, "no answer in time: {m}"),
            SyncError::Busy { status, .. } => write!(f, "server busy (HTTP {status})"),
            SyncError::BadResponse(m) => write!(f, "unreadable server response: {m}"),
            SyncError::Auth { status, message } => {
                write!(f, "not authorised (HTTP {status}): {message}")
            }
            SyncError::Refused { status, message } => {
                write!(f, "refused (HTTP {status}): {message}")
            }
        }
    }
}

/// A configured HTTP client for one server and register token.
pub struct Client {
    http: reqwest::Client,
    base: Url,
    token: Zeroizing<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

impl Client {
    /// Checks the URL policy (HTTPS, or HTTP to loopback when allowed) and builds the client.
    pub fn new(cfg: &SyncConfig) -> Result<Client, Error> {
        let base = Url::parse(&cfg.server_url)
            .map_err(|e| Error::invalid(format!("server URL {:?}: {e}", cfg.server_url)))?;
        match base.scheme() {
            "https" => {}
            "http" if cfg.allow_http_loopback && is_loopback(&base) => {}
            "http" => {
                return Err(Error::invalid(
                    "plain HTTP is only allowed to a loopback address with allow_http_loopback",
                ));
            }
            other => return Err(Error::invalid(format!("unsupported URL scheme {other:?}"))),
        }
        // One rustls configuration on every platform (see tls.rs): no platform verifier to
        // initialise, no process-wide crypto provider to install.
        let tls = super::tls::client_config(&cfg.root_certificates_pem, &cfg.pinned_spki_sha256)?;
        let builder = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.request_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .https_only(base.scheme() == "https")
            .no_proxy()
            .user_agent(concat!("tillkit/", env!("CARGO_PKG_VERSION")))
            .tls_backend_preconfigured(tls);
        let http = builder
            .build()
            .map_err(|e| Error::Sync(format!("cannot build HTTP client: {e}")))?;
        Ok(Client {
            http,
            base,
            token: Zeroizing::new(cfg.token.clone()),
        })
    }

    /// The base URL plus `segments`, each escaped as one path segment (a store id may hold
    /// spaces, `#`, `?` or `/`; form encoding would turn a space into a literal `+`).
    fn url(&self, segments: &[&str]) -> Result<Url, SyncError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| SyncError::Refused {
                status: 0,
                message: "the server URL cannot take a path".into(),
            })?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    fn bearer(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("Bearer {}", self.token.as_str()))
    }

    /// `GET /v1/health`: is the server there and answering?
    pub async fn health(&self) -> Result<(), SyncError> {
        let resp = self
            .http
            .get(self.url(&["v1", "health"])?)
            .send()
            .await
            .map_err(network)?;
        json_body::<serde_json::Value>(resp).await.map(drop)
    }

    /// `POST /v1/stores/{store}/sales/batch` with a pre-built body.
    pub async fn upload(&self, store_id: &str, body: String) -> Result<BatchResponse, SyncError> {
        let url = self.url(&["v1", "stores", store_id, "sales", "batch"])?;
        let resp = self
            .http
            .post(url)
            .header(AUTHORIZATION, self.bearer().as_str())
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(network)?;
        // The same decoder the fuzzer exercises.
        let bytes = checked_body(resp).await?;
        super::protocol::decode_batch_response(&bytes).map_err(SyncError::BadResponse)
    }

    /// `GET /v1/stores/{store}/registers/{register}/last-seq`: the highest receipt
    /// sequence the server holds for this register (asked after a recovery).
    pub async fn last_seq(&self, store_id: &str, register_id: &str) -> Result<u64, SyncError> {
        let url = self.url(&[
            "v1",
            "stores",
            store_id,
            "registers",
            register_id,
            "last-seq",
        ])?;
        let resp = self
            .http
            .get(url)
            .header(AUTHORIZATION, self.bearer().as_str())
            .send()
            .await
            .map_err(network)?;
        let body: super::protocol::LastSeq = json_body(resp).await?;
        if body.store_id != store_id || body.register_id != register_id {
            return Err(SyncError::BadResponse(
                "last-seq answer for another register".into(),
            ));
        }
        Ok(body.last_seq)
    }

    /// `GET /v1/stores/{store}/catalog?since=cursor`.
    pub async fn catalog(
        &self,
        store_id: &str,
        since: Option<&str>,
    ) -> Result<CatalogPayload, SyncError> {
        let mut url = self.url(&["v1", "stores", store_id, "catalog"])?;
        if let Some(cursor) = since {
            url.query_pairs_mut().append_pair("since", cursor);
        }
        let resp = self
            .http
            .get(url)
            .header(AUTHORIZATION, self.bearer().as_str())
            .send()
            .await
            .map_err(network)?;
        json_body(resp).await
    }
}

fn network(e: reqwest::Error) -> SyncError {
    // Never include the URL's query or headers; reqwest's message has neither token nor body.
    // A refused certificate or pin is named: "error sending request" alone hides it.
    let timeout = e.is_timeout();
    let message = super::tls::refusal(&e).unwrap_or_else(|| e.without_url().to_string());
    if timeout {
        SyncError::Timeout(message)
    } else {
        SyncError::Network(message)
    }
}

fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let v = resp.headers().get(RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Turns a response into its JSON body or the right `SyncError`.
async fn json_body<T: serde::de::DeserializeOwned>(
    resp: reqwest::Response,
) -> Result<T, SyncError> {
    let bytes = checked_body(resp).await?;
    serde_json::from_slice(&bytes).map_err(|e| SyncError::BadResponse(e.to_string()))
}

/// The body of a successful JSON response, or the right `SyncError` for any other.
async fn checked_body(resp: reqwest::Response) -> Result<Vec<u8>, SyncError> {
    let status = resp.status();
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return Err(SyncError::Busy {
            status: status.as_u16(),
            retry_after: retry_after(&resp),
        });
    }
    let is_json = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let bytes = resp.bytes().await.map_err(network)?;
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Err(SyncError::Auth {
            status: status.as_u16(),
            message: error_message(&bytes),
        });
    }
    if !status.is_success() {
        return Err(SyncError::Refused {
            status: status.as_u16(),
            message: error_message(&bytes),
        });
    }
    if !is_json {
        return Err(SyncError::BadResponse("not application/json".into()));
    }
    Ok(bytes.to_vec())
}

fn error_message(bytes: &[u8]) -> String {
    match serde_json::from_slice::<ErrorBody>(bytes) {
        Ok(b) if b.message.is_empty() => b.error,
        Ok(b) => format!("{}: {}", b.error, b.message),
        Err(_) => String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
    }
}
