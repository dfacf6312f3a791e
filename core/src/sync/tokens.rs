//! The register's tokens in the OS keychain: one entry per store, beside the database key
//! (same service, account `<database key account>.token.<store id>`), read on every start.
//! It never logs a token and never keeps one outside zeroizing buffers.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use zeroize::Zeroizing;

use super::Credentials;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::store::key::{install_platform_store, keychain_err, platform_entry, upgrade_protection};

/// What a store's keychain entry holds.
pub struct StoredToken {
    /// The register the token was issued for.
    pub register_id: String,
    token: Zeroizing<String>,
}

impl StoredToken {
    /// The bearer token.
    pub fn token(&self) -> &str {
        &self.token
    }
}

/// Each store's register token in the OS keychain, cached in memory once read.
/// Implements `Credentials`, so the sync engine asks it for a store's token every round: a
/// token saved by a pairing is used from the next round on, without a restart.
pub struct KeychainTokens {
    service: String,
    prefix: String,
    cache: Mutex<BTreeMap<String, Zeroizing<String>>>,
}

impl KeychainTokens {
    /// The tokens of the data directory `config` names (its keychain service and account);
    /// installs the platform's keychain store unless the app or a test set one.
    pub fn new(config: &Config) -> Result<Self> {
        install_platform_store()?;
        Ok(KeychainTokens {
            service: config.keychain_service.clone(),
            prefix: format!("{}.token.", config.keychain_account),
            cache: Mutex::new(BTreeMap::new()),
        })
    }

    fn entry(&self, store_id: &str) -> Result<keyring_core::Entry> {
        platform_entry(&self.service, &format!("{}{store_id}", self.prefix)).map_err(keychain_err)
    }

    /// Keeps `token` as the register `register_id`'s token for `store_id`, replacing any.
    pub fn save(&self, store_id: &str, register_id: &str, token: &str) -> Result<()> {
        if register_id.contains('\n') || token.contains('\n') {
            return Err(Error::invalid("a register id or token holds a line break"));
        }
        let secret = Zeroizing::new(format!("{token}\n{register_id}"));
        self.entry(store_id)?
            .set_secret(secret.as_bytes())
            .map_err(keychain_err)?;
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(store_id.to_string(), Zeroizing::new(token.to_string()));
        Ok(())
    }

    /// The token kept for `store_id`, if any. A stored entry this device cannot read is
    /// `KeyUnreadable` (e.g. moved to a new phone without its Keystore key): pair again.
    pub fn load(&self, store_id: &str) -> Result<Option<StoredToken>> {
        let secret = match self.entry(store_id)?.get_secret() {
            Ok(secret) => Zeroizing::new(secret),
            Err(keyring_core::Error::NoEntry) => return Ok(None),
            Err(
                e @ (keyring_core::Error::BadStoreFormat(_)
                | keyring_core::Error::BadDataFormat(..)),
            ) => return Err(Error::KeyUnreadable(e.to_string())),
            Err(e) => return Err(keychain_err(e)),
        };
        let text = std::str::from_utf8(&secret)
            .map_err(|_| Error::Keychain("the stored register token is malformed".into()))?;
        let (token, register_id) = text
            .split_once('\n')
            .filter(|(t, r)| !t.is_empty() && !r.is_empty())
            .ok_or_else(|| Error::Keychain("the stored register token is malformed".into()))?;
        upgrade_protection(&self.service, &format!("{}{store_id}", self.prefix));
        Ok(Some(StoredToken {
            register_id: register_id.to_string(),
            token: Zeroizing::new(token.to_string()),
        }))
    }

    /// Removes the token of `store_id` (the device leaves the store). Its unsent sales stay
    /// queued and wait for a new pairing.
    pub fn forget(&self, store_id: &str) -> Result<()> {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(store_id);
        match self.entry(store_id)?.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(keychain_err(e)),
        }
    }
}

impl Credentials for KeychainTokens {
    fn token(&self, store_id: &str) -> Option<Zeroizing<String>> {
        if let Some(token) = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(store_id)
        {
            return Some(token.clone());
        }
        match self.load(store_id) {
            Ok(Some(stored)) => {
                self.cache
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(store_id.to_string(), stored.token.clone());
                Some(stored.token)
            }
            // No token yet is not cached: a pairing saved through another handle counts.
            Ok(None) => None,
            Err(e) => {
                // The store shows "needs pairing"; the cause goes to the log.
                tracing::warn!(store = %store_id, error = %e, "register token unreadable");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_kept_per_store_beside_the_database_key_and_survive_a_new_handle() {
        keyring_core::set_default_store(keyring_core::mock::Store::new().unwrap());
        let dir = tempfile::tempdir().unwrap();
        let config = Config::new(dir.path());
        let tokens = KeychainTokens::new(&config).unwrap();
        assert!(tokens.token("s-a").is_none());
        tokens.save("s-a", "R1", "token-a").unwrap();
        tokens.save("s-b", "R7", "token-b").unwrap();
        // A new handle (the next start) reads them from the keychain.
        let again = KeychainTokens::new(&config).unwrap();
        assert_eq!(
            again.token("s-a").as_deref().map(String::as_str),
            Some("token-a")
        );
        let b = again.load("s-b").unwrap().unwrap();
        assert_eq!((b.register_id.as_str(), b.token()), ("R7", "token-b"));
        // Each entry is its own: the database key's account is untouched.
        let entry = keyring_core::Entry::new("app.tillkit", "database-key.token.s-a").unwrap();
        assert_eq!(entry.get_secret().unwrap(), b"token-a\nR1");
        assert!(matches!(
            keyring_core::Entry::new("app.tillkit", "database-key")
                .unwrap()
                .get_secret(),
            Err(keyring_core::Error::NoEntry)
        ));
        again.save("s-a", "R1", "token-a2").unwrap();
        assert_eq!(
            again.token("s-a").as_deref().map(String::as_str),
            Some("token-a2")
        );
        again.forget("s-a").unwrap();
        assert!(again.token("s-a").is_none());
        assert!(KeychainTokens::new(&config).unwrap().token("s-a").is_none());
        assert!(again.save("s-c", "R\n1", "t").is_err());
    }
}
