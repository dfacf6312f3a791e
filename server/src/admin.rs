//! Operator actions as library calls (stores, registers and tokens, catalogue loads), used by
//! the CLI, the tests and the demo. It never prints or logs a token; callers decide.

use std::time::Duration;

use tillkit_core::time::now_ms;

use crate::auth::{PairingCode, Principal, Token};
use crate::config::{MAX_ID_CHARS, MAX_PAIRING_CODE_TTL};
use crate::error::StoreError;
use crate::protocol::CatalogFile;
use crate::store::{RegisterInfo, ServerStore};
use tillkit_core::offline_limits::{OfflineLimits, TenderLimits};

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
/// returns how many were revoked (0 for a register with no live token). An unknown register
/// is `RegisterNotFound`. Issue the new device its token with `create_register`.
pub async fn revoke_register(
    store: &dyn ServerStore,
    store_id: &str,
    register_id: &str,
) -> Result<u64, StoreError> {
    let revoked = store.revoke_register(store_id, register_id).await?;
    // Nothing revoked may be a typo in the register id: say so rather than "0 revoked".
    if revoked == 0
        && !store
            .registers(store_id)
            .await?
            .iter()
            .any(|r| r.register_id == register_id)
    {
        return Err(StoreError::RegisterNotFound {
            store_id: store_id.to_string(),
            register_id: register_id.to_string(),
        });
    }
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

/// Sets the store's offline limits (all of them at once: an absent one is no limit); the
/// registers receive them with their next catalogue pull. Returns the new catalogue cursor.
pub async fn set_offline_limits(
    store: &dyn ServerStore,
    store_id: &str,
    limits: &OfflineLimits,
) -> Result<String, StoreError> {
    limits
        .validate()
        .map_err(|e| StoreError::Invalid(format!("offline limits: {e}")))?;
    let cursor = store.set_offline_limits(store_id, limits).await?;
    tracing::info!(store = %store_id, cursor = %cursor, "offline limits set");
    Ok(cursor)
}

/// The `offline-limits` command's options, by tender: `--card-max-offline DURATION`,
/// `--card-max-sale AMOUNT`, `--card-max-total AMOUNT` and the same for `cash`.
pub const OFFLINE_LIMIT_OPTIONS: [&str; 6] = [
    "card-max-offline",
    "card-max-sale",
    "card-max-total",
    "cash-max-offline",
    "cash-max-sale",
    "cash-max-total",
];

/// Offline limits from the command's options (`option` gives the value of one, if given):
/// an option not given is no limit. Durations are a number with `s`, `m`, `h` or `d`.
pub fn offline_limits_from(
    option: impl Fn(&str) -> Option<String>,
) -> Result<OfflineLimits, StoreError> {
    let amount = |key: &str| -> Result<Option<rust_decimal::Decimal>, StoreError> {
        option(key)
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|_| StoreError::Invalid(format!("--{key}: {v:?} is not an amount")))
            })
            .transpose()
    };
    let duration = |key: &str| -> Result<Option<u64>, StoreError> {
        option(key)
            .map(|v| {
                parse_duration_secs(&v).ok_or_else(|| {
                    StoreError::Invalid(format!(
                        "--{key}: {v:?} is not a duration (e.g. 90s, 30m, 24h, 2d)"
                    ))
                })
            })
            .transpose()
    };
    let tender = |t: &str| -> Result<TenderLimits, StoreError> {
        Ok(TenderLimits {
            max_offline_secs: duration(&format!("{t}-max-offline"))?,
            max_sale: amount(&format!("{t}-max-sale"))?,
            max_total: amount(&format!("{t}-max-total"))?,
        })
    };
    Ok(OfflineLimits {
        card: tender("card")?,
        cash: tender("cash")?,
    })
}

/// Seconds in `90s`, `30m`, `24h` or `2d`.
pub fn parse_duration_secs(text: &str) -> Option<u64> {
    let text = text.trim();
    let unit = match text.chars().last()? {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    let n: u64 = text[..text.len() - 1].parse().ok()?;
    n.checked_mul(unit)
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

    #[test]
    fn offline_limits_come_from_the_options_given_and_nothing_else() {
        let given = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let l = offline_limits_from(given(&[
            ("card-max-offline", "24h"),
            ("card-max-sale", "200.00"),
            ("cash-max-total", "1500"),
        ]))
        .expect("limits");
        assert_eq!(l.card.max_offline_secs, Some(86_400));
        assert_eq!(l.card.max_sale, Some(rust_decimal::Decimal::new(20000, 2)));
        assert_eq!(l.card.max_total, None);
        assert_eq!(l.cash.max_total, Some(rust_decimal::Decimal::from(1500)));
        assert!(offline_limits_from(given(&[])).expect("none").is_empty());
        assert!(offline_limits_from(given(&[("card-max-offline", "24")])).is_err());
        assert!(offline_limits_from(given(&[("cash-max-sale", "lots")])).is_err());
        assert_eq!(parse_duration_secs("90s"), Some(90));
        assert_eq!(parse_duration_secs("2d"), Some(172_800));
        assert_eq!(parse_duration_secs("m"), None);
    }

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
