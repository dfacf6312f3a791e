//! Who is selling where: a session is opened for (store, register, staff).
//! Sales and the queue are visible and uploadable only in a session of their store.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::limits;

/// An open cashier session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The store whose catalogue, sales and queue this session sees.
    pub store_id: String,
    /// The register's short code, used in receipt numbers (e.g. `R07`).
    pub register_id: String,
    /// The staff member ringing up sales.
    pub staff_id: String,
}

impl Session {
    /// Validates the identifiers (short, printable, non-empty).
    pub fn new(store_id: &str, register_id: &str, staff_id: &str) -> Result<Self> {
        for (what, v) in [
            ("store id", store_id),
            ("register id", register_id),
            ("staff id", staff_id),
        ] {
            if v.trim().is_empty()
                || v.chars().count() > limits::MAX_ID_CHARS
                || v.chars().any(char::is_control)
            {
                return Err(Error::invalid(format!(
                    "{what} must be 1 to {} printable characters",
                    limits::MAX_ID_CHARS
                )));
            }
        }
        Ok(Session {
            store_id: store_id.into(),
            register_id: register_id.into(),
            staff_id: staff_id.into(),
        })
    }
}
