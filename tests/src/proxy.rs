//! A fault-injecting HTTP/1.1 proxy for loopback tests: it forwards each request to the
//! server or, as scripted, loses, cuts, stalls, swallows or answers it itself, and logs every
//! exchange; its link can go down by resetting every connection or by going silent.
//! It parses only what it needs (request line, status line, body framing); it is no server.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// What the proxy does with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Pass it to the server and its answer back.
    Forward,
    /// Pass it to the server, wait for its whole answer (so the server has committed),
    /// then close the client's connection without replying: the classic lost response.
    DropResponse,
    /// Pass the head and half the body to the server, then reset both connections.
    ResetMidRequest,
    /// Pass nothing on and reset the client's connection (a real TCP reset), with no
    /// answer: what a proxy or WAF that drops requests it will not carry does.
    Reset,
    /// Answer it without asking the server, with this status and optional `Retry-After` (s).
    Answer {
        status: u16,
        retry_after: Option<u64>,
    },
    /// Answer it without asking the server with exactly this reply, as a proxy, WAF or
    /// captive portal in the path would.
    Reply(Reply),
    /// Hold it without answering for this long, or until the client gives up, then close.
    Stall(Duration),
    /// Swallow it, as a dead line does: never pass it on, never answer, keep the connection
    /// open and silent until the client gives up.
    BlackHole,
    /// Pass it to the server, wait for its whole answer (so the server has committed), and
    /// send the client a damaged answer instead, as a broken middlebox would.
    Mangle(Mangle),
}

/// How `Fault::Mangle` damages the server's answer. Each reply is well framed HTTP: only
/// its body or type is wrong, so the client's JSON handling is what gets tested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mangle {
    /// The server's status, `application/json`, and the first half of its body.
    TruncatedBody,
    /// The server's status and body with its first `"` turned into `'`: it looks like
    /// JSON but is not.
    MalformedJson,
    /// `200 OK` with `text/html`, like a captive portal's login page.
    HtmlPage,
    /// The server's status and JSON with a made-up field added to every object, as a
    /// newer server would send.
    ExtraFields,
    /// The server's status and JSON with every `status` value replaced by a verdict no
    /// version of the protocol has, as a newer server might answer.
    UnknownVerdict,
}

/// An answer the proxy makes up: status, content type, body and any headers, however odd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    /// Sent as `content-type` when set.
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// Extra header lines, sent as given (names and values are not checked).
    pub headers: Vec<(String, String)>,
}

impl Reply {
    /// A reply with this status, no content type and an empty body.
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            content_type: None,
            body: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// An nginx-style HTML error page with this status, as a reverse proxy answers.
    pub fn html(status: u16) -> Reply {
        let body = format!(
            "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n\
             <center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n\
             </body>\r\n</html>\r\n",
            reason = reason_phrase(status)
        );
        Reply::status(status).body("text/html", body.into_bytes())
    }

    /// Sets the content type and body.
    pub fn body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        self.content_type = Some(content_type.into());
        self.body = body.into();
        self
    }

    /// Adds a header line.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn encode(&self) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\n",
            self.status,
            reason_phrase(self.status)
        );
        if let Some(ct) = &self.content_type {
            head.push_str(&format!("content-type: {ct}\r\n"));
        }
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("content-length: {}\r\n\r\n", self.body.len()));
        let mut raw = head.into_bytes();
        raw.extend_from_slice(&self.body);
        raw
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Not Allowed",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        511 => "Network Authentication Required",
        _ => "Injected",
    }
}

/// How an exchange ended, as the proxy saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server's answer reached the client.
    Forwarded,
    /// The server answered; the client got nothing (`Fault::DropResponse`).
    ResponseDropped,
    /// The connection was reset mid-request (`Fault::ResetMidRequest`, `Fault::Reset`).
    Reset,
    /// The proxy answered itself (`Fault::Answer`).
    Answered,
    /// The client closed the connection while the proxy stalled (its timeout fired).
    ClientGaveUp,
    /// The stall ran out before the client gave up; the connection was closed.
    StallEnded,
    /// The server could not be reached or its answer was cut.
    UpstreamFailed,
    /// The server answered; the client got a damaged answer (`Fault::Mangle`).
    Mangled,
    /// The server answered but the client was gone before it could be passed on.
    ClientGone,
    /// Swallowed (`Fault::BlackHole`, or the link was a black hole): the server never saw
    /// it and the client got nothing.
    Swallowed,
}

/// What the link between the device and the server does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Requests pass (subject to the faults scripted).
    Up,
    /// Every open connection is reset, and each new one is reset as it arrives: the device
    /// sees refused and reset connections at once.
    Reset,
    /// Nothing comes back, as when a shop's line dies behind its router: open connections go
    /// silent, new ones are accepted and their requests swallowed, and the device only sees
    /// timeouts. A connection that went silent stays silent after the link comes back, as
    /// flows through a restarted router or a new public address do.
    BlackHole,
}

/// One request through the proxy and what happened to it.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// When the request head arrived at the proxy.
    pub started: Instant,
    pub method: String,
    /// Path and query, e.g. `/v1/stores/uk-01/catalog?since=3`.
    pub path: String,
    /// The request body (de-chunked).
    pub request_body: Vec<u8>,
    /// The fault applied.
    pub fault: Fault,
    /// The status the server (or the proxy itself) answered, if any.
    pub status: Option<u16>,
    /// The answer's body (de-chunked), if any. For `Fault::Mangle`, the server's body, not
    /// the damaged one the client got.
    pub response_body: Vec<u8>,
    /// When the answer was fully written to the client, if it was.
    pub replied_at: Option<Instant>,
    pub outcome: Outcome,
}

impl Exchange {
    /// A batch upload (`POST .../sales/batch`).
    pub fn is_upload(&self) -> bool {
        self.method == "POST" && self.path.ends_with("/sales/batch")
    }

    /// The request body as JSON (`Null` when empty or not JSON).
    pub fn request_json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.request_body).unwrap_or(serde_json::Value::Null)
    }

    /// The response body as JSON (`Null` when empty or not JSON).
    pub fn response_json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.response_body).unwrap_or(serde_json::Value::Null)
    }

    /// The sale ids of an upload, in request order.
    pub fn uploaded_ids(&self) -> Vec<String> {
        let body = self.request_json();
        body["sales"]
            .as_array()
            .map(|s| {
                s.iter()
                    .filter_map(|s| s["sale_id"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The `(sale_id, status, reason)` results of an upload's answer.
    pub fn results(&self) -> Vec<(String, String, Option<String>)> {
        let body = self.response_json();
        body["results"]
            .as_array()
            .map(|r| {
                r.iter()
                    .map(|r| {
                        (
                            r["sale_id"].as_str().unwrap_or_default().to_string(),
                            r["status"].as_str().unwrap_or_default().to_string(),
                            r["reason"].as_str().map(String::from),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Called after the server answered a request and before the answer is passed on.
pub type BeforeReply = Box<dyn Fn(&Exchange) + Send + Sync>;

/// Picks the fault for each request no script claimed, from its method and path.
pub type Schedule = Box<dyn FnMut(&str, &str) -> Fault + Send>;

type Matcher = Box<dyn Fn(&str, &str) -> bool + Send + Sync>;

struct Inner {
    upstream: Mutex<SocketAddr>,
    script: Mutex<Vec<(Matcher, VecDeque<Fault>)>>,
    always: Mutex<Vec<(Matcher, Fault)>>,
    schedule: Mutex<Option<Schedule>>,
    log: Mutex<Vec<Exchange>>,
    /// Uplink speed in bytes per second: a request reaches the server only after its
    /// size divided by this has passed. `None`: as fast as loopback.
    uplink: Mutex<Option<u64>>,
    before_reply: Mutex<Option<BeforeReply>>,
    link: watch::Sender<Link>,
    flapper: Mutex<Option<tokio::task::AbortHandle>>,
    /// Connections closed because the link went down (idle or with a request in flight).
    cut_connections: AtomicU64,
    /// Requests in flight when the link went down.
    cut_requests: AtomicU64,
    /// Connections accepted and closed at once while the link was down.
    refused: AtomicU64,
    /// Times a flapping link came back up (one per down-and-up cycle).
    link_cycles: AtomicU64,
    /// Connections served over plain HTTP, and over TLS (handshake completed).
    plain_connections: AtomicU64,
    tls_connections: AtomicU64,
    /// Requests with a larger body are answered `413` (HTML) without reaching the server,
    /// as a reverse proxy's body limit does.
    max_body: Mutex<Option<usize>>,
    /// Requests with a larger body are reset (`Fault::Reset`) without reaching the server or
    /// any answer, as a proxy or WAF that cuts large bodies instead of answering 413 does.
    above_body: Mutex<Option<(usize, Fault)>>,
}

/// A running proxy. It stops when dropped.
pub struct Proxy {
    addr: SocketAddr,
    /// The same proxy over HTTPS: TLS terminated here, with a certificate for 127.0.0.1
    /// from `tls::test_ca()`, so every fault (a reset, a cut answer, a link gone down)
    /// reaches the device on its TLS connection, as the network between a phone and its
    /// server does it.
    tls_addr: SocketAddr,
    inner: Arc<Inner>,
    accept: tokio::task::AbortHandle,
    accept_tls: tokio::task::AbortHandle,
    runtime: tokio::runtime::Handle,
}

/// Each running proxy's HTTPS address, by its plain one (see `https_address_of`).
fn https_addresses() -> MutexGuard<'static, std::collections::BTreeMap<SocketAddr, SocketAddr>> {
    static ADDRESSES: Mutex<std::collections::BTreeMap<SocketAddr, SocketAddr>> =
        Mutex::new(std::collections::BTreeMap::new());
    lock(&ADDRESSES)
}

/// The HTTPS address of the running proxy whose plain address is `plain`, if it is one.
pub fn https_address_of(plain: SocketAddr) -> Option<SocketAddr> {
    https_addresses().get(&plain).copied()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Proxy {
    /// Starts a proxy on 127.0.0.1 (a free port) in front of `upstream`, on `runtime`.
    pub fn start(runtime: &tokio::runtime::Handle, upstream: SocketAddr) -> Proxy {
        let listener = runtime
            .block_on(TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
            .expect("proxy binds a loopback port");
        let addr = listener.local_addr().expect("proxy address");
        let (link, _) = watch::channel(Link::Up);
        let inner = Arc::new(Inner {
            upstream: Mutex::new(upstream),
            script: Mutex::new(Vec::new()),
            always: Mutex::new(Vec::new()),
            schedule: Mutex::new(None),
            log: Mutex::new(Vec::new()),
            uplink: Mutex::new(None),
            before_reply: Mutex::new(None),
            link,
            flapper: Mutex::new(None),
            cut_connections: AtomicU64::new(0),
            cut_requests: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            link_cycles: AtomicU64::new(0),
            plain_connections: AtomicU64::new(0),
            tls_connections: AtomicU64::new(0),
            max_body: Mutex::new(None),
            above_body: Mutex::new(None),
        });
        let tls_listener = runtime
            .block_on(TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
            .expect("proxy binds a loopback port for HTTPS");
        let tls_addr = tls_listener.local_addr().expect("proxy HTTPS address");
        let accept = runtime
            .spawn(accept_loop(listener, inner.clone(), None))
            .abort_handle();
        let accept_tls = runtime
            .spawn(accept_loop(
                tls_listener,
                inner.clone(),
                Some(crate::tls::loopback_acceptor()),
            ))
            .abort_handle();
        https_addresses().insert(addr, tls_addr);
        Proxy {
            addr,
            tls_addr,
            inner,
            accept,
            accept_tls,
            runtime: runtime.clone(),
        }
    }

    /// `http://127.0.0.1:<port>`: give this to the device instead of the server's URL.
    /// `fixtures::sync_config` turns it into `https_url()`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `https://127.0.0.1:<port>`: the same proxy (same faults, same log) over TLS, with a
    /// certificate from `tls::test_ca()`.
    pub fn https_url(&self) -> String {
        format!("https://{}", self.tls_addr)
    }

    /// Connections served so far: `(plain HTTP, TLS)`.
    pub fn connections(&self) -> (u64, u64) {
        (
            self.inner.plain_connections.load(Ordering::SeqCst),
            self.inner.tls_connections.load(Ordering::SeqCst),
        )
    }

    /// Points the proxy at another server address (e.g. a restarted server).
    pub fn set_upstream(&self, upstream: SocketAddr) {
        *lock(&self.inner.upstream) = upstream;
    }

    /// Applies `faults` to the next batch uploads, one each, in order; then forwards again.
    pub fn on_uploads(&self, faults: impl IntoIterator<Item = Fault>) {
        self.script(
            |method, path| method == "POST" && path.ends_with("/sales/batch"),
            faults,
        );
    }

    /// Applies `faults` to the next requests `matches(method, path)` accepts, one each.
    pub fn script(
        &self,
        matches: impl Fn(&str, &str) -> bool + Send + Sync + 'static,
        faults: impl IntoIterator<Item = Fault>,
    ) {
        lock(&self.inner.script).push((Box::new(matches), faults.into_iter().collect()));
    }

    /// Lets `schedule` pick the fault of every request no script claims (`None`: forward).
    pub fn set_schedule(&self, schedule: Option<Schedule>) {
        *lock(&self.inner.schedule) = schedule;
    }

    /// Answers every request whose body is over `bytes` with an HTML `413`, as nginx's
    /// `client_max_body_size` does (`None`: no limit). It applies before any script.
    pub fn set_max_body(&self, bytes: Option<usize>) {
        *lock(&self.inner.max_body) = bytes;
    }

    /// Resets the connection of every request whose body is over `bytes`, with no answer
    /// and nothing passed on (`None`: no limit). It applies before `set_max_body` and any
    /// script.
    pub fn set_reset_above(&self, bytes: Option<usize>) {
        self.set_fault_above(bytes.map(|b| (b, Fault::Reset)));
    }

    /// Applies the fault to every request whose body is over the bytes given (`None`: to
    /// none), before `set_max_body` and any script: e.g. `Fault::Stall` for a path that
    /// swallows large bodies until the client gives up.
    pub fn set_fault_above(&self, above: Option<(usize, Fault)>) {
        *lock(&self.inner.above_body) = above;
    }

    /// Applies `fault` to every request `matches(method, path)` accepts, from now on.
    pub fn always(
        &self,
        matches: impl Fn(&str, &str) -> bool + Send + Sync + 'static,
        fault: Fault,
    ) {
        lock(&self.inner.always).push((Box::new(matches), fault));
    }

    /// Ends every `always` rule.
    pub fn clear_always(&self) {
        lock(&self.inner.always).clear();
    }

    /// Limits the client-to-server direction to `bytes_per_sec` (`None`: unlimited).
    pub fn set_uplink(&self, bytes_per_sec: Option<u64>) {
        *lock(&self.inner.uplink) = bytes_per_sec;
    }

    /// Calls `hook` after the server answered each request and before the answer is passed
    /// on (`None` removes it). It runs on the proxy's runtime: keep it short.
    pub fn before_reply(&self, hook: Option<BeforeReply>) {
        *lock(&self.inner.before_reply) = hook;
    }

    /// Every exchange so far, in the order the requests arrived.
    pub fn exchanges(&self) -> Vec<Exchange> {
        let mut log = lock(&self.inner.log).clone();
        log.sort_by_key(|e| e.started);
        log
    }

    /// The batch uploads so far, in order.
    pub fn uploads(&self) -> Vec<Exchange> {
        self.exchanges()
            .into_iter()
            .filter(Exchange::is_upload)
            .collect()
    }

    /// Takes the link down (every connection is reset, new ones are reset at once) or up.
    pub fn set_link(&self, up: bool) {
        self.set_link_state(if up { Link::Up } else { Link::Reset });
    }

    /// Sets what the link does (see `Link`).
    pub fn set_link_state(&self, state: Link) {
        self.inner.link.send_replace(state);
    }

    /// Flips the link down and up every `period` (or later, never sooner) until
    /// `stop_flapping`; the link starts down.
    pub fn start_flapping(&self, period: Duration) {
        let inner = self.inner.clone();
        let task = self.runtime.spawn(async move {
            let mut tick = tokio::time::interval(period);
            // A tick the runtime was too busy to run on time is not made up for by a burst:
            // the link stays up (and down) at least `period` each time, however loaded the
            // machine, so a cycle always holds a good spell.
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                let up = *inner.link.borrow() == Link::Up;
                inner
                    .link
                    .send_replace(if up { Link::Reset } else { Link::Up });
                if !up {
                    inner.link_cycles.fetch_add(1, Ordering::SeqCst);
                }
                tick.tick().await;
            }
        });
        if let Some(old) = lock(&self.inner.flapper).replace(task.abort_handle()) {
            old.abort();
        }
    }

    /// Stops flapping and leaves the link up.
    pub fn stop_flapping(&self) {
        if let Some(task) = lock(&self.inner.flapper).take() {
            task.abort();
        }
        self.set_link(true);
    }

    /// How many times the flapping link has come back up: down-and-up cycles so far.
    pub fn link_cycles(&self) -> u64 {
        self.inner.link_cycles.load(Ordering::SeqCst)
    }

    /// (connections cut, requests cut in flight, connections refused) by a link going down.
    pub fn link_damage(&self) -> (u64, u64, u64) {
        (
            self.inner.cut_connections.load(Ordering::SeqCst),
            self.inner.cut_requests.load(Ordering::SeqCst),
            self.inner.refused.load(Ordering::SeqCst),
        )
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Unlisted before the port can be freed (the listener closes as its task ends), so
        // a proxy that gets the same port next cannot be unlisted by this one.
        https_addresses().remove(&self.addr);
        self.accept.abort();
        self.accept_tls.abort();
        if let Some(task) = lock(&self.inner.flapper).take() {
            task.abort();
        }
        // Open connections, silent ones too, end when the link is reset for good.
        self.inner.link.send_replace(Link::Reset);
    }
}

/// A client connection the proxy serves: plain TCP or TLS over it. `tcp` is the socket
/// underneath, for a real reset (a zero linger) whatever runs over it.
trait Wire: AsyncRead + AsyncWrite + Unpin + Send {
    fn tcp(&self) -> &TcpStream;
}

impl Wire for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Wire for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

/// Accepts connections, over TLS when `tls` is set. While the link is reset a connection is
/// reset as it arrives, before any handshake, as a dead network path does it.
async fn accept_loop(listener: TcpListener, inner: Arc<Inner>, tls: Option<TlsAcceptor>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let state = *inner.link.borrow();
        if state == Link::Reset {
            inner.refused.fetch_add(1, Ordering::SeqCst);
            let _ = client.set_zero_linger();
            drop(client);
            continue;
        }
        let _ = client.set_nodelay(true);
        let inner = inner.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => {
                    inner.plain_connections.fetch_add(1, Ordering::SeqCst);
                    carry(client, &inner, state).await;
                }
                Some(acceptor) => {
                    let mut link = inner.link.subscribe();
                    // A link that goes down during the handshake cuts it like anything else.
                    let handshake = tokio::select! {
                        done = acceptor.accept(client) => done,
                        _ = link.wait_for(|state| *state == Link::Reset) => return,
                    };
                    if let Ok(tls) = handshake {
                        inner.tls_connections.fetch_add(1, Ordering::SeqCst);
                        carry(tls, &inner, state).await;
                    }
                }
            }
        });
    }
}

/// Serves one accepted connection until it ends or the link cuts it.
async fn carry<W: Wire>(client: W, inner: &Inner, state: Link) {
    let mut client = BufReader::new(client);
    let mut link = inner.link.subscribe();
    if state == Link::BlackHole {
        // Opened into the black hole: it never carries anything.
        swallow(&mut client, inner, &mut link).await;
        return;
    }
    let in_flight = AtomicBool::new(false);
    let cut = tokio::select! {
        _ = serve_connection(&mut client, inner, &in_flight) => return,
        cut = link.wait_for(|state| *state != Link::Up) => {
            cut.map(|state| *state).unwrap_or(Link::Reset)
        }
    };
    inner.cut_connections.fetch_add(1, Ordering::SeqCst);
    if in_flight.load(Ordering::SeqCst) {
        inner.cut_requests.fetch_add(1, Ordering::SeqCst);
    }
    if cut == Link::BlackHole {
        swallow(&mut client, inner, &mut link).await;
    }
}

/// Holds a connection the link made silent: logs each request the client still sends,
/// passes nothing on and answers nothing, until the client gives up or the link is reset.
async fn swallow<W: Wire>(
    client: &mut BufReader<W>,
    inner: &Inner,
    link: &mut watch::Receiver<Link>,
) {
    let silent = async {
        loop {
            match read_message(&mut *client, None).await {
                Ok(Some(request)) => {
                    let mut parts = request.start_line.split(' ');
                    let exchange = Exchange {
                        started: Instant::now(),
                        method: parts.next().unwrap_or_default().to_string(),
                        path: parts.next().unwrap_or_default().to_string(),
                        request_body: request.body,
                        fault: Fault::BlackHole,
                        status: None,
                        response_body: Vec::new(),
                        replied_at: None,
                        outcome: Outcome::Swallowed,
                    };
                    lock(&inner.log).push(exchange);
                }
                Ok(None) => return,
                Err(_) => {
                    // The rest of a request the link cut in the middle: read on, say nothing.
                    let _ = tokio::io::copy(&mut *client, &mut tokio::io::sink()).await;
                    return;
                }
            }
        }
    };
    tokio::select! {
        _ = silent => {}
        _ = link.wait_for(|state| *state == Link::Reset) => {}
    }
}

impl Inner {
    fn next_fault(&self, method: &str, path: &str, body_len: usize) -> Fault {
        if let Some((max, fault)) = lock(&self.above_body).as_ref()
            && body_len > *max
        {
            return fault.clone();
        }
        if lock(&self.max_body).is_some_and(|max| body_len > max) {
            return Fault::Reply(Reply::html(413));
        }
        if let Some((_, fault)) = lock(&self.always).iter().find(|(m, _)| m(method, path)) {
            return fault.clone();
        }
        let mut script = lock(&self.script);
        for (matches, faults) in script.iter_mut() {
            if matches(method, path)
                && let Some(f) = faults.pop_front()
            {
                return f;
            }
        }
        drop(script);
        match lock(&self.schedule).as_mut() {
            Some(schedule) => schedule(method, path),
            None => Fault::Forward,
        }
    }
}

/// One HTTP message as read off the wire: raw bytes to pass on, and the decoded body.
struct Message {
    raw: Vec<u8>,
    start_line: String,
    body: Vec<u8>,
    /// Bytes of `raw` that are the head (up to and including the blank line).
    head_len: usize,
}

/// Serves one client connection: one request at a time, a fresh server connection each.
async fn serve_connection<W: Wire>(
    client: &mut BufReader<W>,
    inner: &Inner,
    in_flight: &AtomicBool,
) {
    loop {
        let request = match read_message(&mut *client, None).await {
            Ok(Some(m)) => m,
            _ => return,
        };
        let started = Instant::now();
        in_flight.store(true, Ordering::SeqCst);
        let mut parts = request.start_line.split(' ');
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let fault = inner.next_fault(&method, &path, request.body.len());
        let mut exchange = Exchange {
            started,
            method: method.clone(),
            path,
            request_body: request.body.clone(),
            fault: fault.clone(),
            status: None,
            response_body: Vec::new(),
            replied_at: None,
            outcome: Outcome::Forwarded,
        };
        // A slow uplink: the request is still on its way until its bytes have trickled through.
        let uplink = *lock(&inner.uplink);
        let arrived = match uplink {
            None => true,
            Some(rate) => {
                let transfer =
                    Duration::from_secs_f64(request.raw.len() as f64 / rate.max(1) as f64);
                tokio::select! {
                    _ = tokio::time::sleep(transfer) => true,
                    _ = client.fill_buf() => false,
                }
            }
        };
        // What to send the client, if anything; the connection stays open only after a reply.
        let reply: Option<Vec<u8>> = if !arrived {
            exchange.outcome = Outcome::ClientGaveUp;
            None
        } else {
            match fault {
                Fault::Answer {
                    status,
                    retry_after,
                } => {
                    let own = own_answer(status, retry_after);
                    exchange.status = Some(status);
                    exchange.response_body = own.body;
                    exchange.outcome = Outcome::Answered;
                    Some(own.raw)
                }
                Fault::Reply(ref reply) => {
                    exchange.status = Some(reply.status);
                    exchange.response_body = reply.body.clone();
                    exchange.outcome = Outcome::Answered;
                    Some(reply.encode())
                }
                Fault::BlackHole => {
                    exchange.outcome = Outcome::Swallowed;
                    None
                }
                Fault::Stall(how_long) => {
                    // Wait for the stall to end or the client to hang up (its timeout fired).
                    let gave_up = tokio::select! {
                        _ = tokio::time::sleep(how_long) => false,
                        _ = client.fill_buf() => true,
                    };
                    exchange.outcome = if gave_up {
                        Outcome::ClientGaveUp
                    } else {
                        Outcome::StallEnded
                    };
                    None
                }
                Fault::ResetMidRequest => {
                    let upstream = *lock(&inner.upstream);
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let cut = request.head_len + (request.raw.len() - request.head_len) / 2;
                        let _ = server.write_all(&request.raw[..cut]).await;
                        let _ = server.flush().await;
                        // Let the server start reading the truncated body before the reset.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        let _ = server.set_zero_linger();
                    }
                    let _ = client.get_ref().tcp().set_zero_linger();
                    exchange.outcome = Outcome::Reset;
                    None
                }
                Fault::Reset => {
                    // Closed with a zero linger: the kernel sends a reset, not a FIN.
                    let _ = client.get_ref().tcp().set_zero_linger();
                    exchange.outcome = Outcome::Reset;
                    None
                }
                Fault::Forward | Fault::DropResponse | Fault::Mangle(_) => {
                    let upstream = *lock(&inner.upstream);
                    match forward(upstream, &request, &method).await {
                        None => {
                            exchange.outcome = Outcome::UpstreamFailed;
                            None
                        }
                        Some(response) => {
                            exchange.status = response
                                .start_line
                                .split(' ')
                                .nth(1)
                                .and_then(|s| s.parse().ok());
                            exchange.response_body = response.body;
                            if let Some(hook) = lock(&inner.before_reply).as_ref() {
                                hook(&exchange);
                            }
                            match fault {
                                Fault::DropResponse => {
                                    exchange.outcome = Outcome::ResponseDropped;
                                    None
                                }
                                Fault::Mangle(how) => {
                                    exchange.outcome = Outcome::Mangled;
                                    let status = exchange.status.unwrap_or(200);
                                    Some(mangled(how, status, &exchange.response_body))
                                }
                                _ => Some(response.raw),
                            }
                        }
                    }
                }
            }
        };
        // Logged before the client can see the reply, so a test that saw the device act
        // on an answer always finds the exchange in the log.
        let index = {
            let mut log = lock(&inner.log);
            log.push(exchange);
            log.len() - 1
        };
        let Some(raw) = reply else {
            in_flight.store(false, Ordering::SeqCst);
            if fault == Fault::BlackHole {
                // Silent, not closed: the client learns nothing until its own timeout.
                let _ = tokio::io::copy(&mut *client, &mut tokio::io::sink()).await;
            }
            return;
        };
        let writer = client.get_mut();
        let written = writer.write_all(&raw).await.is_ok() && writer.flush().await.is_ok();
        in_flight.store(false, Ordering::SeqCst);
        let mut log = lock(&inner.log);
        if written {
            log[index].replied_at = Some(Instant::now());
        } else {
            log[index].outcome = Outcome::ClientGone;
            return;
        }
    }
}

/// Sends `request` on a new connection to `upstream` and reads the whole answer.
async fn forward(upstream: SocketAddr, request: &Message, method: &str) -> Option<Message> {
    let mut server = TcpStream::connect(upstream).await.ok()?;
    let _ = server.set_nodelay(true);
    server.write_all(&request.raw).await.ok()?;
    let mut server = BufReader::new(server);
    read_message(&mut server, Some(method)).await.ok().flatten()
}

fn own_answer(status: u16, retry_after: Option<u64>) -> Message {
    let (reason, code) = match status {
        429 => ("Too Many Requests", "rate_limited"),
        500 => ("Internal Server Error", "internal"),
        502 => ("Bad Gateway", "internal"),
        503 => ("Service Unavailable", "internal"),
        _ => ("Injected", "injected"),
    };
    let body =
        format!(r#"{{"error":"{code}","message":"injected by the test proxy"}}"#).into_bytes();
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    if let Some(secs) = retry_after {
        head.push_str(&format!("retry-after: {secs}\r\n"));
    }
    head.push_str("\r\n");
    let head_len = head.len();
    let mut raw = head.into_bytes();
    raw.extend_from_slice(&body);
    Message {
        raw,
        start_line: format!("HTTP/1.1 {status} {reason}"),
        body,
        head_len,
    }
}

/// The damaged answer `Fault::Mangle(how)` sends instead of the server's.
fn mangled(how: Mangle, status: u16, body: &[u8]) -> Vec<u8> {
    let (status, content_type, body) = match how {
        Mangle::TruncatedBody => (status, "application/json", body[..body.len() / 2].to_vec()),
        Mangle::MalformedJson => {
            let mut body = body.to_vec();
            if let Some(quote) = body.iter_mut().find(|b| **b == b'"') {
                *quote = b'\'';
            }
            (status, "application/json", body)
        }
        Mangle::HtmlPage => (
            200,
            "text/html; charset=utf-8",
            b"<!doctype html><html><body><h1>Sign in to Wi-Fi</h1></body></html>".to_vec(),
        ),
        Mangle::ExtraFields | Mangle::UnknownVerdict => {
            let mut json: serde_json::Value =
                serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
            if how == Mangle::ExtraFields {
                add_fields(&mut json);
            } else {
                replace_statuses(&mut json);
            }
            (
                status,
                "application/json",
                serde_json::to_vec(&json).unwrap_or_default(),
            )
        }
    };
    let mut raw = format!(
        "HTTP/1.1 {status} Mangled\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(&body);
    raw
}

/// Replaces every `status` string in `v`, at every depth, by a verdict nobody knows.
fn replace_statuses(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if key == "status" && value.is_string() {
                    *value = serde_json::json!("held_for_review");
                } else {
                    replace_statuses(value);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(replace_statuses),
        _ => {}
    }
}

/// Adds a field no version of the protocol has to every object in `v`, at every depth.
fn add_fields(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for value in map.values_mut() {
                add_fields(value);
            }
            map.insert(
                "x_from_a_newer_server".into(),
                serde_json::json!({"nested": [1, "two", null], "flag": true}),
            );
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(add_fields),
        _ => {}
    }
}

const MAX_HEAD: usize = 64 * 1024;

/// Reads one request (`request_method: None`) or the response to `request_method`.
/// `Ok(None)` on a clean end of stream before the first byte.
async fn read_message<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    request_method: Option<&str>,
) -> std::io::Result<Option<Message>> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let mut raw = Vec::new();
    let mut start_line = String::new();
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    loop {
        let before = raw.len();
        let n = reader.read_until(b'\n', &mut raw).await?;
        if n == 0 {
            return if raw.is_empty() {
                Ok(None)
            } else {
                Err(bad("cut inside the head"))
            };
        }
        if raw.len() > MAX_HEAD {
            return Err(bad("head too large"));
        }
        let line = String::from_utf8_lossy(&raw[before..])
            .trim_end()
            .to_string();
        if start_line.is_empty() {
            if line.is_empty() {
                continue; // tolerate a stray CRLF between messages
            }
            start_line = line;
            continue;
        }
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                content_length = Some(value.parse().map_err(|_| bad("bad content-length"))?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            }
        }
    }
    let head_len = raw.len();
    let mut body = Vec::new();
    let status: Option<u16> =
        request_method.and_then(|_| start_line.split(' ').nth(1)?.parse().ok());
    let bodiless = request_method == Some("HEAD") || matches!(status, Some(100..=199 | 204 | 304));
    if bodiless {
    } else if chunked {
        loop {
            let before = raw.len();
            reader.read_until(b'\n', &mut raw).await?;
            let size_line = String::from_utf8_lossy(&raw[before..]).trim().to_string();
            let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| bad("bad chunk size"))?;
            if size == 0 {
                // Trailers, then the blank line.
                loop {
                    let before = raw.len();
                    let n = reader.read_until(b'\n', &mut raw).await?;
                    if n == 0 || raw[before..].trim_ascii().is_empty() {
                        break;
                    }
                }
                break;
            }
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).await?;
            body.extend_from_slice(&chunk[..size]);
            raw.extend_from_slice(&chunk);
        }
    } else if let Some(len) = content_length {
        let mut chunk = vec![0; len];
        reader.read_exact(&mut chunk).await?;
        body.extend_from_slice(&chunk);
        raw.extend_from_slice(&chunk);
    } else if request_method.is_some() {
        // A response without framing runs to the end of the connection.
        reader.read_to_end(&mut body).await?;
        raw.extend_from_slice(&body);
    }
    Ok(Some(Message {
        raw,
        start_line,
        body,
        head_len,
    }))
}
