//! The one TLS configuration of every platform: rustls with ring, Mozilla's roots bundled
//! (webpki-roots) plus the deployment's private roots, and optional SPKI pinning.
//! It never asks a platform verifier or a process-wide crypto provider for anything.

use std::sync::Arc;

use base64::Engine;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::Error;

/// Length of a SHA-256 digest.
const PIN_LEN: usize = 32;
/// The prefix OkHttp and HPKP write before a base64 SPKI SHA-256 pin; accepted, not required.
const PIN_PREFIX: &str = "sha256/";

/// The rustls client configuration the sync client uses: TLS 1.2 and 1.3 with ring, the
/// bundled Mozilla roots plus `private_roots_pem` (each entry one or more PEM certificates),
/// and, when `pins` is not empty, a chain check against those SPKI SHA-256 pins.
///
/// Every failure is a typed error; nothing here can panic for want of an initialisation.
pub fn client_config(
    private_roots_pem: &[Vec<u8>],
    pins: &[String],
) -> Result<rustls::ClientConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = Arc::new(root_store(private_roots_pem)?);
    let pins = pins
        .iter()
        .map(|p| parse_pin(p))
        .collect::<Result<Vec<_>, _>>()?;
    let webpki = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
        .build()
        .map_err(|e| Error::sync("cannot set up certificate checks", e))?;
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::sync("cannot set up TLS", e))?;
    let mut config = if pins.is_empty() {
        builder.with_webpki_verifier(webpki).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedVerifier {
                webpki,
                roots,
                algorithms: provider.signature_verification_algorithms,
                pins,
            }))
            .with_no_client_auth()
    };
    // The server speaks HTTP/1.1; the client is built without HTTP/2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Mozilla's roots (as bundled at build time) plus the deployment's own.
fn root_store(private_roots_pem: &[Vec<u8>]) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for (i, pem) in private_roots_pem.iter().enumerate() {
        let bad = |why: String| Error::invalid(format!("root certificate {}: {why}", i + 1));
        let mut found = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| bad(e.to_string()))?;
            roots.add(cert).map_err(|e| bad(e.to_string()))?;
            found += 1;
        }
        if found == 0 {
            return Err(bad("no PEM certificate in it".into()));
        }
    }
    Ok(roots)
}

/// Parses `sha256/<base64>` or `<base64>`: the SHA-256 of a DER SubjectPublicKeyInfo.
fn parse_pin(text: &str) -> Result<[u8; PIN_LEN], Error> {
    let refuse = || {
        Error::invalid(format!(
            "certificate pin {text:?} is not the base64 SHA-256 of a public key (e.g. \"sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\")"
        ))
    };
    let trimmed = text.trim();
    let encoded = trimmed.strip_prefix(PIN_PREFIX).unwrap_or(trimmed);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| refuse())?;
    bytes.try_into().map_err(|_| refuse())
}

fn spki_digest(spki_der: &[u8]) -> [u8; PIN_LEN] {
    let digest = ring::digest::digest(&ring::digest::SHA256, spki_der);
    let mut out = [0u8; PIN_LEN];
    out.copy_from_slice(digest.as_ref());
    out
}

/// The pin of a DER certificate's public key, as `pinned_spki_sha256` takes it
/// (`sha256/<base64>`; the same value as `openssl x509 -pubkey -noout | openssl pkey
/// -pubin -outform der | openssl dgst -sha256 -binary | base64`).
pub fn certificate_pin(cert_der: &[u8]) -> Result<String, Error> {
    let der = CertificateDer::from(cert_der);
    let cert = webpki::EndEntityCert::try_from(&der)
        .map_err(|e| Error::invalid(format!("not a DER certificate: {e}")))?;
    let digest = spki_digest(cert.subject_public_key_info().as_ref());
    Ok(format!(
        "{PIN_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    ))
}

/// A trust anchor keeps its SubjectPublicKeyInfo without the outer SEQUENCE header;
/// pins are over the whole DER structure, so it is put back.
fn wrap_sequence(contents: &[u8]) -> Vec<u8> {
    let len = contents.len();
    let mut der = vec![0x30];
    if len < 0x80 {
        der.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        der.push(0x80 | (bytes.len() - skip) as u8);
        der.extend_from_slice(&bytes[skip..]);
    }
    der.extend_from_slice(contents);
    der
}

/// The error a pin mismatch carries inside rustls' certificate error.
#[derive(Debug)]
struct PinMismatch;

impl std::fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no key of the server's verified certificate chain is among the pinned keys")
    }
}

impl std::error::Error for PinMismatch {}

/// Normal WebPKI verification first (chain to a trusted root, validity, host name); then
/// some verified path from the server's certificate to a root must hold a pinned key.
/// Only certificates of that path count: one merely sent along with the chain does not.
#[derive(Debug)]
struct PinnedVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    roots: Arc<RootCertStore>,
    algorithms: WebPkiSupportedAlgorithms,
    pins: Vec<[u8; PIN_LEN]>,
}

impl PinnedVerifier {
    fn pinned(&self, spki_der: &[u8]) -> bool {
        self.pins.contains(&spki_digest(spki_der))
    }

    fn path_is_pinned(&self, path: &webpki::VerifiedPath<'_>) -> bool {
        self.pinned(path.end_entity().subject_public_key_info().as_ref())
            || path
                .intermediate_certificates()
                .any(|c| self.pinned(c.subject_public_key_info().as_ref()))
            || self.pinned(&wrap_sequence(
                path.anchor().subject_public_key_info.as_ref(),
            ))
    }
}

fn pin_mismatch() -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(
        PinMismatch,
    ))))
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let cert = webpki::EndEntityCert::try_from(end_entity).map_err(|_| pin_mismatch())?;
        // Path building tries every candidate path until one passes this check.
        let check = |path: &webpki::VerifiedPath<'_>| {
            if self.path_is_pinned(path) {
                Ok(())
            } else {
                Err(webpki::Error::UnknownIssuer)
            }
        };
        cert.verify_for_usage(
            self.algorithms.all,
            &self.roots.roots,
            intermediates,
            now,
            webpki::KeyUsage::server_auth(),
            None,
            Some(&check),
        )
        .map_err(|_| pin_mismatch())?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// Why TLS refused the connection, if `error` or an error inside it is a TLS error; in
/// words a person can act on (the HTTP client's own message says only "error sending request").
pub(crate) fn refusal(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(describe(tls));
        }
        next = match e.downcast_ref::<std::io::Error>() {
            // An I/O error's `source()` skips the error it wraps, which is where the TLS
            // stack puts its own (sometimes inside another I/O error).
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

fn describe(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(CertificateError::Other(other))
            if other.0.downcast_ref::<PinMismatch>().is_some() =>
        {
            format!("certificate pin mismatch: {}", other.0)
        }
        rustls::Error::InvalidCertificate(why) => {
            format!("the server's certificate is not trusted: {why:?}")
        }
        other => format!("TLS handshake failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::crypto::CryptoProvider;

    /// A certificate made with `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256`.
    const OPENSSL_CERT: &str = include_str!("testdata/pin-check.pem");
    /// Its pin as OpenSSL computes it (see `certificate_pin`'s doc comment).
    const OPENSSL_PIN: &str = include_str!("testdata/pin-check.sha256");

    #[test]
    fn certificate_pin_matches_what_openssl_computes() {
        let der = CertificateDer::from_pem_slice(OPENSSL_CERT.as_bytes()).unwrap();
        assert_eq!(
            certificate_pin(der.as_ref()).unwrap(),
            format!("sha256/{}", OPENSSL_PIN.trim())
        );
        // With or without the prefix, the pin parses to the same digest.
        let digest = parse_pin(OPENSSL_PIN.trim()).unwrap();
        assert_eq!(
            parse_pin(&format!("sha256/{}", OPENSSL_PIN.trim())).unwrap(),
            digest
        );
    }

    #[test]
    fn malformed_pins_are_refused_with_a_typed_error() {
        for bad in [
            "",
            "sha256/",
            "not base64!",
            // 31 bytes, and 33 bytes: not a SHA-256.
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "sha1/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        ] {
            let err = client_config(&[], &[bad.to_string()]).unwrap_err();
            assert!(
                matches!(err, Error::InvalidInput { .. }),
                "{bad:?}: {err:?}"
            );
        }
    }

    #[test]
    fn private_roots_are_added_to_the_bundled_mozilla_roots() {
        let bundled = webpki_roots::TLS_SERVER_ROOTS.len();
        assert!(bundled > 100, "Mozilla's roots are bundled");
        let roots = root_store(&[OPENSSL_CERT.as_bytes().to_vec()]).unwrap();
        assert_eq!(roots.len(), bundled + 1);
        // A bundle of two certificates in one entry adds both.
        let two = format!("{OPENSSL_CERT}\n{OPENSSL_CERT}");
        assert_eq!(root_store(&[two.into_bytes()]).unwrap().len(), bundled + 2);
    }

    #[test]
    fn a_root_entry_without_a_certificate_is_refused() {
        for bad in [
            &b""[..],
            b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
        ] {
            let err = root_store(&[bad.to_vec()]).unwrap_err();
            assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
        }
    }

    #[test]
    fn the_configuration_needs_no_process_wide_crypto_provider() {
        assert!(CryptoProvider::get_default().is_none());
        let config = client_config(&[], &[OPENSSL_PIN.trim().to_string()]).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(
            CryptoProvider::get_default().is_none(),
            "nothing was installed"
        );
        assert_eq!(
            config.crypto_provider().cipher_suites.len(),
            rustls::crypto::ring::default_provider().cipher_suites.len()
        );
    }

    #[test]
    fn wrapping_restores_the_der_header_for_short_and_long_lengths() {
        assert_eq!(wrap_sequence(&[1, 2]), vec![0x30, 2, 1, 2]);
        let long = vec![7u8; 300];
        let wrapped = wrap_sequence(&long);
        assert_eq!(&wrapped[..4], &[0x30, 0x82, 0x01, 0x2c]);
        assert_eq!(wrapped.len(), 304);
    }
}
