//! TLS to PostgreSQL (rustls with ring, as the rest of Tillkit): the URL's `sslmode` and
//! `sslrootcert`, read as libpq reads them, and the connector the pool hands to
//! tokio-postgres. It never logs the URL (it may hold a password).

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::error::StoreError;

/// How the connection is protected, as libpq's `sslmode` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// `disable`, `allow`, `prefer` or nothing: plain TCP (this server does not try TLS
    /// unless asked to, so a URL without `sslmode` behaves as it always did).
    Plain,
    /// `require`: encrypted; the certificate is checked only when `sslrootcert` is given
    /// (then as `verify-ca`), as libpq does.
    Require,
    /// `verify-ca`: encrypted, the chain checked against the roots, any host name.
    VerifyCa,
    /// `verify-full`: encrypted, the chain and the host name checked.
    VerifyFull,
}

/// A PostgreSQL URL with its TLS parameters taken out (tokio-postgres knows neither
/// `verify-*` nor `sslrootcert`), and the connector they make.
pub struct PgUrl {
    /// The URL tokio-postgres parses.
    pub url: String,
    /// The TLS mode asked for.
    pub mode: TlsMode,
    /// The PEM file of roots (`sslrootcert`), if given.
    pub root_cert: Option<String>,
}

impl PgUrl {
    /// Splits `sslmode` and `sslrootcert` off the URL's query.
    pub fn parse(url: &str) -> Result<PgUrl, StoreError> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept = Vec::new();
        let (mut mode, mut root_cert) = (TlsMode::Plain, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslmode" => {
                    mode = match value {
                        "disable" | "allow" | "prefer" => TlsMode::Plain,
                        "require" => TlsMode::Require,
                        "verify-ca" => TlsMode::VerifyCa,
                        "verify-full" => TlsMode::VerifyFull,
                        other => {
                            return Err(StoreError::Invalid(format!(
                                "database URL: sslmode {other:?} is not one of disable, prefer, \
                                 require, verify-ca, verify-full"
                            )));
                        }
                    }
                }
                "sslrootcert" => root_cert = Some(percent_decode(value)?),
                _ => kept.push(pair),
            }
        }
        if mode == TlsMode::Require && root_cert.is_some() {
            mode = TlsMode::VerifyCa;
        }
        let url = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        Ok(PgUrl {
            url,
            mode,
            root_cert,
        })
    }

    /// The mode tokio-postgres negotiates with.
    pub fn ssl_mode(&self) -> SslMode {
        match self.mode {
            TlsMode::Plain => SslMode::Disable,
            _ => SslMode::Require,
        }
    }

    /// The connector for this mode; `MakeRustls::plain()` for plain TCP.
    pub fn connector(&self) -> Result<MakeRustls, StoreError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = || -> Result<Arc<RootCertStore>, StoreError> {
            let mut roots = RootCertStore::empty();
            match &self.root_cert {
                Some(path) => {
                    let bad = |e: &dyn std::fmt::Display| {
                        StoreError::Invalid(format!("sslrootcert {path}: {e}"))
                    };
                    for cert in
                        CertificateDer::pem_file_iter(Path::new(path)).map_err(|e| bad(&e))?
                    {
                        roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
                    }
                    if roots.is_empty() {
                        return Err(bad(&"no certificate in it"));
                    }
                }
                None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
            Ok(Arc::new(roots))
        };
        let verifier: Arc<dyn ServerCertVerifier> = match self.mode {
            TlsMode::Plain => return Ok(MakeRustls(None)),
            TlsMode::Require => Arc::new(Unverified(provider.clone())),
            TlsMode::VerifyCa => Arc::new(AnyName(webpki(roots()?, &provider)?)),
            TlsMode::VerifyFull => webpki(roots()?, &provider)?,
        };
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::Backend(format!("TLS: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustls(Some(TlsConnector::from(Arc::new(config)))))
    }
}

fn webpki(
    roots: Arc<RootCertStore>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, StoreError> {
    WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| StoreError::Invalid(format!("sslrootcert: {e}")))
}

/// `%xx` escapes of a URL query value (a path may hold spaces or `&`).
fn percent_decode(s: &str) -> Result<String, StoreError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| StoreError::Invalid("database URL: a bad %-escape".into()))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| StoreError::Invalid("database URL: not UTF-8".into()))
}

/// `verify-ca`: the chain must lead to a root; the name in it may be any.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `require` without roots: encrypted against eavesdropping, the certificate not checked
/// (libpq's meaning; use `verify-full` against a server that could be impersonated). The
/// handshake signature is still verified, so the session key is the certificate's.
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The `MakeTlsConnect` the pool uses: rustls when the URL asks for TLS, else none.
#[derive(Clone)]
pub struct MakeRustls(Option<TlsConnector>);

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = PgTlsStream<S>;
    type TlsConnect = Connect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, host: &str) -> Result<Connect, io::Error> {
        // Asked for every host, TLS or not (a socket path is no name): checked on use.
        Ok(Connect {
            connector: self.0.clone(),
            name: ServerName::try_from(host.to_string()).ok(),
        })
    }
}

/// One connection's handshake.
pub struct Connect {
    connector: Option<TlsConnector>,
    name: Option<ServerName<'static>>,
}

impl<S> TlsConnect<S> for Connect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = PgTlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<PgTlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let connector = self
                .connector
                .ok_or_else(|| io::Error::other("TLS asked for without a TLS configuration"))?;
            let name = self.name.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "TLS needs a host name or address",
                )
            })?;
            Ok(PgTlsStream(connector.connect(name, stream).await?))
        })
    }
}

/// A TLS stream to PostgreSQL.
pub struct PgTlsStream<S>(TlsStream<S>);

impl<S> tokio_postgres::tls::TlsStream for PgTlsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn channel_binding(&self) -> ChannelBinding {
        // SCRAM then runs without channel binding (as with libpq's channel_binding=prefer
        // against a server that offers none).
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for PgTlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for PgTlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_taken_out_of_the_url_as_libpq_reads_them() {
        let u = PgUrl::parse(
            "postgres://u@h/db?options=-cx%3Dy&sslmode=verify-full&sslrootcert=%2Ftmp%2Fa%20b.pem",
        )
        .expect("url");
        assert_eq!(u.url, "postgres://u@h/db?options=-cx%3Dy");
        assert_eq!(u.mode, TlsMode::VerifyFull);
        assert_eq!(u.root_cert.as_deref(), Some("/tmp/a b.pem"));
        let u = PgUrl::parse("postgres://u@h/db?sslmode=require&sslrootcert=/ca.pem").expect("url");
        assert_eq!(
            (u.mode, u.url.as_str()),
            (TlsMode::VerifyCa, "postgres://u@h/db")
        );
        assert_eq!(
            PgUrl::parse("postgres://u@h/db").expect("url").mode,
            TlsMode::Plain
        );
        assert!(PgUrl::parse("postgres://u@h/db?sslmode=sometimes").is_err());
    }
}
