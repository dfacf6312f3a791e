//! The journal audit both backends answer: stored records in, one verified report per
//! register out, through the core's own verification. It never reads the database itself.

use std::collections::BTreeMap;

use tillkit_core::journal::{self, Entry};

use crate::config::MAX_AUDIT_ITEMS;
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

    /// Verifies every register's journal; each list of the answer holds at most
    /// `MAX_AUDIT_ITEMS` entries.
    pub(crate) fn finish(self, store_id: &str) -> JournalAudit {
        self.finish_capped(store_id, MAX_AUDIT_ITEMS)
    }

    fn finish_capped(self, store_id: &str, max: usize) -> JournalAudit {
        let mut registers: Vec<_> = self
            .registers
            .into_iter()
            .map(|(register_id, entries)| journal::verify(store_id, &register_id, entries, None))
            .collect();
        let mut unreadable = self.unreadable;
        let intact = unreadable.is_empty() && registers.iter().all(|r| r.intact);
        let mut omitted = cap(&mut unreadable, max);
        for r in &mut registers {
            omitted += cap(&mut r.unchained, max)
                + cap(&mut r.segments, max)
                + cap(&mut r.gaps, max)
                + cap(&mut r.skips, max)
                + cap(&mut r.reused_numbers, max)
                + cap(&mut r.forks, max)
                + cap(&mut r.breaks, max);
        }
        JournalAudit {
            store_id: store_id.to_string(),
            registers,
            unreadable,
            intact,
            omitted,
        }
    }
}

/// Cuts `list` to its first `max` entries; returns how many were cut.
fn cap<T>(list: &mut Vec<T>, max: usize) -> u64 {
    let cut = list.len().saturating_sub(max);
    list.truncate(max);
    cut as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{chained, d, product, sale, uk_catalog, uk_tax};

    #[test]
    fn a_journal_with_more_gaps_than_an_answer_holds_is_cut_and_says_how_many() {
        let c = uk_catalog();
        let sales: Vec<_> = (1..=20)
            .map(|seq| {
                sale(
                    &uk_tax(),
                    "s",
                    "R1",
                    seq,
                    &[(product(&c, "p-bread"), d("1"))],
                )
            })
            .collect();
        let mut rows = JournalRows::default();
        // Every other record arrives: nine gaps (2, 4, ... 18), and one unreadable record.
        for s in chained(sales).iter().step_by(2) {
            let text = crate::validate::canonical(s).expect("json");
            let hash = journal::record_hash(s).expect("hash");
            rows.add("R1".into(), &text, Some(hash), &s.sale_id.to_string());
        }
        rows.add("R1".into(), "{not json", None, "x");
        let full = clone_rows(&rows).finish_capped("s", 100);
        assert_eq!((full.registers[0].gaps.len(), full.omitted), (9, 0));
        let cut = rows.finish_capped("s", 4);
        assert_eq!(cut.registers[0].gaps.len(), 4);
        assert!(cut.registers[0].breaks.len() <= 4);
        let breaks_cut = full.registers[0].breaks.len().saturating_sub(4) as u64;
        assert_eq!(cut.omitted, 5 + breaks_cut);
        assert!(!cut.intact);
        assert_eq!(cut.unreadable, ["x"]);
    }

    fn clone_rows(rows: &JournalRows) -> JournalRows {
        JournalRows {
            registers: rows.registers.clone(),
            unreadable: rows.unreadable.clone(),
        }
    }
}
