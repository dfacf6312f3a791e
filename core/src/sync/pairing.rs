//! Pairing: trades the one-time code an operator made for a register (`POST /v1/pair`) for
//! the register's token. It checks the answer and hands the token over; it never stores,
//! logs or prints a code or a token (the caller keeps the token, see `KeychainTokens`).

use zeroize::Zeroizing;

use super::SyncConfig;
use super::client::Client;
use super::error::SyncError;
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

fn is_missing_route(e: &SyncError) -> bool {
    matches!(e, SyncError::Refused { answer } if answer.status == 404 || answer.status == 405)
}
