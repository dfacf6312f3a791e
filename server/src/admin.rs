//! Operator actions as library calls (stores, registers and tokens, catalogue loads), used by
//! the CLI, the tests and the demo. It never prints or logs a token; callers decide.

use crate::auth::Token;
use crate::config::MAX_ID_CHARS;
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
    let catalog: CatalogFile = serde_json::from_value(value)
        .map_err(|e| StoreError::Invalid(format!("catalogue file: {e}")))?;
    load_catalog(store, store_id, &catalog).await
}
