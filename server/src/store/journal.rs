//! The journal audit both backends answer: stored records in, one verified report per
//! register out, through the core's own verification. It never reads the database itself.

use std::collections::BTreeMap;

use tillkit_core::journal::{self, Entry};

use crate::protocol::JournalAudit;

/// Collects a store's stored records, register by register, as a backend reads them.
#[derive(Default)]
pub(crate) struct JournalRows {
    registers: BTreeMap<String, Vec<Entry>>,
    unreadable: Vec<String>,
}

impl JournalRows {
    /// Adds one stored record: its register, its text as stored, the hash it had on arrival
    /// (`None` for records stored before the server kept it) and its id (to name it).
    pub(crate) fn add(
        &mut self,
        register_id: String,
        record: &str,
        record_hash: Option<String>,
        record_id: &str,
    ) {
        let entry = serde_json::from_str(record)
            .map_err(|e| journal::CanonicalError(e.to_string()))
            .and_then(|value| Entry::from_value(&value, record_hash));
        match entry {
            Ok(e) => self.registers.entry(register_id).or_default().push(e),
            Err(e) => {
                tracing::warn!(record = record_id, error = %e, "stored record unreadable for the journal audit");
                self.unreadable.push(record_id.to_string());
            }
        }
    }

    /// Verifies every register's journal.
    pub(crate) fn finish(self, store_id: &str) -> JournalAudit {
        let registers: Vec<_> = self
            .registers
            .into_iter()
            .map(|(register_id, entries)| journal::verify(store_id, &register_id, entries, None))
            .collect();
        let intact = self.unreadable.is_empty() && registers.iter().all(|r| r.intact);
        JournalAudit {
            store_id: store_id.to_string(),
            registers,
            unreadable: self.unreadable,
            intact,
        }
    }
}
