//! The tamper-evident journal: every record of a register (sale, refund) carries its number
//! and the SHA-256 of the previous record's canonical bytes, so a record changed, removed or
//! slipped in afterwards shows. This module defines the canonical bytes, the link and the
//! genesis values, and verifies journals (`verify`); it never reads storage or the clock
//! (the device's side of it is `ledger`). See docs/ARCHITECTURE.md, "The journal".

pub(crate) mod ledger;
mod text;
mod verify;

use ring::digest::{SHA256, digest};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

pub use ledger::{JOURNAL_EXPORT_FORMAT, JournalExport, JournalHeader};
pub use verify::{
    Break, BreakKind, Entry, Fork, RecordRef, RegisterReport, SegmentReport, SeqRange, verify,
    verify_export,
};

/// What every genesis value hashes besides the store, the register and the segment id, so
/// no other Tillkit hash can ever equal one.
pub const GENESIS_DOMAIN: &str = "tillkit-journal-genesis-v1";

/// Where a record sits in its register's journal: the record before it (its number and the
/// SHA-256 of its canonical bytes) or, for the first record of a segment, the segment's
/// genesis value. Part of the record, so part of what the next record hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalLink {
    /// Number (`seq`) of the previous record; 0 when `prev` is a genesis value.
    pub prev_seq: u64,
    /// Lowercase hex SHA-256 of the previous record's canonical bytes, or the genesis value.
    pub prev: String,
    /// Set on the first record of a segment only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<SegmentStart>,
    /// Numbers this register's counter passed over just before this record: after a
    /// recovery, a fresh start or a reset receipt book it continues after every number it
    /// may have issued (its keychain's reservation, the server's highest), and none of
    /// those it skipped is issued by this chain. They run from the number after `prev_seq`
    /// (after the segment's `after`, or from 1, for a segment's first record) to the one
    /// before this record's; the audit reports them as a skip, not a gap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<SeqRange>,
}

/// The opening of a journal segment: a chain that starts from a genesis value rather than
/// from an earlier record. A register's first segment is normal; every later one is a
/// restart the auditor sees, with the device's reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentStart {
    /// Random id; the genesis value is made from it, so no two segments share one.
    pub id: Uuid,
    /// Why the chain starts here.
    pub reason: SegmentReason,
    /// The newest record of this register the device still held when the segment opened
    /// (a record made before the journal existed), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Anchor>,
    /// Words for the auditor (e.g. why the store was started fresh).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Why a segment opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentReason {
    /// The register's first record on this device: nothing came before it here.
    NewRegister,
    /// The first record after an update that brought the journal: the register's earlier
    /// records on this device carry no link (`after` names the newest of them).
    JournalStarted,
    /// A person confirmed starting the store fresh after damage: earlier records of this
    /// device are gone from it.
    FreshStart,
    /// The store was salvaged after damage and none of this register's records survived.
    Recovered,
}

/// A record named by its number and hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    /// The record's `seq`.
    pub seq: u64,
    /// Lowercase hex SHA-256 of its canonical bytes.
    pub hash: String,
}

/// Why a record could not be put in canonical form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a journal record: {0}")]
pub struct CanonicalError(pub String);

/// The canonical bytes of a JSON value, as hashed by the journal (RFC 8785, JCS, for the
/// values records hold): no whitespace; object members sorted by their names' UTF-16 code
/// units; strings in UTF-8 with only `"`, `\` and U+0000..U+001F escaped (`\b \t \n \f \r`,
/// else `\u00xx` in lowercase hex); `true`, `false`, `null`; numbers are integers written
/// in plain decimal digits (records hold amounts as strings, so a fraction or an exponent
/// is refused rather than rounded).
pub fn canonical_bytes(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::with_capacity(1024);
    write_canonical(value, &mut out)?;
    Ok(out)
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            let text = match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => u.to_string(),
                (None, Some(i)) => i.to_string(),
                _ => return Err(CanonicalError(format!("number {n} is not an integer"))),
            };
            out.extend_from_slice(text.as_bytes());
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(members) => {
            let mut keys: Vec<&String> = members.keys().collect();
            // JCS orders by UTF-16 code units, which differs from byte order above U+FFFF.
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_canonical(&members[key], out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\r' => out.extend_from_slice(b"\\r"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = digest(&SHA256, bytes);
    let mut hex = String::with_capacity(64);
    for b in d.as_ref() {
        hex.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
    }
    hex
}

/// The journal hash of a record given as its JSON value.
pub fn value_hash(value: &Value) -> Result<String, CanonicalError> {
    Ok(sha256_hex(&canonical_bytes(value)?))
}

/// The journal hash of a record: SHA-256 of the canonical bytes of its JSON form (the form
/// stored, uploaded and exported), its own link included.
pub fn record_hash<T: Serialize>(record: &T) -> Result<String, CanonicalError> {
    let text = serde_json::to_vec(record).map_err(|e| CanonicalError(e.to_string()))?;
    text_hash(&text)
}

/// The journal hash of a record given as its JSON text (as stored or uploaded). The same as
/// `value_hash` of the parsed text; serde_json's own output takes a path that builds no
/// `Value`.
pub fn text_hash(text: &[u8]) -> Result<String, CanonicalError> {
    match text::canonical(text) {
        Some(bytes) => Ok(sha256_hex(&bytes)),
        None => {
            let value: Value =
                serde_json::from_slice(text).map_err(|e| CanonicalError(e.to_string()))?;
            value_hash(&value)
        }
    }
}

/// The genesis value a segment's first record links to: the hash of the canonical bytes of
/// `{"domain": GENESIS_DOMAIN, "register_id": ..., "segment": <id>, "store_id": ...}`.
pub fn genesis(store_id: &str, register_id: &str, segment: Uuid) -> String {
    let value = serde_json::json!({
        "domain": GENESIS_DOMAIN,
        "store_id": store_id,
        "register_id": register_id,
        "segment": segment.to_string(),
    });
    // Strings only: canonical form cannot fail.
    sha256_hex(&canonical_bytes(&value).unwrap_or_default())
}

/// True for 64 lowercase hex digits, the form of every journal hash.
pub fn is_hash(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_bytes_sort_members_and_drop_whitespace() {
        let v: Value =
            serde_json::from_str(r#"{ "b": [1, true, null], "a": {"y": "2", "x": -3} }"#)
                .expect("json");
        let bytes = canonical_bytes(&v).expect("canonical");
        assert_eq!(
            String::from_utf8(bytes).expect("utf8"),
            r#"{"a":{"x":-3,"y":"2"},"b":[1,true,null]}"#
        );
    }

    #[test]
    fn canonical_strings_escape_only_what_jcs_escapes() {
        let v = Value::String("q\"b\\ \u{1}\n\u{7f} é €".into());
        let bytes = canonical_bytes(&v).expect("canonical");
        assert_eq!(
            String::from_utf8(bytes).expect("utf8"),
            "\"q\\\"b\\\\ \\u0001\\n\u{7f} é €\""
        );
    }

    #[test]
    fn members_are_ordered_by_utf16_code_units_as_jcs_says() {
        // U+1F600 (surrogates D83D DE00) sorts before U+FB01 in UTF-16, after it in UTF-8.
        let mut m = serde_json::Map::new();
        m.insert("\u{fb01}".into(), Value::from(1));
        m.insert("\u{1f600}".into(), Value::from(2));
        let bytes = canonical_bytes(&Value::Object(m)).expect("canonical");
        assert_eq!(
            String::from_utf8(bytes).expect("utf8"),
            "{\"\u{1f600}\":2,\"\u{fb01}\":1}"
        );
    }

    #[test]
    fn a_fraction_is_refused_rather_than_rounded() {
        let v: Value = serde_json::from_str(r#"{"a": 1.5}"#).expect("json");
        assert!(canonical_bytes(&v).is_err());
    }

    #[test]
    fn the_hash_is_the_sha256_of_the_canonical_bytes() {
        // `echo -n '{"a":1}' | sha256sum`
        let v: Value = serde_json::from_str(r#"{ "a" : 1 }"#).expect("json");
        assert_eq!(
            value_hash(&v).expect("hash"),
            "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
        );
    }

    #[test]
    fn genesis_values_differ_by_store_register_and_segment() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        let g = genesis("s", "R1", a);
        assert!(is_hash(&g));
        assert_ne!(g, genesis("s", "R2", a));
        assert_ne!(g, genesis("t", "R1", a));
        assert_ne!(g, genesis("s", "R1", b));
        assert_eq!(g, genesis("s", "R1", a));
    }
}
