//! Register tokens and one-time pairing codes (generation, hashing, parsing) and the per-IP
//! limit on failed authentications and pairings. Raw tokens and codes never reach storage or
//! a log line; only their digests do.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use sha2::{Digest, Sha256};
use tillkit_core::sync::protocol::{
    PAIRING_CODE_ALPHABET as CODE_ALPHABET, PAIRING_CODE_SYMBOLS as CODE_SYMBOLS,
    canonical_pairing_code, grouped_pairing_code,
};

use crate::config::ServerConfig;
use crate::error::StoreError;

/// Random bytes in a token: 256 bits, so digests need no salt or slow hash.
const TOKEN_BYTES: usize = 32;

/// A register's bearer token as handed to the device (64 lowercase hex characters).
/// Its `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// A new random token.
    pub fn generate() -> Result<Token, StoreError> {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes)
            .map_err(|e| StoreError::Backend(format!("no randomness: {e}")))?;
        Ok(Token(hex(&bytes)))
    }

    /// Parses a token as a client presented it; `None` when it cannot be one of ours.
    pub fn parse(s: &str) -> Option<Token> {
        let ok =
            s.len() == TOKEN_BYTES * 2 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| Token(s.to_string()))
    }

    /// The secret, to print once for the operator.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The digest stored in place of the token.
    pub fn hash(&self) -> TokenHash {
        TokenHash(hex(&Sha256::digest(self.0.as_bytes())))
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// SHA-256 of a token, hex: what backends store and look up.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A one-time pairing code as shown to the operator (`ABCD-EFGH-JKMN`). Its `Debug` never
/// shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct PairingCode(String);

impl PairingCode {
    /// A new random code.
    pub fn generate() -> Result<PairingCode, StoreError> {
        let mut bytes = [0u8; CODE_SYMBOLS];
        getrandom::fill(&mut bytes)
            .map_err(|e| StoreError::Backend(format!("no randomness: {e}")))?;
        // 256 is a multiple of 32: every symbol is equally likely.
        let symbols = bytes
            .iter()
            .map(|b| CODE_ALPHABET[usize::from(b % 32)] as char)
            .collect();
        Ok(PairingCode(symbols))
    }

    /// Parses a code as a person typed or a scanner read it (see `canonical_pairing_code`).
    /// `None` when it cannot be one of ours.
    pub fn parse(s: &str) -> Option<PairingCode> {
        canonical_pairing_code(s).map(PairingCode)
    }

    /// The code in groups of four, to show the operator once.
    pub fn display(&self) -> String {
        grouped_pairing_code(&self.0)
    }

    /// The digest stored in place of the code (domain-separated from token digests).
    pub fn hash(&self) -> TokenHash {
        let mut digest = Sha256::new();
        digest.update(b"tillkit-pairing-code:");
        digest.update(self.0.as_bytes());
        TokenHash(hex(&digest.finalize()))
    }
}

impl fmt::Debug for PairingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PairingCode(<redacted>)")
    }
}

/// Who a valid token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The one store the token is bound to.
    pub store_id: String,
    /// The register it was issued for.
    pub register_id: String,
}

/// The token of an `Authorization: Bearer <token>` header, if well formed.
pub fn bearer(headers: &HeaderMap) -> Option<Token> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    Token::parse(token.trim())
}

/// Bits of an IPv6 address that name one client for the limiter: a /64 is one subscriber's
/// network (RFC 6177), whose owner picks from 2^64 addresses at will.
const IPV6_CLIENT_PREFIX: u32 = 64;

/// The key a peer's failures count under: an IPv4 address (an IPv4-mapped one too) as it
/// is, an IPv6 address by its /64.
fn limited_as(peer: IpAddr) -> IpAddr {
    match peer.to_canonical() {
        IpAddr::V6(v6) => {
            let mask = u128::MAX << (128 - IPV6_CLIENT_PREFIX);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
        v4 => v4,
    }
}

/// Counts failed authentications per client in fixed windows (an IPv4 address, an IPv6 /64).
#[derive(Debug)]
pub struct FailureLimiter {
    max_failures: u32,
    window: Duration,
    max_peers: usize,
    peers: Mutex<HashMap<IpAddr, Window>>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

impl FailureLimiter {
    /// A limiter with the config's thresholds.
    pub fn new(config: &ServerConfig) -> Self {
        FailureLimiter {
            max_failures: config.auth_failures_per_window,
            window: config.auth_failure_window,
            max_peers: config.auth_tracked_peers.max(1),
            peers: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` when the peer used up its failures in the current window.
    pub fn check(&self, peer: IpAddr) -> Result<(), Duration> {
        let peer = limited_as(peer);
        let now = Instant::now();
        let peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        match peers.get(&peer) {
            Some(w) if w.failures >= self.max_failures => {
                let ends = w.started + self.window;
                if ends > now { Err(ends - now) } else { Ok(()) }
            }
            _ => Ok(()),
        }
    }

    /// Counts one failed authentication from `peer`.
    pub fn record_failure(&self, peer: IpAddr) {
        let peer = limited_as(peer);
        let now = Instant::now();
        // A poisoned map only holds counters; keep using it rather than failing open.
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        if peers.len() >= self.max_peers && !peers.contains_key(&peer) {
            peers.retain(|_, w| now.duration_since(w.started) < self.window);
            if peers.len() >= self.max_peers {
                // Still full of live windows: forget the oldest so memory stays bounded.
                if let Some(oldest) = peers
                    .iter()
                    .min_by_key(|(_, w)| w.started)
                    .map(|(ip, _)| *ip)
                {
                    peers.remove(&oldest);
                }
            }
        }
        let w = peers.entry(peer).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now.duration_since(w.started) >= self.window {
            *w = Window {
                started: now,
                failures: 0,
            };
        }
        w.failures = w.failures.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_hash_stably() {
        let t = Token::generate().expect("randomness");
        assert_eq!(t.expose().len(), 64);
        let parsed = Token::parse(t.expose()).expect("own token parses");
        assert_eq!(parsed.hash(), t.hash());
        assert_ne!(t.hash().as_str(), t.expose());
        assert!(!format!("{t:?}").contains(t.expose()));
    }

    #[test]
    fn sha256_digest_matches_the_known_vector() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            hex(&Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn malformed_tokens_are_not_tokens() {
        for s in ["", "abc", &"A".repeat(64), &"g".repeat(64), &"a".repeat(65)] {
            assert!(Token::parse(s).is_none(), "{s:?}");
        }
    }

    #[test]
    fn pairing_codes_survive_typing_and_nothing_else_parses() {
        let code = PairingCode::generate().expect("randomness");
        let shown = code.display();
        assert_eq!(shown.len(), 14, "{shown}");
        assert_eq!(PairingCode::parse(&shown), Some(code.clone()));
        let typed = format!(" {} ", shown.to_lowercase().replace('-', " "));
        assert_eq!(
            PairingCode::parse(&typed).map(|c| c.hash()),
            Some(code.hash())
        );
        assert_eq!(
            PairingCode::parse("0OIL-1111-2222").map(|c| c.hash()),
            PairingCode::parse("0011-1111-2222").map(|c| c.hash())
        );
        for bad in [
            "",
            "ABCD-EFGH-JKM",
            "ABCD-EFGH-JKMNP",
            "ABCD-EFGH-JKMU",
            "ÄBCD-EFGH-JKMN",
        ] {
            assert!(PairingCode::parse(bad).is_none(), "{bad:?}");
        }
        assert!(!format!("{code:?}").contains(&shown));
        assert_ne!(code.hash().as_str(), Token(code.0.clone()).hash().as_str());
    }

    #[test]
    fn limiter_blocks_after_the_threshold_and_forgets_after_the_window() {
        let config = ServerConfig {
            auth_failures_per_window: 3,
            auth_failure_window: Duration::from_millis(200),
            ..ServerConfig::default()
        };
        let limiter = FailureLimiter::new(&config);
        let ip: IpAddr = [10, 0, 0, 1].into();
        let other: IpAddr = [10, 0, 0, 2].into();
        for _ in 0..3 {
            assert!(limiter.check(ip).is_ok());
            limiter.record_failure(ip);
        }
        assert!(limiter.check(ip).is_err());
        assert!(limiter.check(other).is_ok());
        std::thread::sleep(Duration::from_millis(250));
        assert!(limiter.check(ip).is_ok());
    }

    #[test]
    fn an_ipv6_guesser_cannot_escape_the_limit_by_changing_addresses_in_its_64() {
        let config = ServerConfig {
            auth_failures_per_window: 3,
            ..ServerConfig::default()
        };
        let limiter = FailureLimiter::new(&config);
        for i in 1..=3u16 {
            let hop: IpAddr = format!("2001:db8:1:2::{i:x}").parse().expect("ip");
            assert!(limiter.check(hop).is_ok());
            limiter.record_failure(hop);
        }
        let fresh: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().expect("ip");
        assert!(
            limiter.check(fresh).is_err(),
            "the same /64 is the same client"
        );
        let neighbour: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert!(
            limiter.check(neighbour).is_ok(),
            "another /64 is another client"
        );
        // IPv4 stays per address, IPv4-mapped counts as the IPv4 address.
        let v4: IpAddr = [192, 0, 2, 1].into();
        for _ in 0..3 {
            limiter.record_failure("::ffff:192.0.2.1".parse().expect("ip"));
        }
        assert!(limiter.check(v4).is_err());
        assert!(limiter.check([192, 0, 2, 2].into()).is_ok());
    }

    #[test]
    fn limiter_memory_stays_bounded() {
        let config = ServerConfig {
            auth_tracked_peers: 4,
            ..ServerConfig::default()
        };
        let limiter = FailureLimiter::new(&config);
        for i in 0..100u8 {
            limiter.record_failure([10, 0, 1, i].into());
        }
        assert!(limiter.peers.lock().expect("not poisoned").len() <= 4);
    }
}
