//! Operator actions as library calls (stores, registers and tokens, catalogue loads), used by
//! the CLI, the tests and the demo. It never prints or logs a token; callers decide.

use std::time::Duration;

use tillkit_core::time::now_ms;

use crate::auth::{PairingCode, Principal, Token};
use crate::config::{MAX_ID_CHARS, MAX_PAIRING_CODE_TTL};
use crate::error::StoreError;
use crate::protocol::CatalogFile;
use crate::store::{RegisterInfo, ServerStore};

/// Refuses ids a device session would refuse: 1 to 64 printable characters.
fn check_id(what: &str, id: &str) -> Result<(), StoreError> {
    if id.trim().is_empty() || id.chars().count() > MAX_ID_CHARS || id.chars().any(char::is_control)
    {
        return Err(StoreError::Invalid(format!(
            "{what} must be 1 to {MAX_ID_CHARS} printable characters"
        )));
    }
    Ok(())
}

/// Creates an empty store; load a catalogue before registers can upload.
pub async fn create_store(
    store: &dyn ServerStore,
    store_id: &str,
    name: &str,
) -> Result<(), StoreError> {
    check_id("store id", store_id)?;
    if name.trim().is_empty() || name.chars().count() > crate::config::MAX_TEXT_CHARS {
        return Err(StoreError::Invalid(
            "store name must not be empty or too long".into(),
        ));
    }
    store.create_store(store_id, name).await?;
    tracing::info!(store = %store_id, "store created");
    Ok(())
}

/// Creates the register if new and issues a new bearer token for it. Calling it again for
/// the same register issues another token (e.g. for a replaced device); revoke the old one.
pub async fn create_register(
    store: &dyn ServerStore,
    store_id: &str,
    register_id: &str,
) -> Result<Token, StoreError> {
    check_id("register id", register_id)?;
    let token = Token::generate()?;
    store
        .add_register_token(store_id, register_id, &token.hash())
        .await?;
    tracing::info!(store = %store_id, register = %register_id, "register token issued");
    Ok(token)
}

/// A one-time pairing code for the register (registered if new), live for `ttl`: shown
/// once to the operator, who reads or shows it to the device; only its digest is stored.
/// Returns the code and when it expires (Unix ms, server clock).
pub async fn pair_register(
    store: &dyn ServerStore,
    store_id: &str,
    register_id: &str,
    ttl: Duration,
) -> Result<(PairingCode, i64), StoreError> {
    check_id("register id", register_id)?;
    if ttl.is_zero() || ttl > MAX_PAIRING_CODE_TTL {
        return Err(StoreError::Invalid(format!(
            "a pairing code lives from 1 minute to {} hours",
            MAX_PAIRING_CODE_TTL.as_secs() / 3600
        )));
    }
    let code = PairingCode::generate()?;
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let expires_at = now_ms().saturating_add(ttl_ms);
    store
        .add_pairing_code(store_id, register_id, &code.hash(), expires_at)
        .await?;
    tracing::info!(store = %store_id, register = %register_id, expires_at, "pairing code made");
    Ok((code, expires_at))
}

/// Trades a pairing code as the device sent it for a fresh token of its register; the
/// register's earlier tokens are revoked in the same transaction (one register, one
/// device). `None` for a code that is malformed, unknown, expired or used.
pub async fn redeem_pairing_code(
    store: &dyn ServerStore,
    code: &str,
) -> Result<Option<(Principal, Token)>, StoreError> {
    let Some(code) = PairingCode::parse(code) else {
        return Ok(None);
    };
    let token = Token::generate()?;
    let principal = store
        .redeem_pairing_code(&code.hash(), &token.hash(), now_ms())
        .await?;
    if let Some(p) = &principal {
        tracing::info!(store = %p.store_id, register = %p.register_id, "register paired; its earlier tokens revoked");
    }
    Ok(principal.map(|p| (p, token)))
}

/// Revokes every live token of a register at once (a lost, stolen or replaced device);
/// returns how many were revoked. Issue the new device its token with `create_register`.
pub async fn revoke_register(
    store: &dyn ServerStore,
    store_id: &str,
    register_id: &str,
) -> Result<u64, StoreError> {
    let revoked = store.revoke_register(store_id, register_id).await?;
    tracing::info!(store = %store_id, register = %register_id, revoked, "register tokens revoked");
    Ok(revoked)
}

/// The store's registers and their tokens' state.
pub async fn registers(
    store: &dyn ServerStore,
    store_id: &str,
) -> Result<Vec<RegisterInfo>, StoreError> {
    store.registers(store_id).await
}

/// Revokes a token at once; `false` when it was unknown or already revoked.
pub async fn revoke_token(store: &dyn ServerStore, token: &str) -> Result<bool, StoreError> {
    let Some(token) = Token::parse(token.trim()) else {
        return Ok(false);
    };
    let revoked = store.revoke_token(&token.hash()).await?;
    tracing::info!(revoked, "token revocation");
    Ok(revoked)
}

/// Loads a whole catalogue into a store; returns the new cursor.
pub async fn load_catalog(
    store: &dyn ServerStore,
    store_id: &str,
    catalog: &CatalogFile,
) -> Result<String, StoreError> {
    store.load_catalog(store_id, catalog).await
}

/// Loads a catalogue given as JSON (the `load-catalog` file format); returns the new cursor.
pub async fn load_catalog_json(
    store: &dyn ServerStore,
    store_id: &str,
    value: serde_json::Value,
) -> Result<String, StoreError> {
    let catalog: CatalogFile = serde_json::from_value(value.clone())
        .map_err(|e| StoreError::Invalid(format!("catalogue file: {e}")))?;
    // Devices ignore fields they do not know; an operator's file is held to the format,
    // so a misspelt field is refused rather than silently dropped.
    let known = serde_json::to_value(&catalog)
        .map_err(|e| StoreError::Invalid(format!("catalogue file: {e}")))?;
    if let Some(path) = unknown_field(&value, &known, "") {
        return Err(StoreError::Invalid(format!(
            "catalogue file: unknown field `{path}`"
        )));
    }
    load_catalog(store, store_id, &catalog).await
}

/// The path of the first key of `given` that its re-encoding `known` does not have.
fn unknown_field(given: &serde_json::Value, known: &serde_json::Value, at: &str) -> Option<String> {
    use serde_json::Value;
    match (given, known) {
        (Value::Object(g), Value::Object(k)) => g.iter().find_map(|(key, v)| match k.get(key) {
            None => Some(format!("{at}{key}")),
            Some(kv) => unknown_field(v, kv, &format!("{at}{key}.")),
        }),
        (Value::Array(g), Value::Array(k)) => g
            .iter()
            .zip(k)
            .enumerate()
            .find_map(|(i, (gv, kv))| unknown_field(gv, kv, &format!("{at}{i}."))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_misspelt_field_anywhere_in_an_operators_catalogue_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open_async(&dir.path().join("s.db"))
            .await
            .expect("store");
        create_store(&store, "s", "Shop").await.expect("store");
        let good = serde_json::to_value(crate::testkit::uk_catalog()).expect("json");
        load_catalog_json(&store, "s", good.clone())
            .await
            .expect("the file as written loads");
        type Tamper = fn(&mut serde_json::Value);
        let cases: [(&str, Tamper); 3] = [
            ("products.0.stok", |v| v["products"][0]["stok"] = 3.into()),
            ("tax.rates.0.compund", |v| {
                v["tax"]["rates"][0]["compund"] = true.into()
            }),
            ("colour", |v| v["colour"] = "red".into()),
        ];
        for (path, tamper) in cases {
            let mut bad = good.clone();
            tamper(&mut bad);
            let err = load_catalog_json(&store, "s", bad).await.expect_err(path);
            assert!(err.to_string().contains(&format!("`{path}`")), "{err}");
        }
    }
}
