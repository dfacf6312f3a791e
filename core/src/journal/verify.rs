//! Verifying one register's journal from its records, in any order: gaps (a number never
//! seen), forks (two records claiming one predecessor), breaks (a link or a stored record
//! that does not hash as it should) and segment restarts. Pure; the device's export and the
//! server's audit both call it, so they cannot judge a journal differently.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    Anchor, CanonicalError, JournalExport, JournalLink, SegmentReason, genesis, is_hash, value_hash,
};

/// A record as the verification names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RecordRef {
    /// Its number in the register's sequence.
    pub seq: u64,
    /// `sale` or `refund`.
    pub kind: String,
    /// Its id (`sale_id` or `refund_id`).
    pub record_id: String,
    /// Its receipt number.
    pub receipt_no: String,
}

/// One record to verify: who it is, what it hashes to now and where it says it belongs.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub record: RecordRef,
    /// SHA-256 of its canonical bytes as it is now.
    pub hash: String,
    /// Its link; `None` for a record made before the journal existed.
    pub link: Option<JournalLink>,
    /// Why its `journal` field could not be read, if it could not.
    pub bad_link: Option<String>,
    /// What it hashed to when it was received (the server keeps that): a stored record
    /// that no longer does was changed in storage.
    pub recorded_hash: Option<String>,
}

impl Entry {
    /// Reads a record's JSON value: its number, ids, link, and hash.
    pub fn from_value(
        value: &Value,
        recorded_hash: Option<String>,
    ) -> Result<Entry, CanonicalError> {
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
        let kind = if value.get("kind").and_then(Value::as_str) == Some("refund") {
            "refund"
        } else {
            "sale"
        };
        let id_key = if kind == "refund" {
            "refund_id"
        } else {
            "sale_id"
        };
        let seq = value
            .get("seq")
            .and_then(Value::as_u64)
            .ok_or_else(|| CanonicalError("the record has no seq".into()))?;
        let (link, bad_link) = match value.get("journal") {
            None | Some(Value::Null) => (None, None),
            Some(j) => match serde_json::from_value::<JournalLink>(j.clone()) {
                Ok(link) if is_hash(&link.prev) => (Some(link), None),
                Ok(link) => (
                    None,
                    Some(format!("prev {:?} is not a SHA-256 hash", link.prev)),
                ),
                Err(e) => (None, Some(e.to_string())),
            },
        };
        Ok(Entry {
            record: RecordRef {
                seq,
                kind: kind.into(),
                record_id: text(id_key).unwrap_or_default(),
                receipt_no: text("receipt_no").unwrap_or_default(),
            },
            hash: value_hash(value)?,
            link,
            bad_link,
            recorded_hash,
        })
    }
}

/// Numbers `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeqRange {
    pub first: u64,
    pub last: u64,
}

/// Two or more records that claim the same predecessor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fork {
    /// The number of the predecessor they claim (0: a genesis value).
    pub prev_seq: u64,
    /// The predecessor's hash they claim.
    pub prev: String,
    /// The records claiming it.
    pub records: Vec<RecordRef>,
}

/// What kind of break was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// The record's link names a predecessor hash that the record with that number does
    /// not have: the predecessor was changed (or this record's link was).
    LinkMismatch,
    /// A segment's first record does not link to its genesis value.
    Genesis,
    /// A segment names the record it followed, and that record hashes otherwise.
    AfterMismatch,
    /// The stored record no longer hashes to what it did when it was received or when it
    /// became the register's head: it was changed in storage.
    Altered,
    /// The link itself is unreadable or points forward.
    BadLink,
    /// A record says the register skipped numbers before it, and the skip does not fit its
    /// link (it must run from the number after the record it follows to the one before its
    /// own).
    SkipMismatch,
}

/// A place where the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Break {
    pub kind: BreakKind,
    /// The record where it shows.
    pub record: RecordRef,
    /// The other record involved: for `link_mismatch` and `after_mismatch` the predecessor
    /// that does not hash as claimed (the one changed, unless the link itself was).
    pub predecessor: Option<RecordRef>,
    /// In words.
    pub detail: String,
}

/// One segment of the journal: a chain from a genesis value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentReport {
    pub id: String,
    pub reason: SegmentReason,
    /// Its first record.
    pub start: RecordRef,
    /// The record it says it followed, if any.
    pub after: Option<Anchor>,
    /// Whether that record is here and hashes as the segment says (`None`: not here).
    pub after_verified: Option<bool>,
    /// Not the register's first segment, or one the device opened after losing records:
    /// the journal was started again here.
    pub restart: bool,
    pub note: Option<String>,
}

/// The verdict on one register's journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterReport {
    pub store_id: String,
    pub register_id: String,
    /// Records verified.
    pub records: u64,
    /// Numbers of records made before the journal existed (no link): not chained.
    pub unchained: Vec<SeqRange>,
    /// Every segment, in the order of their first record.
    pub segments: Vec<SegmentReport>,
    /// Numbers between 1 and the highest seen that no record has and no recorded skip
    /// covers: missing records.
    pub gaps: Vec<SeqRange>,
    /// Numbers a record says the register skipped just before it (after a recovery, a fresh
    /// start or a reset receipt book it continues after every number it may have issued),
    /// as far as the skip fits the record's link: those no record holds are expected, not
    /// gaps. A record holding one is one the device no longer held (uploaded before a loss).
    #[serde(default)]
    pub skips: Vec<SeqRange>,
    /// Numbers that more than one record has (a register that restarted its numbering):
    /// two receipts with one number, so the journal is not intact.
    pub reused_numbers: Vec<u64>,
    pub forks: Vec<Fork>,
    pub breaks: Vec<Break>,
    /// The newest chained record (highest number).
    pub head: Option<Anchor>,
    /// No gap, no fork, no break, no number used twice.
    pub intact: bool,
}

impl RegisterReport {
    /// Every record a break or fork names, once each, by number.
    pub fn named_records(&self) -> Vec<RecordRef> {
        let mut named = BTreeSet::new();
        for b in &self.breaks {
            named.insert(b.record.clone());
            if let Some(p) = &b.predecessor {
                named.insert(p.clone());
            }
        }
        for f in &self.forks {
            named.extend(f.records.iter().cloned());
        }
        named.into_iter().collect()
    }
}

fn ranges(numbers: impl IntoIterator<Item = u64>) -> Vec<SeqRange> {
    let mut out: Vec<SeqRange> = Vec::new();
    for n in numbers {
        match out.last_mut() {
            Some(r) if r.last + 1 == n => r.last = n,
            Some(r) if r.last == n => {}
            _ => out.push(SeqRange { first: n, last: n }),
        }
    }
    out
}

/// Verifies the journal of one register from its records, given in any order. `head` is
/// the register's own record of its newest record, when the verifier has it (a device's
/// export): the newest record is then protected too, though nothing links to it yet.
pub fn verify(
    store_id: &str,
    register_id: &str,
    mut entries: Vec<Entry>,
    head: Option<&Anchor>,
) -> RegisterReport {
    entries.sort_by(|a, b| a.record.cmp(&b.record));
    let mut by_seq: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        by_seq.entry(e.record.seq).or_default().push(i);
    }
    let mut breaks = Vec::new();
    let mut segments = Vec::new();
    let mut claims: BTreeMap<(u64, &str), Vec<RecordRef>> = BTreeMap::new();
    // Recorded skips that fit their link, with the record that records each.
    let mut skips: Vec<SeqRange> = Vec::new();
    for e in &entries {
        if let Some(recorded) = &e.recorded_hash
            && *recorded != e.hash
        {
            breaks.push(Break {
                kind: BreakKind::Altered,
                record: e.record.clone(),
                predecessor: None,
                detail: format!(
                    "record {} ({}) hashed to {recorded} when it was received and to {} now: it was changed in storage",
                    e.record.seq, e.record.receipt_no, e.hash
                ),
            });
        }
        if let Some(why) = &e.bad_link {
            breaks.push(Break {
                kind: BreakKind::BadLink,
                record: e.record.clone(),
                predecessor: None,
                detail: format!("its journal link is unreadable: {why}"),
            });
        }
        let Some(link) = &e.link else { continue };
        if let Some(skip) = &link.skipped {
            // The number after the record it follows: `prev_seq`, or the segment's `after`.
            let first = match &link.segment {
                Some(segment) => segment
                    .after
                    .as_ref()
                    .map_or(1, |a| a.seq.saturating_add(1)),
                None => link.prev_seq.saturating_add(1),
            };
            if skip.first == first
                && skip.first <= skip.last
                && skip.last.checked_add(1) == Some(e.record.seq)
            {
                skips.push(*skip);
            } else {
                breaks.push(Break {
                    kind: BreakKind::SkipMismatch,
                    record: e.record.clone(),
                    predecessor: None,
                    detail: format!(
                        "record {} says numbers {} to {} were skipped before it, but it follows number {}",
                        e.record.seq,
                        skip.first,
                        skip.last,
                        first.saturating_sub(1)
                    ),
                });
            }
        }
        claims
            .entry((link.prev_seq, link.prev.as_str()))
            .or_default()
            .push(e.record.clone());
        if let Some(segment) = &link.segment {
            if link.prev_seq != 0 || link.prev != genesis(store_id, register_id, segment.id) {
                breaks.push(Break {
                    kind: BreakKind::Genesis,
                    record: e.record.clone(),
                    predecessor: None,
                    detail: format!(
                        "record {} opens segment {} but does not link to its genesis value",
                        e.record.seq, segment.id
                    ),
                });
            }
            let after_verified = segment.after.as_ref().and_then(|after| {
                let held = by_seq.get(&after.seq)?;
                let found = held.iter().any(|&i| entries[i].hash == after.hash);
                if !found {
                    breaks.push(Break {
                        kind: BreakKind::AfterMismatch,
                        record: e.record.clone(),
                        predecessor: Some(entries[held[0]].record.clone()),
                        detail: format!(
                            "segment {} says it follows record {} hashing to {}, which hashes to {}",
                            segment.id, after.seq, after.hash, entries[held[0]].hash
                        ),
                    });
                }
                Some(found)
            });
            segments.push(SegmentReport {
                id: segment.id.to_string(),
                reason: segment.reason,
                start: e.record.clone(),
                after: segment.after.clone(),
                after_verified,
                restart: false,
                note: segment.note.clone(),
            });
            continue;
        }
        if link.prev_seq == 0 || link.prev_seq >= e.record.seq {
            breaks.push(Break {
                kind: BreakKind::BadLink,
                record: e.record.clone(),
                predecessor: None,
                detail: format!(
                    "record {} links to number {}, which is not before it",
                    e.record.seq, link.prev_seq
                ),
            });
            continue;
        }
        // A predecessor that never arrived is a gap, reported as such below.
        let Some(held) = by_seq.get(&link.prev_seq) else {
            continue;
        };
        if !held.iter().any(|&i| entries[i].hash == link.prev) {
            let p = &entries[held[0]];
            breaks.push(Break {
                kind: BreakKind::LinkMismatch,
                record: e.record.clone(),
                predecessor: Some(p.record.clone()),
                detail: format!(
                    "record {} ({}) says record {} hashes to {}, but record {} ({}) hashes to {}: it was changed, or this link was",
                    e.record.seq,
                    e.record.receipt_no,
                    link.prev_seq,
                    link.prev,
                    p.record.seq,
                    p.record.receipt_no,
                    p.hash
                ),
            });
        }
    }
    if let Some(anchor) = head {
        match by_seq.get(&anchor.seq) {
            Some(held) if held.iter().any(|&i| entries[i].hash == anchor.hash) => {}
            Some(held) => {
                let e = &entries[held[0]];
                breaks.push(Break {
                    kind: BreakKind::Altered,
                    record: e.record.clone(),
                    predecessor: None,
                    detail: format!(
                        "the register's newest record {} ({}) hashed to {} when it was written and to {} now: it was changed",
                        anchor.seq, e.record.receipt_no, anchor.hash, e.hash
                    ),
                });
            }
            // Missing: a gap, or a number past the highest one seen.
            None => {}
        }
    }
    segments.sort_by(|a, b| a.start.cmp(&b.start));
    for (i, s) in segments.iter_mut().enumerate() {
        s.restart = i > 0
            || matches!(
                s.reason,
                SegmentReason::FreshStart | SegmentReason::Recovered
            );
    }
    let forks = claims
        .into_iter()
        .filter(|(_, records)| records.len() > 1)
        .map(|((prev_seq, prev), records)| Fork {
            prev_seq,
            prev: prev.to_string(),
            records,
        })
        .collect::<Vec<_>>();
    let highest = by_seq.keys().next_back().copied().unwrap_or(0);
    let highest = head.map_or(highest, |h| highest.max(h.seq));
    let skipped = |n: &u64| skips.iter().any(|s| (s.first..=s.last).contains(n));
    let gaps = ranges((1..=highest).filter(|n| !by_seq.contains_key(n) && !skipped(n)));
    let reused_numbers: Vec<u64> = by_seq
        .iter()
        .filter(|(_, held)| held.len() > 1)
        .map(|(n, _)| *n)
        .collect();
    let unchained = ranges(
        entries
            .iter()
            .filter(|e| e.link.is_none() && e.bad_link.is_none())
            .map(|e| e.record.seq),
    );
    let head = entries
        .iter()
        .filter(|e| e.link.is_some())
        .max_by(|a, b| a.record.cmp(&b.record))
        .map(|e| Anchor {
            seq: e.record.seq,
            hash: e.hash.clone(),
        });
    let intact =
        gaps.is_empty() && forks.is_empty() && breaks.is_empty() && reused_numbers.is_empty();
    RegisterReport {
        store_id: store_id.to_string(),
        register_id: register_id.to_string(),
        records: entries.len() as u64,
        unchained,
        segments,
        gaps,
        skips,
        reused_numbers,
        forks,
        breaks,
        head,
        intact,
    }
}

/// Verifies a device's journal export (see `JournalExport`): every record's hash is worked
/// out from its own bytes, and the newest one is checked against the register's recorded
/// head.
pub fn verify_export(export: &JournalExport) -> Result<RegisterReport, CanonicalError> {
    let entries = export
        .records
        .iter()
        .map(|r| Entry::from_value(r, None))
        .collect::<Result<Vec<_>, _>>()?;
    let h = &export.header;
    Ok(verify(
        &h.store_id,
        &h.register_id,
        entries,
        h.head.as_ref(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{SegmentStart, record_hash};
    use uuid::Uuid;

    /// `n` chained records of register R1 as JSON values, the first opening segment `seg`.
    fn chain(n: u64, first_seq: u64, seg: Uuid, reason: SegmentReason) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        for seq in first_seq..first_seq + n {
            let link = match out.last() {
                None => JournalLink {
                    prev_seq: 0,
                    prev: genesis("s", "R1", seg),
                    segment: Some(SegmentStart {
                        id: seg,
                        reason,
                        after: None,
                        note: None,
                    }),
                    skipped: None,
                },
                Some(prev) => JournalLink {
                    prev_seq: seq - 1,
                    prev: record_hash(prev).expect("hash"),
                    segment: None,
                    skipped: None,
                },
            };
            out.push(serde_json::json!({
                "sale_id": format!("id-{seq}-{seg}"),
                "receipt_no": format!("R1-{seq:06}"),
                "seq": seq,
                "total": "1.00",
                "journal": link,
            }));
        }
        out
    }

    fn entries(values: &[Value]) -> Vec<Entry> {
        values
            .iter()
            .map(|v| Entry::from_value(v, None).expect("entry"))
            .collect()
    }

    /// Record `seq` of R1 following the last of `values` (number `prev_seq`), saying
    /// `skipped` were skipped before it.
    fn follow(values: &mut Vec<Value>, seq: u64, prev_seq: u64, skipped: Option<SeqRange>) {
        let link = JournalLink {
            prev_seq,
            prev: record_hash(values.last().expect("a predecessor")).expect("hash"),
            segment: None,
            skipped,
        };
        values.push(serde_json::json!({
            "sale_id": format!("id-{seq}"),
            "receipt_no": format!("R1-{seq:06}"),
            "seq": seq,
            "total": "1.00",
            "journal": link,
        }));
    }

    /// Records 1 to 3, then 11 after 3 (saying `skipped`), then 12.
    fn skipping(skipped: Option<SeqRange>) -> Vec<Value> {
        let mut values = chain(3, 1, Uuid::from_u128(9), SegmentReason::NewRegister);
        follow(&mut values, 11, 3, skipped);
        follow(&mut values, 12, 11, None);
        values
    }

    #[test]
    fn a_recorded_skip_that_fits_its_link_is_a_skip_not_a_gap() {
        let r = verify(
            "s",
            "R1",
            entries(&skipping(Some(SeqRange { first: 4, last: 10 }))),
            None,
        );
        assert!(r.intact, "{r:?}");
        assert_eq!(r.skips, [SeqRange { first: 4, last: 10 }]);
        assert!(r.gaps.is_empty() && r.breaks.is_empty(), "{r:?}");
        // The same jump with no skip recorded is a gap.
        let r = verify("s", "R1", entries(&skipping(None)), None);
        assert!(!r.intact && r.skips.is_empty(), "{r:?}");
        assert_eq!(r.gaps, [SeqRange { first: 4, last: 10 }]);
    }

    #[test]
    fn a_recorded_skip_that_does_not_fit_its_link_is_a_break_and_excuses_nothing() {
        for wrong in [
            SeqRange { first: 5, last: 10 },
            SeqRange { first: 4, last: 9 },
            SeqRange { first: 4, last: 11 },
            SeqRange { first: 9, last: 4 },
        ] {
            let r = verify("s", "R1", entries(&skipping(Some(wrong))), None);
            assert!(!r.intact, "{wrong:?}: {r:?}");
            assert!(r.skips.is_empty(), "{r:?}");
            assert_eq!(r.gaps, [SeqRange { first: 4, last: 10 }], "{wrong:?}");
            assert_eq!(
                r.breaks
                    .iter()
                    .map(|b| (b.kind, b.record.seq))
                    .collect::<Vec<_>>(),
                [(BreakKind::SkipMismatch, 11)],
                "{wrong:?}"
            );
        }
        // A record holding a skipped number is one the device lost (the server kept it):
        // the skip still covers the numbers no record holds.
        let mut values = skipping(Some(SeqRange { first: 4, last: 10 }));
        values.push(serde_json::json!({"sale_id": "id-7", "receipt_no": "R1-000007", "seq": 7}));
        let r = verify("s", "R1", entries(&values), None);
        assert!(
            r.intact && r.gaps.is_empty() && r.breaks.is_empty(),
            "{r:?}"
        );
    }

    #[test]
    fn a_segment_recording_the_numbers_before_it_as_skipped_is_intact() {
        // A fresh store whose server said 40 was its register's highest.
        let mut values = chain(1, 41, Uuid::from_u128(11), SegmentReason::FreshStart);
        values[0]["journal"]["skipped"] = serde_json::json!({"first": 1, "last": 40});
        follow(&mut values, 42, 41, None);
        let r = verify("s", "R1", entries(&values), None);
        assert!(r.intact, "{r:?}");
        assert_eq!(r.skips, [SeqRange { first: 1, last: 40 }]);
    }

    #[test]
    fn a_journal_verifies_alike_whatever_order_its_records_arrive_in() {
        let values = chain(40, 1, Uuid::from_u128(7), SegmentReason::NewRegister);
        let ordered = verify("s", "R1", entries(&values), None);
        assert!(ordered.intact, "{ordered:?}");
        let mut shuffled = values.clone();
        // A fixed permutation: reversed halves, interleaved.
        shuffled.reverse();
        let (a, b) = shuffled.split_at(20);
        let mixed: Vec<Value> = a
            .iter()
            .zip(b)
            .flat_map(|(x, y)| [y.clone(), x.clone()])
            .collect();
        assert_eq!(verify("s", "R1", entries(&mixed), None), ordered);
    }

    #[test]
    fn a_late_missing_record_is_a_gap_until_it_arrives() {
        let values = chain(5, 1, Uuid::from_u128(7), SegmentReason::NewRegister);
        let without: Vec<Value> = values.iter().filter(|v| v["seq"] != 3).cloned().collect();
        let r = verify("s", "R1", entries(&without), None);
        assert_eq!(r.gaps, [SeqRange { first: 3, last: 3 }]);
        assert!(r.breaks.is_empty() && r.forks.is_empty());
        assert!(verify("s", "R1", entries(&values), None).intact);
    }

    #[test]
    fn a_second_segment_is_a_restart_and_the_numbers_it_reuses_are_flagged() {
        let mut values = chain(3, 1, Uuid::from_u128(1), SegmentReason::NewRegister);
        values.extend(chain(2, 1, Uuid::from_u128(2), SegmentReason::NewRegister));
        let r = verify("s", "R1", entries(&values), None);
        assert_eq!(r.segments.len(), 2);
        assert!(!r.segments[0].restart && r.segments[1].restart);
        assert!(r.breaks.is_empty() && r.forks.is_empty(), "{r:?}");
        assert_eq!(r.reused_numbers, [1, 2]);
        assert!(!r.intact, "two receipts with one number: {r:?}");
        // A restart that continues after the numbers already issued is intact.
        let mut values = chain(3, 1, Uuid::from_u128(1), SegmentReason::NewRegister);
        values.extend(chain(2, 4, Uuid::from_u128(2), SegmentReason::Recovered));
        let r = verify("s", "R1", entries(&values), None);
        assert!(r.reused_numbers.is_empty() && r.segments[1].restart);
        assert!(r.intact, "{r:?}");
    }

    #[test]
    fn a_segment_opened_from_another_registers_genesis_is_a_break() {
        let values = chain(2, 1, Uuid::from_u128(1), SegmentReason::NewRegister);
        let r = verify("s", "R2", entries(&values), None);
        assert_eq!(r.breaks.len(), 1);
        assert_eq!(r.breaks[0].kind, BreakKind::Genesis);
    }

    #[test]
    fn a_record_changed_after_it_arrived_is_named_as_altered() {
        let values = chain(3, 1, Uuid::from_u128(1), SegmentReason::NewRegister);
        let mut es = entries(&values);
        let arrived = es[2].hash.clone();
        let mut changed = values[2].clone();
        changed["total"] = "0.01".into();
        es[2] = Entry::from_value(&changed, Some(arrived)).expect("entry");
        let r = verify("s", "R1", es, None);
        assert_eq!(r.breaks.len(), 1);
        assert_eq!(
            (r.breaks[0].kind, r.breaks[0].record.seq),
            (BreakKind::Altered, 3)
        );
    }

    #[test]
    fn an_unreadable_link_is_a_break_not_a_panic() {
        let mut values = chain(2, 1, Uuid::from_u128(1), SegmentReason::NewRegister);
        values[1]["journal"] = serde_json::json!({"prev_seq": "x"});
        let r = verify("s", "R1", entries(&values), None);
        assert_eq!(r.breaks.len(), 1);
        assert_eq!(r.breaks[0].kind, BreakKind::BadLink);
    }
}
