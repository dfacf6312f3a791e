//! The HTTP side of sync: health, batch upload and catalogue download over rustls.
//! It classifies every failure (retry, offline, auth, refused, incompatible); the only state
//! it keeps is its connection pool, which it can drop.

use std::net::IpAddr;
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use super::SyncConfig;
use super::backoff::parse_retry_after;
use super::config::{MAX_TIMEOUT, MIN_TIMEOUT};
use super::error::{Answer, Request, SyncError};
use super::protocol::{
    BatchResponse, ErrorBody, FORBIDDEN, HEALTH_OK, Health, PAIRING_REFUSED, PROTOCOL_HEADER,
    PROTOCOL_VERSION, PairRequest, PairResponse, UNAUTHORIZED, UNSUPPORTED_PROTOCOL,
};
use crate::error::Error;
use crate::limits;

/// Largest catalogue read (a catalogue of 100,000 products is about 30 MB).
const MAX_CATALOG_BODY: usize = 128 * 1024 * 1024;
/// Largest batch answer read: one result per sale of the largest batch, each with the
/// longest reason the server gives (see `limits::MAX_BATCH_RESPONSE_BYTES`).
const MAX_BATCH_BODY: usize = limits::MAX_BATCH_RESPONSE_BYTES;
/// Largest answer read for the small requests (health, last-seq, pairing) and for any error:
/// enough for the protocol's answer, a glance at anything else.
const MAX_SMALL_BODY: usize = 16 * 1024;
/// Largest sale lookup answer read: the sale (at most one upload's worth), its refunds
/// (each at most as large: a refund has no more lines than its sale) and tax settings.
const MAX_LOOKUP_BODY: usize = 32 * 1024 * 1024;
/// Longest redirect target shown in the status.
const MAX_LOCATION_CHARS: usize = 200;

/// A configured HTTP client for one server. Tokens are passed per request: they belong to
/// the register's store, not to the client.
pub struct Client {
    /// Replaced, with its pool, by `drop_connections`.
    http: RwLock<reqwest::Client>,
    settings: Settings,
    base: Url,
    /// The protocol version sent (always `PROTOCOL_VERSION` outside tests).
    protocol: u32,
}

/// What an HTTP client is built from, kept to build a fresh one.
struct Settings {
    tls: rustls::ClientConfig,
    connect_timeout: Duration,
    request_timeout: Duration,
    https_only: bool,
}

impl Settings {
    fn build(&self) -> Result<reqwest::Client, Error> {
        reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .https_only(self.https_only)
            // A redirect is never followed: a captive portal or a misrouted proxy would get
            // the request (and, on the same host, the token), and a POST turned into a GET
            // answers something that is not the upload's answer. It is a refusal instead.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("tillkit/", env!("CARGO_PKG_VERSION")))
            .tls_backend_preconfigured(self.tls.clone())
            .build()
            .map_err(|e| Error::sync("cannot build the HTTP client", e))
    }
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
        if base.cannot_be_a_base() {
            return Err(Error::invalid("the server URL cannot take a path"));
        }
        // One rustls configuration on every platform (see tls.rs): no platform verifier to
        // initialise, no process-wide crypto provider to install.
        let settings = Settings {
            tls: super::tls::client_config(&cfg.root_certificates_pem, &cfg.pinned_spki_sha256)?,
            connect_timeout: cfg.connect_timeout.clamp(MIN_TIMEOUT, MAX_TIMEOUT),
            request_timeout: cfg.request_timeout.clamp(MIN_TIMEOUT, MAX_TIMEOUT),
            https_only: base.scheme() == "https",
        };
        let http = RwLock::new(settings.build()?);
        #[cfg(feature = "test-support")]
        let protocol = cfg.hooks.protocol_version.unwrap_or(PROTOCOL_VERSION);
        #[cfg(not(feature = "test-support"))]
        let protocol = PROTOCOL_VERSION;
        Ok(Client {
            http,
            settings,
            base,
            protocol,
        })
    }

    /// Forgets every pooled connection: after an outage none is trusted. A path that went
    /// silent may leave connections that look open but carry nothing ever again, and a
    /// request sent on one would wait its whole timeout. Requests in flight keep theirs.
    pub fn drop_connections(&self) {
        match self.settings.build() {
            Ok(fresh) => *self.http.write().unwrap_or_else(PoisonError::into_inner) = fresh,
            // The same settings built once already; keep the pool rather than fail.
            Err(e) => tracing::warn!(error = %e, "connections kept: no fresh HTTP client"),
        }
    }

    fn http(&self) -> reqwest::Client {
        self.http
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The base URL plus `segments`, each escaped as one path segment (a store id may hold
    /// spaces, `#`, `?` or `/`; form encoding would turn a space into a literal `+`).
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        // `new` refused a base that cannot take a path, so this always applies.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    fn get(&self, url: Url, token: Option<&str>) -> reqwest::RequestBuilder {
        self.with_headers(self.http().get(url), token)
    }

    fn with_headers(
        &self,
        request: reqwest::RequestBuilder,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let request = request.header(PROTOCOL_HEADER, self.protocol);
        match token {
            Some(token) => {
                let bearer = Zeroizing::new(format!("Bearer {token}"));
                request.header(AUTHORIZATION, bearer.as_str())
            }
            None => request,
        }
    }

    /// `GET /v1/health`: is the server there and answering? Only the server's own health
    /// answer (`{"status": "ok", "server_time": ...}`) will do: a captive portal or a proxy
    /// that answers 200 with a page or some other JSON is not the server, and reads as a
    /// `BadResponse` (an answer, but not the server's).
    pub async fn health(&self) -> Result<(), SyncError> {
        self.health_within(self.settings.request_timeout).await
    }

    /// `health`, giving up after `timeout` (an outage probe waits no longer than its spacing).
    pub(super) async fn health_within(&self, timeout: Duration) -> Result<(), SyncError> {
        let resp = self
            .get(self.url(&["v1", "health"]), None)
            .timeout(timeout)
            .send()
            .await
            .map_err(network)?;
        let (answer, bytes) =
            checked_body(resp, Request::Health, self.protocol, MAX_SMALL_BODY).await?;
        match serde_json::from_slice::<Health>(&bytes) {
            Ok(health) if health.status == HEALTH_OK => Ok(()),
            Ok(_) => Err(SyncError::BadResponse {
                answer,
                source: None,
            }),
            Err(e) => Err(SyncError::BadResponse {
                answer,
                source: Some(e),
            }),
        }
    }

    /// `POST /v1/stores/{store}/sales/batch` with a pre-built body and the store's token.
    pub async fn upload(
        &self,
        store_id: &str,
        token: &str,
        body: String,
    ) -> Result<BatchResponse, SyncError> {
        let url = self.url(&["v1", "stores", store_id, "sales", "batch"]);
        let resp = self
            .with_headers(self.http().post(url), Some(token))
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(network)?;
        batch_answer(resp, self.protocol).await
    }

    /// `GET /v1/stores/{store}/registers/{register}/last-seq` with the store's token: the
    /// highest receipt sequence the server holds for this register (asked after a recovery).
    pub async fn last_seq(
        &self,
        store_id: &str,
        register_id: &str,
        token: &str,
    ) -> Result<u64, SyncError> {
        let url = self.url(&[
            "v1",
            "stores",
            store_id,
            "registers",
            register_id,
            "last-seq",
        ]);
        let resp = self.get(url, Some(token)).send().await.map_err(network)?;
        let body: super::protocol::LastSeq =
            json_body(resp, Request::LastSeq, self.protocol, MAX_SMALL_BODY).await?;
        if body.store_id != store_id || body.register_id != register_id {
            return Err(SyncError::Inconsistent {
                request: Request::LastSeq,
                what: "it answered for another register".into(),
            });
        }
        Ok(body.last_seq)
    }

    /// `GET /v1/stores/{store}/sales/lookup?receipt_no=...` (or `?sale_id=...`) with the
    /// store's token: a sale of the store as the server holds it, with its refunds from every
    /// register and the tax settings it was decided with. A sale the store does not hold is
    /// `Refused` with the typed `unknown_sale` (HTTP 404).
    pub async fn sale_lookup(
        &self,
        store_id: &str,
        token: &str,
        sale: &crate::refund::SaleRef,
    ) -> Result<super::protocol::SaleLookup, SyncError> {
        let mut url = self.url(&["v1", "stores", store_id, "sales", "lookup"]);
        let (key, value) = match sale {
            crate::refund::SaleRef::Receipt(r) => ("receipt_no", r.trim()),
            crate::refund::SaleRef::SaleId(id) => ("sale_id", id.trim()),
        };
        url.query_pairs_mut().append_pair(key, value);
        let resp = self.get(url, Some(token)).send().await.map_err(network)?;
        let lookup: super::protocol::SaleLookup =
            json_body(resp, Request::SaleLookup, self.protocol, MAX_LOOKUP_BODY).await?;
        let asked = match sale {
            crate::refund::SaleRef::Receipt(r) => lookup.sale.receipt_no == r.trim(),
            crate::refund::SaleRef::SaleId(id) => {
                uuid::Uuid::parse_str(id.trim()).ok() == Some(lookup.sale.sale_id)
            }
        };
        if !asked || lookup.sale.store_id != store_id {
            return Err(SyncError::Inconsistent {
                request: Request::SaleLookup,
                what: "it answered with another sale".into(),
            });
        }
        Ok(lookup)
    }

    /// `POST /v1/pair`: trades a one-time pairing code for the register's token.
    pub async fn pair(&self, code: &str) -> Result<PairResponse, SyncError> {
        let body = Zeroizing::new(
            serde_json::to_string(&PairRequest {
                code: code.to_string(),
            })
            .map_err(|e| SyncError::Local(Error::invalid(format!("pairing code: {e}"))))?,
        );
        let resp = self
            .with_headers(self.http().post(self.url(&["v1", "pair"])), None)
            .header(CONTENT_TYPE, "application/json")
            .body(body.as_str().to_owned())
            .send()
            .await
            .map_err(network)?;
        json_body(resp, Request::Pair, self.protocol, MAX_SMALL_BODY).await
    }

    /// `GET /v1/stores/{store}/catalog?since=cursor` with the store's token: the answer and
    /// its JSON body, left undecoded (a big catalogue is decoded as it is imported, see
    /// `catalog::CatalogJson`).
    pub async fn catalog(
        &self,
        store_id: &str,
        token: &str,
        since: Option<&str>,
    ) -> Result<(Answer, Vec<u8>), SyncError> {
        let mut url = self.url(&["v1", "stores", store_id, "catalog"]);
        if let Some(cursor) = since {
            url.query_pairs_mut().append_pair("since", cursor);
        }
        let resp = self.get(url, Some(token)).send().await.map_err(network)?;
        checked_body(resp, Request::Catalog, self.protocol, MAX_CATALOG_BODY).await
    }
}

/// The server's answer to a batch upload sent with protocol version `protocol`, or why
/// `resp` is none (every whole-request failure; see `checked_body`).
pub(super) async fn batch_answer(
    resp: reqwest::Response,
    protocol: u32,
) -> Result<BatchResponse, SyncError> {
    let (answer, bytes) = checked_body(resp, Request::Upload, protocol, MAX_BATCH_BODY).await?;
    // The same decoder the fuzzer exercises.
    super::protocol::decode_batch_response(&bytes).map_err(|e| SyncError::BadResponse {
        answer,
        source: Some(e),
    })
}

fn network(e: reqwest::Error) -> SyncError {
    // Never include the URL's query or headers; reqwest's message has neither token nor body.
    let e = e.without_url();
    // A refused certificate or pin is named: "error sending request" alone hides it.
    if let Some(why) = super::tls::refusal(&e) {
        return SyncError::Tls { why, source: e };
    }
    if e.is_timeout() {
        SyncError::Timeout(e)
    } else {
        SyncError::Network(e)
    }
}

/// Turns a response into its JSON body or the right `SyncError`.
async fn json_body<T: DeserializeOwned>(
    resp: reqwest::Response,
    request: Request,
    protocol: u32,
    max_body: usize,
) -> Result<T, SyncError> {
    let (answer, bytes) = checked_body(resp, request, protocol, max_body).await?;
    serde_json::from_slice(&bytes).map_err(|e| SyncError::BadResponse {
        answer,
        source: Some(e),
    })
}

/// The content type's media type, lower case, without parameters.
fn media_type(resp: &reqwest::Response) -> Option<String> {
    let value = resp.headers().get(CONTENT_TYPE)?.to_str().ok()?;
    let media = value.split(';').next().unwrap_or_default().trim();
    (!media.is_empty()).then(|| media.to_ascii_lowercase())
}

/// Reads at most `max` bytes of the body; `None` when it is longer or the read failed.
async fn read_limited(
    mut resp: reqwest::Response,
    max: usize,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    // Sized once from the announced length: growing by doubling would hold two copies of a
    // big catalogue for a moment, and up to twice its size for good.
    let announced = resp.content_length().and_then(|n| usize::try_from(n).ok());
    let mut out = Vec::with_capacity(announced.unwrap_or(0).min(max));
    while let Some(chunk) = resp.chunk().await? {
        if out.len().saturating_add(chunk.len()) > max {
            return Ok(None);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Some(out))
}

/// Where a redirect points, without query or fragment, cut to a readable length.
fn redirect_target(resp: &reqwest::Response) -> Option<String> {
    let value = resp.headers().get(LOCATION)?.to_str().ok()?;
    let bare = value.split(['?', '#']).next().unwrap_or_default();
    (!bare.is_empty()).then(|| bare.chars().take(MAX_LOCATION_CHARS).collect())
}

/// The body of a successful protocol answer (at most `max_body` bytes), or the right
/// `SyncError` for any other. Only the protocol's own JSON error body counts as the server
/// speaking: anything else (an HTML page, a bare status, a redirect, a JSON error with a
/// code the protocol does not have) is a middlebox, and never a verdict on the token or a sale.
async fn checked_body(
    resp: reqwest::Response,
    request: Request,
    protocol: u32,
    max_body: usize,
) -> Result<(Answer, Vec<u8>), SyncError> {
    let status = resp.status();
    let content_type = media_type(&resp);
    let is_json = content_type.as_deref() == Some("application/json");
    let mut answer = Answer {
        request,
        status: status.as_u16(),
        content_type,
        typed: None,
    };
    if status.is_success() {
        return match read_limited(resp, max_body).await.map_err(network)? {
            Some(bytes) if is_json => Ok((answer, bytes)),
            _ => Err(SyncError::BadResponse {
                answer,
                source: None,
            }),
        };
    }
    if status.is_redirection() {
        return Err(SyncError::Redirected {
            request,
            status: status.as_u16(),
            location: redirect_target(&resp),
        });
    }
    let retry_after = resp
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| parse_retry_after(v.as_bytes(), SystemTime::now()));
    // A body too long to be an error body is a page from something else.
    let body = read_limited(resp, MAX_SMALL_BODY)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let typed = is_json
        .then(|| serde_json::from_slice::<ErrorBody>(&body).ok())
        .flatten();
    if status.is_server_error() && typed.is_none() {
        // Not the server's own error: whatever sits in front of it answered in its place.
        return Err(SyncError::Gateway { answer });
    }
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return Err(SyncError::Busy {
            request,
            status: status.as_u16(),
            retry_after,
        });
    }
    let Some(typed) = typed else {
        return Err(SyncError::Refused { answer });
    };
    if typed.error == UNSUPPORTED_PROTOCOL
        && let Some(server) = typed.supported_protocol
    {
        return Err(SyncError::Incompatible {
            ours: protocol,
            server,
        });
    }
    let message = if typed.message.is_empty() {
        typed.error.clone()
    } else {
        format!("{}: {}", typed.error, typed.message)
    };
    // Only the protocol's own codes judge the token: a gateway's or WAF's JSON 401/403
    // (`{"error":"invalid_client"}`, `{"error":"blocked"}`) refuses the request, not the token.
    let auth_code = [UNAUTHORIZED, FORBIDDEN, PAIRING_REFUSED].contains(&typed.error.as_str());
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        if !auth_code {
            // Shown as what it is: not this server's answer.
            return Err(SyncError::Refused { answer });
        }
        return Err(SyncError::Auth {
            status: status.as_u16(),
            message,
        });
    }
    answer.typed = Some(message);
    Err(SyncError::Refused { answer })
}
