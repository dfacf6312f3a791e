//! Certificates made on the spot (a private CA; server certificates signed by it, self-signed,
//! or for another host) and a TLS terminator in front of the real server (or of the fault
//! proxy), for the tests: every device of `fixtures::sync_config` reaches its server through
//! one, over HTTPS, as a phone does.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::fixtures::{STORE, Server};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tillkit_core::sync::{Connectivity, SyncStatus};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// A certificate chain and its private key, as a TLS server presents them.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

fn key_der(key: &KeyPair) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()))
}

/// A private certificate authority.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Default for Ca {
    fn default() -> Ca {
        Ca::new()
    }
}

impl Ca {
    /// A fresh CA.
    pub fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Tillkit test CA");
        let key = KeyPair::generate().expect("CA key");
        Ca {
            issuer: CertifiedIssuer::self_signed(params, key).expect("CA certificate"),
        }
    }

    /// The CA certificate in PEM, as a device is configured with it.
    pub fn pem(&self) -> Vec<u8> {
        self.issuer.pem().into_bytes()
    }

    /// A server certificate for `names` (DNS names or IP addresses) signed by this CA.
    pub fn issue(&self, names: &[&str]) -> Identity {
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("server params");
        let key = KeyPair::generate().expect("server key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("server certificate");
        Identity {
            chain: vec![cert.der().clone(), self.issuer.der().clone()],
            key: key_der(&key),
        }
    }
}

/// The private CA of this test process: `fixtures::sync_config` devices trust it, and only it.
pub fn test_ca() -> &'static Ca {
    static CA: OnceLock<Ca> = OnceLock::new();
    CA.get_or_init(Ca::new)
}

/// A TLS server configuration presenting a certificate for 127.0.0.1 from `test_ca()`.
pub fn loopback_acceptor() -> TlsAcceptor {
    static ACCEPTOR: OnceLock<TlsAcceptor> = OnceLock::new();
    ACCEPTOR
        .get_or_init(|| acceptor(test_ca().issue(&["127.0.0.1"])))
        .clone()
}

fn acceptor(identity: Identity) -> TlsAcceptor {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(identity.chain, identity.key)
    .expect("server certificate and key");
    TlsAcceptor::from(Arc::new(config))
}

/// A self-signed certificate for `names`: no CA vouches for it.
pub fn self_signed(names: &[&str]) -> Identity {
    let certified =
        rcgen::generate_simple_self_signed(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .expect("self-signed certificate");
    Identity {
        chain: vec![certified.cert.der().clone()],
        key: key_der(&certified.signing_key),
    }
}

/// Terminates TLS on a loopback port and passes the plain bytes to `upstream`, the way a
/// load balancer fronts the server. It records every failed handshake.
pub struct TlsTerminator {
    addr: SocketAddr,
    handshakes: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
    accept: tokio::task::AbortHandle,
}

impl TlsTerminator {
    /// Starts on 127.0.0.1 (a free port), presenting `identity`, on `runtime`.
    pub fn start(
        runtime: &tokio::runtime::Handle,
        identity: Identity,
        upstream: SocketAddr,
    ) -> TlsTerminator {
        let acceptor = acceptor(identity);
        let listener = runtime
            .block_on(TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
            .expect("TLS port");
        let addr = listener.local_addr().expect("TLS address");
        let handshakes = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let (ok, failed) = (handshakes.clone(), failures.clone());
        let accept = runtime
            .spawn(async move {
                loop {
                    let Ok((client, _)) = listener.accept().await else {
                        continue;
                    };
                    let (acceptor, ok, failed) = (acceptor.clone(), ok.clone(), failed.clone());
                    tokio::spawn(async move {
                        // The server first: one that is down resets the connection before
                        // any handshake, as the server's own port would refuse it.
                        let Ok(mut server) = TcpStream::connect(upstream).await else {
                            let _ = client.set_zero_linger();
                            return;
                        };
                        let mut tls = match acceptor.accept(client).await {
                            Ok(tls) => tls,
                            Err(e) => {
                                failed
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .push(e.to_string());
                                return;
                            }
                        };
                        ok.fetch_add(1, Ordering::SeqCst);
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
                    });
                }
            })
            .abort_handle();
        TlsTerminator {
            addr,
            handshakes,
            failures,
            accept,
        }
    }

    /// `https://<host>:<port>` for the terminator's port.
    pub fn url(&self, host: &str) -> String {
        format!("https://{host}:{}", self.addr.port())
    }

    /// Completed handshakes so far.
    pub fn handshakes(&self) -> u64 {
        self.handshakes.load(Ordering::SeqCst)
    }

    /// Why each failed handshake failed, as the server side saw it.
    pub fn failures(&self) -> Vec<String> {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Drop for TlsTerminator {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// A refused handshake lost and sent nothing: Offline with `why` in the status, all `pending`
/// sales still queued, no handshake completed at `terminator`, nothing stored at `server`.
pub fn assert_refused_and_nothing_sent(
    status: &SyncStatus,
    why: &str,
    pending: u64,
    terminator: &TlsTerminator,
    server: &Server,
) {
    let error = status.last_error.clone().unwrap_or_default();
    assert!(
        error.contains(why),
        "the status says why the server was refused ({why}): {error}"
    );
    assert_eq!(status.connectivity, Connectivity::Offline);
    assert_eq!(status.pending, pending, "every sale is still queued");
    assert!(!status.auth_failed);
    assert_eq!(terminator.handshakes(), 0, "no handshake completed");
    assert_eq!(
        server.store().summary(STORE).expect("summary").sale_count,
        0,
        "nothing reached the server"
    );
}
