//! The register's journal for an auditor: its export (text, to hand to a share sheet or save
//! as a file) and the verification of an export, as a typed report. It converts and forwards:
//! the core parses the export and judges the chain (`tillkit_core::journal`).

use tillkit_core::journal::{
    self, Break, BreakKind, JournalExport, RecordRef, RegisterReport, SegmentReason, SeqRange,
};

use crate::error::TillkitError;
use crate::runtime::blocking;

/// A record as the journal check names it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct JournalRecordRef {
    /// Its number in the register's sequence (the number of its receipt).
    pub seq: u64,
    /// `sale` or `refund`.
    pub kind: String,
    /// Its id (`sale_id` or `refund_id`).
    pub record_id: String,
    pub receipt_no: String,
}

impl From<RecordRef> for JournalRecordRef {
    fn from(r: RecordRef) -> Self {
        JournalRecordRef {
            seq: r.seq,
            kind: r.kind,
            record_id: r.record_id,
            receipt_no: r.receipt_no,
        }
    }
}

/// Numbers `first..=last` of the register's sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct JournalSeqRange {
    pub first: u64,
    pub last: u64,
}

impl From<SeqRange> for JournalSeqRange {
    fn from(r: SeqRange) -> Self {
        JournalSeqRange {
            first: r.first,
            last: r.last,
        }
    }
}

/// What kind of break the check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum JournalBreakKind {
    /// The record names a predecessor hash the record with that number does not have: the
    /// predecessor was changed (or this record's link was). `predecessor` names it.
    LinkMismatch,
    /// A segment's first record does not link to its genesis value.
    Genesis,
    /// A segment names the record it followed, and that record hashes otherwise.
    AfterMismatch,
    /// The record no longer hashes to what the register recorded when it was written (the
    /// newest record, checked against the export's recorded head): it was changed.
    Altered,
    /// The record's link is unreadable or points forward.
    BadLink,
    /// The numbers the record says were skipped before it do not fit its link.
    SkipMismatch,
}

impl From<BreakKind> for JournalBreakKind {
    fn from(k: BreakKind) -> Self {
        match k {
            BreakKind::LinkMismatch => JournalBreakKind::LinkMismatch,
            BreakKind::Genesis => JournalBreakKind::Genesis,
            BreakKind::AfterMismatch => JournalBreakKind::AfterMismatch,
            BreakKind::Altered => JournalBreakKind::Altered,
            BreakKind::BadLink => JournalBreakKind::BadLink,
            BreakKind::SkipMismatch => JournalBreakKind::SkipMismatch,
        }
    }
}

/// One thing the check found wrong. Any of them makes the journal not intact.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum JournalProblem {
    /// Numbers `first_seq..=last_seq` no record has and no recorded skip covers: records
    /// missing from the export (removed, or lost on the device).
    Gap { first_seq: u64, last_seq: u64 },
    /// Two or more records claim the same predecessor (number `prev_seq`; 0 is a segment's
    /// genesis value): the chain was split.
    Fork {
        prev_seq: u64,
        records: Vec<JournalRecordRef>,
    },
    /// A link or hash that does not hold, shown at `record`; for `LinkMismatch` and
    /// `AfterMismatch`, `predecessor` is the record that does not hash as claimed (the one
    /// changed, unless the link itself was). `detail` says it in words.
    ChainBreak {
        kind: JournalBreakKind,
        record: JournalRecordRef,
        predecessor: Option<JournalRecordRef>,
        detail: String,
    },
    /// Number `seq` is held by more than one record: two receipts with one number.
    ReusedNumber { seq: u64 },
}

impl From<Break> for JournalProblem {
    fn from(b: Break) -> Self {
        JournalProblem::ChainBreak {
            kind: b.kind.into(),
            record: b.record.into(),
            predecessor: b.predecessor.map(Into::into),
            detail: b.detail,
        }
    }
}

/// Why a journal segment opened (see `JournalRestart`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum JournalSegmentReason {
    /// The register's first record on this device.
    NewRegister,
    /// The first record after an update that brought the journal (older records unchained).
    JournalStarted,
    /// A person confirmed starting the store fresh after damage.
    FreshStart,
    /// The store was salvaged after damage and none of this register's records survived.
    Recovered,
}

impl From<SegmentReason> for JournalSegmentReason {
    fn from(r: SegmentReason) -> Self {
        match r {
            SegmentReason::NewRegister => JournalSegmentReason::NewRegister,
            SegmentReason::JournalStarted => JournalSegmentReason::JournalStarted,
            SegmentReason::FreshStart => JournalSegmentReason::FreshStart,
            SegmentReason::Recovered => JournalSegmentReason::Recovered,
        }
    }
}

/// Where the journal was started again (a later segment, or one opened after the device
/// lost records): not a problem by itself, but the auditor should see it and its reason.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct JournalRestart {
    pub reason: JournalSegmentReason,
    /// The segment's first record.
    pub start: JournalRecordRef,
    /// Words the device recorded (e.g. why the store was started fresh).
    pub note: Option<String>,
}

/// The verdict on one register's journal export.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct JournalReport {
    pub store_id: String,
    pub register_id: String,
    /// When the device made the export (its clock, Unix ms).
    pub exported_at_ms: i64,
    /// Records checked.
    pub records: u64,
    /// The lowest and highest record numbers in the export; null when it holds none.
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// No gap, fork, break or number used twice.
    pub intact: bool,
    /// Everything found wrong: gaps, forks, breaks, reused numbers.
    pub problems: Vec<JournalProblem>,
    /// Every record a break or fork names, once each, by number.
    pub named_records: Vec<JournalRecordRef>,
    /// Numbers the register recorded skipping (after a recovery or a reset receipt book):
    /// expected, not gaps.
    pub skips: Vec<JournalSeqRange>,
    /// Numbers of records made before the journal existed (no link): not chained.
    pub unchained: Vec<JournalSeqRange>,
    /// Where the journal was started again.
    pub restarts: Vec<JournalRestart>,
}

impl JournalReport {
    fn new(export: &JournalExport, report: RegisterReport) -> Self {
        let named_records = report.named_records().into_iter().map(Into::into).collect();
        let seqs = export
            .records
            .iter()
            .filter_map(|r| r.get("seq").and_then(|s| s.as_u64()));
        let first_seq = seqs.clone().min();
        let last_seq = seqs.max();
        let mut problems: Vec<JournalProblem> = report
            .gaps
            .into_iter()
            .map(|g| JournalProblem::Gap {
                first_seq: g.first,
                last_seq: g.last,
            })
            .collect();
        problems.extend(report.forks.into_iter().map(|f| JournalProblem::Fork {
            prev_seq: f.prev_seq,
            records: f.records.into_iter().map(Into::into).collect(),
        }));
        problems.extend(report.breaks.into_iter().map(Into::into));
        problems.extend(
            report
                .reused_numbers
                .into_iter()
                .map(|seq| JournalProblem::ReusedNumber { seq }),
        );
        JournalReport {
            store_id: report.store_id,
            register_id: report.register_id,
            exported_at_ms: export.header.exported_at,
            records: report.records,
            first_seq,
            last_seq,
            intact: report.intact,
            problems,
            named_records,
            skips: report.skips.into_iter().map(Into::into).collect(),
            unchained: report.unchained.into_iter().map(Into::into).collect(),
            restarts: report
                .segments
                .into_iter()
                .filter(|s| s.restart)
                .map(|s| JournalRestart {
                    reason: s.reason.into(),
                    start: s.start.into(),
                    note: s.note,
                })
                .collect(),
        }
    }
}

/// Parses and verifies an export's text; a text that is no export is `InvalidJournalExport`.
pub(crate) fn verify_text(text: &str) -> Result<JournalReport, TillkitError> {
    let refused = |e: journal::CanonicalError| TillkitError::InvalidJournalExport { reason: e.0 };
    let export = JournalExport::parse(text).map_err(refused)?;
    let report = journal::verify_export(&export).map_err(refused)?;
    Ok(JournalReport::new(&export, report))
}

/// Verifies a register's journal export (what `TillkitCore.exportJournal` gave, from this
/// device or another): every record's hash is worked out from its own bytes, each link
/// checked against the record it names, and the newest record against the register's
/// recorded head. Needs no open core and changes nothing. A text that is not an export
/// (empty, not JSON Lines, another format, a record without its number) is
/// `InvalidJournalExport`.
#[uniffi::export]
pub async fn verify_journal_export(text: String) -> Result<JournalReport, TillkitError> {
    blocking(move || verify_text(&text)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tillkit_core::journal::{JOURNAL_EXPORT_FORMAT, genesis, record_hash};

    /// An export of register R1 with `n` chained sales, as a device writes it.
    fn export(n: u64) -> String {
        let segment = uuid::Uuid::from_u128(7);
        let mut records = Vec::new();
        let mut head: Option<(u64, String)> = None;
        for seq in 1..=n {
            let journal = match &head {
                None => json!({
                    "prev_seq": 0,
                    "prev": genesis("s", "R1", segment),
                    "segment": {"id": segment.to_string(), "reason": "new_register"},
                }),
                Some((prev_seq, prev)) => json!({"prev_seq": prev_seq, "prev": prev}),
            };
            let record = json!({
                "sale_id": format!("sale-{seq}"),
                "receipt_no": format!("R1-{seq:06}"),
                "seq": seq,
                "total": "10.00",
                "journal": journal,
            });
            head = Some((seq, record_hash(&record).expect("hash")));
            records.push(serde_json::to_string(&record).expect("json"));
        }
        let header = json!({
            "format": JOURNAL_EXPORT_FORMAT,
            "store_id": "s",
            "register_id": "R1",
            "exported_at": 1_700_000_000_000_i64,
            "last_seq": n,
            "head": head.map(|(seq, hash)| json!({"seq": seq, "hash": hash})),
            "records": n,
        });
        let mut text = serde_json::to_string(&header).expect("json");
        for r in records {
            text.push('\n');
            text.push_str(&r);
        }
        text.push('\n');
        text
    }

    /// `text` with the total of receipt `receipt_no`'s line set to `total`.
    fn edit(text: &str, receipt_no: &str, total: &str) -> String {
        text.lines()
            .map(|l| {
                if l.contains(&format!("\"receipt_no\":\"{receipt_no}\"")) {
                    l.replace("\"total\":\"10.00\"", &format!("\"total\":\"{total}\""))
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn an_untouched_export_is_intact_with_its_first_and_last_numbers() {
        let report = verify_text(&export(3)).expect("verifies");
        assert!(report.intact, "{report:?}");
        assert_eq!(report.records, 3);
        assert_eq!((report.first_seq, report.last_seq), (Some(1), Some(3)));
        assert_eq!(report.exported_at_ms, 1_700_000_000_000);
        assert!(report.problems.is_empty() && report.named_records.is_empty());
        assert!(
            report.restarts.is_empty(),
            "a register's first segment is no restart"
        );
    }

    #[test]
    fn an_edited_amount_is_a_break_naming_the_edited_record() {
        let edited = edit(&export(3), "R1-000002", "1.00");
        assert_ne!(edited, export(3), "the edit must change the text");
        let report = verify_text(&edited).expect("still an export");
        assert!(!report.intact);
        match report.problems.as_slice() {
            [
                JournalProblem::ChainBreak {
                    kind: JournalBreakKind::LinkMismatch,
                    record,
                    predecessor: Some(predecessor),
                    ..
                },
            ] => {
                assert_eq!((record.seq, predecessor.seq), (3, 2));
                assert_eq!(predecessor.record_id, "sale-2");
            }
            other => panic!("expected one link mismatch, got {other:?}"),
        }
        // The newest record, which nothing links to yet, is protected by the recorded head.
        let edited = edit(&export(3), "R1-000003", "9.00");
        assert_ne!(edited, export(3), "the edit must change the text");
        let report = verify_text(&edited).expect("still an export");
        assert!(
            matches!(
                report.problems.as_slice(),
                [JournalProblem::ChainBreak { kind: JournalBreakKind::Altered, record, .. }]
                    if record.seq == 3
            ),
            "{report:?}"
        );
    }

    #[test]
    fn a_removed_record_is_a_gap() {
        let text = export(3);
        let without: Vec<&str> = text.lines().filter(|l| !l.contains("R1-000002")).collect();
        let report = verify_text(&without.join("\n")).expect("still an export");
        assert_eq!(
            report.problems,
            [JournalProblem::Gap {
                first_seq: 2,
                last_seq: 2
            }]
        );
    }

    #[test]
    fn text_that_is_no_export_is_a_typed_error_never_a_panic() {
        let header = export(0);
        for text in [
            String::new(),
            "\n\n".into(),
            "hello auditor".into(),
            "{}".into(),
            header.replace(JOURNAL_EXPORT_FORMAT, "tillkit-journal-v0"),
            format!("{header}not json\n"),
            format!("{header}{{\"sale_id\":\"x\"}}\n"),
            format!("{header}{{\"sale_id\":\"x\",\"seq\":1,\"total\":1.5}}\n"),
            format!("{header}[1,2,3]\n"),
            "[".repeat(100_000),
        ] {
            assert!(
                matches!(
                    verify_text(&text),
                    Err(TillkitError::InvalidJournalExport { .. })
                ),
                "{:?} should be refused",
                text.chars().take(80).collect::<String>()
            );
        }
    }
}
