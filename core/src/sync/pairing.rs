//! Pairing: trades the one-time code an operator made for a register (`POST /v1/pair`) for
//! the register's token. It checks the answer and hands the token over; it never stores,
//! logs or prints a code or a token (the caller keeps the token, see `KeychainTokens`).

use zeroize::Zeroizing;

use super::SyncConfig;
use super::client::Client;
use super::error::SyncError;
use super::protocol::{canonical_pairing_code, grouped_pairing_code};
use crate::error::{Error, Result};
use crate::limits::MAX_ID_CHARS;

/// Longest token accepted from a server (the reference server's are 64 characters).
const MAX_TOKEN_CHARS: usize = 512;

/// What a pairing gave: the register the code was made for and its token.
pub struct Paired {
    /// The store the register belongs to.
    pub store_id: String,
    /// The register the device now is.
    pub register_id: String,
    token: Zeroizing<String>,
}

impl Paired {
    /// The register's bearer token (keep it in the keychain, never in a log).
    pub fn token(&self) -> &str {
        &self.token
    }
}

impl std::fmt::Debug for Paired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Paired")
            .field("store_id", &self.store_id)
            .field("register_id", &self.register_id)
            .finish_non_exhaustive()
    }
}

/// Trades `code` for its register's token at the server `cfg` names, over the same TLS
/// settings sync uses (bundled roots, private roots, pins). Its credentials are not used.
/// A refused code is `PairingRefused`; no answer, a busy server or an answer that is not the
/// protocol's is `Sync` with the cause, and the code may still be live: try again.
pub async fn pair(cfg: &SyncConfig, code: &str) -> Result<Paired> {
    let code = code.trim();
    if code.is_empty() || code.chars().count() > 64 {
        return Err(Error::invalid("a pairing code is 1 to 64 characters"));
    }
    let client = Client::new(cfg)?;
    let answer = match client.pair(code).await {
        Ok(answer) => answer,
        Err(SyncError::Auth { message, .. }) => {
            return Err(Error::PairingRefused { reason: message });
        }
        Err(e @ SyncError::Refused { .. }) if is_missing_route(&e) => {
            return Err(Error::sync(
                "this server does not offer pairing (it is older than this app): update the server",
                e,
            ));
        }
        Err(e) => return Err(Error::sync("pairing failed", e)),
    };
    let token = Zeroizing::new(answer.token);
    let printable = |s: &str| !s.is_empty() && !s.chars().any(char::is_control);
    let id_ok = |s: &str| printable(s) && s.chars().count() <= MAX_ID_CHARS;
    let token_ok = token.len() <= MAX_TOKEN_CHARS
        && !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_graphic());
    if !id_ok(&answer.store_id) || !id_ok(&answer.register_id) || !token_ok {
        return Err(Error::Sync {
            reason: "the server's pairing answer is not usable (bad store, register or token)"
                .into(),
            source: None,
        });
    }
    tracing::info!(store = %answer.store_id, register = %answer.register_id, "paired");
    Ok(Paired {
        store_id: answer.store_id,
        register_id: answer.register_id,
        token,
    })
}

/// The start of a pairing link, the text a pairing QR code holds:
/// `tillkit://pair?code=ABCD-EFGH-JKMN&server=https%3A%2F%2Fsync.example`
/// (`admin pair-register --link URL` prints one). `server` is optional.
pub const PAIRING_LINK: &str = "tillkit://pair";

/// Longest scanned text read as a pairing (a QR code can hold kilobytes).
const MAX_SCAN_CHARS: usize = 2048;

/// What a scanned pairing QR code (or a pasted link or code) holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedPairing {
    /// The code in groups of four, as the pairing screen shows it.
    pub code: String,
    /// The server the code was made for, when the link names one (pair with it only if it
    /// is this register's server: `pair` refuses another).
    pub server_url: Option<String>,
}

/// The pairing link for `code` made on `server_url`, as a QR code holds it.
pub fn pairing_link(server_url: &str, code: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("code", code)
        .append_pair("server", server_url)
        .finish();
    format!("{PAIRING_LINK}?{query}")
}

/// Reads what a scanner (or the clipboard) gave the pairing screen: a bare pairing code, or a
/// pairing link (`PAIRING_LINK`) with its code and maybe its server. Anything else, a link
/// without a usable code, a server that is not an http(s) URL or a parameter given twice is
/// `InvalidInput` saying so; nothing is sent anywhere. Unknown parameters are ignored, so a
/// newer link still pairs an older app.
pub fn read_pairing_scan(text: &str) -> Result<ScannedPairing> {
    let not_ours = || {
        Error::invalid(
            "this is not a Tillkit pairing code: scan the code a manager made for this \
             register (admin pair-register), or type it",
        )
    };
    let text = text.trim();
    if text.chars().count() > MAX_SCAN_CHARS {
        return Err(not_ours());
    }
    if let Some(code) = canonical_pairing_code(text) {
        return Ok(ScannedPairing {
            code: grouped_pairing_code(&code),
            server_url: None,
        });
    }
    let link = url::Url::parse(text).map_err(|_| not_ours())?;
    if link.scheme() != "tillkit" || link.host_str() != Some("pair") {
        return Err(not_ours());
    }
    let (mut code, mut server) = (None, None);
    for (key, value) in link.query_pairs() {
        let slot = match key.as_ref() {
            "code" => &mut code,
            "server" => &mut server,
            _ => continue,
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(Error::invalid(format!(
                "this pairing link gives its {key} twice: ask for a new code"
            )));
        }
    }
    let code = code
        .as_deref()
        .and_then(canonical_pairing_code)
        .ok_or_else(|| {
            Error::invalid("this pairing link holds no usable code: ask for a new one")
        })?;
    let server_url = match server {
        None => None,
        Some(server) => {
            let ok = url::Url::parse(&server)
                .is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some());
            if !ok {
                return Err(Error::invalid(
                    "this pairing link names a server that is not an http(s) address: ask for a new code",
                ));
            }
            Some(server)
        }
    };
    Ok(ScannedPairing {
        code: grouped_pairing_code(&code),
        server_url,
    })
}

fn is_missing_route(e: &SyncError) -> bool {
    matches!(e, SyncError::Refused { answer } if answer.status == 404 || answer.status == 405)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reads(text: &str) -> ScannedPairing {
        read_pairing_scan(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn refuses(text: &str) -> String {
        match read_pairing_scan(text) {
            Err(Error::InvalidInput { reason }) => reason,
            other => panic!("{text:?} should be refused: {other:?}"),
        }
    }

    #[test]
    fn a_scanned_code_or_pairing_link_gives_the_code_and_its_server_and_nothing_else_passes() {
        // A bare code, as printed, typed loosely or read by a scanner with a newline.
        for text in ["ABCD-EFGH-JKMN", " abcd efgh jkmn\n", "ABCDEFGHJKMN"] {
            assert_eq!(
                reads(text),
                ScannedPairing {
                    code: "ABCD-EFGH-JKMN".into(),
                    server_url: None
                },
                "{text:?}"
            );
        }
        // The link the admin command prints, through its own maker: the server survives
        // percent-encoding, a path and a port.
        let server = "https://sync.example:8443/tillkit/?a=b&c=d";
        let link = pairing_link(server, "ABCD-EFGH-JKMN");
        assert!(link.starts_with("tillkit://pair?code=ABCD-EFGH-JKMN&server=https%3A%2F%2F"));
        assert_eq!(
            reads(&link),
            ScannedPairing {
                code: "ABCD-EFGH-JKMN".into(),
                server_url: Some(server.into())
            }
        );
        // A link without a server, with an unknown parameter from a newer app, lower case.
        assert_eq!(
            reads("tillkit://pair?v=3&code=abcd-efgh-jkmn"),
            ScannedPairing {
                code: "ABCD-EFGH-JKMN".into(),
                server_url: None
            }
        );

        // Whatever else a QR code may hold is refused, naming what is wrong.
        for text in [
            "",
            "https://sync.example/pair?code=ABCD-EFGH-JKMN",
            "tillkit://other?code=ABCD-EFGH-JKMN",
            "ABCD-EFGH-JKM",
            "ABCD-EFGH-JKMN-P",
            "WIFI:S:shop;T:WPA;P:secret;;",
            &"A".repeat(MAX_SCAN_CHARS + 1),
        ] {
            assert!(
                refuses(text).contains("not a Tillkit pairing code"),
                "{text:?}"
            );
        }
        assert!(
            refuses("tillkit://pair?server=https%3A%2F%2Fs.example").contains("no usable code")
        );
        assert!(refuses("tillkit://pair?code=UUUU-UUUU-UUUU").contains("no usable code"));
        assert!(
            refuses("tillkit://pair?code=ABCD-EFGH-JKMN&code=0000-0000-0000")
                .contains("code twice")
        );
        for server in [
            "javascript%3Aalert(1)",
            "file%3A%2F%2F%2Fetc",
            "sync.example",
            "",
        ] {
            let text = format!("tillkit://pair?code=ABCD-EFGH-JKMN&server={server}");
            assert!(refuses(&text).contains("not an http(s) address"), "{text}");
        }
    }
}
