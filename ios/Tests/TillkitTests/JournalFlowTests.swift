import XCTest
import Tillkit
@testable import TillkitKit

/// The journal screen's flow and wording; the same cases as Android's `JournalFlowTest`.
final class JournalFlowTests: XCTestCase {
    // 2026-12-05 06:30:15 UTC
    private let now = Date(timeIntervalSince1970: 1_796_452_215)

    private func record(_ seq: UInt64, _ kind: String = "sale") -> JournalRecordRef {
        JournalRecordRef(seq: seq, kind: kind, recordId: "id-\(seq)", receiptNo: String(format: "R07-%06llu", seq))
    }

    private func report(
        _ problems: [JournalProblem] = [],
        records: UInt64 = 4,
        skips: [JournalSeqRange] = [],
        unchained: [JournalSeqRange] = [],
        restarts: [JournalRestart] = []
    ) -> JournalReport {
        JournalReport(
            storeId: "uk-01", registerId: "R07", exportedAtMs: 1_796_452_215_000, records: records,
            firstSeq: records == 0 ? nil : 1, lastSeq: records == 0 ? nil : records,
            intact: problems.isEmpty, problems: problems, namedRecords: [],
            skips: skips, unchained: unchained, restarts: restarts
        )
    }

    func testAnExportIsMadeOnceThenSavedUnderAProposedName() {
        var flow = JournalFlow(now: { self.now })
        XCTAssertTrue(flow.exportTapped())
        XCTAssertFalse(flow.exportTapped(), "a second tap starts no second export")
        let text = "{\"format\":\"tillkit-journal-v1\"}\n{\"seq\":1}\n{\"seq\":2}\n"
        flow.exported(text, storeId: "uk-01", registerId: "R07")
        XCTAssertEqual(flow.export, .chooseFile(text: text, fileName: "tillkit-journal-uk-01-R07-20261205-063015Z.jsonl", records: 2))
        XCTAssertFalse(flow.exportTapped(), "not while the file is being chosen")
        flow.saved()
        XCTAssertEqual(flow.export, .finished(saved: true, message: "Journal saved as tillkit-journal-uk-01-R07-20261205-063015Z.jsonl (2 records)"))
        flow.saved()
        XCTAssertEqual(flow.export, .finished(saved: true, message: "Journal saved as tillkit-journal-uk-01-R07-20261205-063015Z.jsonl (2 records)"),
                       "a second answer of the save dialog changes nothing")
        XCTAssertTrue(flow.exportTapped(), "another export can start")
    }

    func testACancelledDialogOrAFailedWriteSaysNothingWasSaved() {
        var flow = JournalFlow(now: { self.now })
        XCTAssertTrue(flow.exportTapped())
        flow.exported("{}\n", storeId: "uk-01", registerId: "R07")
        flow.saveFailed(nil)
        XCTAssertEqual(flow.export, .finished(saved: false, message: "Export cancelled: nothing was saved"))
        XCTAssertTrue(flow.exportTapped())
        flow.exported("{}\n", storeId: "uk-01", registerId: "R07")
        flow.saveFailed("the storage is full")
        XCTAssertEqual(flow.export, .finished(saved: false, message: "The journal could not be saved: the storage is full. Export it again."))
        XCTAssertTrue(flow.exportTapped())
        flow.exportFailed(TillkitError.NoSession)
        XCTAssertEqual(flow.export, .finished(saved: false,
                                              message: "The journal could not be exported. No cashier is signed in: the journal is the signed-in register's"))
    }

    func testASaveReportedAfterTheClosedDialogWasTakenAsCancelledStillCounts() {
        var flow = JournalFlow(now: { self.now })
        XCTAssertTrue(flow.exportTapped())
        flow.exported("{}\n{\"seq\":1}\n", storeId: "uk-01", registerId: "R07")
        // The dialog closed and its answer did not come within one turn: taken as cancelled.
        flow.saveFailed(nil)
        XCTAssertEqual(flow.export, .finished(saved: false, message: "Export cancelled: nothing was saved"))
        // Then the answer comes after all: the file was written.
        flow.saved()
        XCTAssertEqual(flow.export, .finished(saved: true, message: "Journal saved as tillkit-journal-uk-01-R07-20261205-063015Z.jsonl (1 record)"))
        flow.saveFailed(nil)
        XCTAssertEqual(flow.export, .finished(saved: true, message: "Journal saved as tillkit-journal-uk-01-R07-20261205-063015Z.jsonl (1 record)"),
                       "a late cancellation changes nothing")
        // A late failure replaces a presumed cancellation, too.
        XCTAssertTrue(flow.exportTapped())
        flow.exported("{}\n", storeId: "uk-01", registerId: "R07")
        flow.saveFailed(nil)
        flow.saveFailed("the storage is full")
        XCTAssertEqual(flow.export, .finished(saved: false, message: "The journal could not be saved: the storage is full. Export it again."))
        flow.saved()
        XCTAssertEqual(flow.export, .finished(saved: false, message: "The journal could not be saved: the storage is full. Export it again."),
                       "a settled verdict stays")
    }

    func testFileNamesKeepOnlySafeCharacters() {
        XCTAssertEqual(journalFileName(storeId: "a/b", registerId: "R 1", at: Date(timeIntervalSince1970: 0)),
                       "tillkit-journal-a_b-R_1-19700101-000000Z.jsonl")
        XCTAssertEqual(journalFileName(storeId: "", registerId: "é", at: Date(timeIntervalSince1970: 0)),
                       "tillkit-journal-_-_-19700101-000000Z.jsonl")
    }

    func testAnIntactJournalSaysWhatWasChecked() {
        var flow = JournalFlow(now: { self.now })
        XCTAssertTrue(flow.checkTapped())
        XCTAssertFalse(flow.checkTapped(), "one check at a time")
        flow.checked(report())
        guard case let .report(source, view) = flow.check else { return XCTFail("\(flow.check)") }
        XCTAssertEqual(source, .thisRegister)
        XCTAssertTrue(view.intact)
        XCTAssertEqual(view.title, "This register's journal · register R07, store uk-01 · exported 2026-12-05 06:30 UTC")
        XCTAssertEqual(view.verdict,
                       "Intact: 4 records, numbers 1 to 4 checked; every record links to the one before it and none is missing")
        XCTAssertEqual(view.problems, [])
        flow.reportClosed()
        XCTAssertEqual(flow.check, .idle)
    }

    func testEveryProblemNamesTheRecordsConcerned() {
        let view = journalReportView(report([
            .chainBreak(kind: .linkMismatch, record: record(3), predecessor: record(2), detail: "detail"),
            .chainBreak(kind: .altered, record: record(4, "refund"), predecessor: nil, detail: "detail"),
            .gap(firstSeq: 5, lastSeq: 5),
            .gap(firstSeq: 7, lastSeq: 9),
            .fork(prevSeq: 1, records: [record(2), record(3)]),
            .reusedNumber(seq: 2),
        ]), source: .file(name: "audit.jsonl"))
        XCTAssertFalse(view.intact)
        XCTAssertTrue(view.title.hasPrefix("Journal file audit.jsonl · register R07"), view.title)
        XCTAssertEqual(view.verdict, "Not intact: 6 problems found in 4 records, numbers 1 to 4")
        XCTAssertEqual(view.problems, [
            "Sale R07-000002 (number 2, id id-2) was changed: sale R07-000003 (number 3, id id-3) no longer matches it "
                + "(or the link of sale R07-000003 (number 3, id id-3) was changed)",
            "Refund R07-000004 (number 4, id id-4) was changed after it was written",
            "Number 5 is missing: no record holds it",
            "Numbers 7 to 9 are missing: no record holds them",
            "Sale R07-000002 (number 2, id id-2) and sale R07-000003 (number 3, id id-3) all claim to follow number 1: "
                + "the chain splits there",
            "Number 2 is held by more than one record: two receipts share it",
        ])
    }

    func testSkipsUnchainedRecordsAndRestartsAreNotesNotProblems() {
        let view = journalReportView(report(
            skips: [JournalSeqRange(first: 4, last: 10)],
            unchained: [JournalSeqRange(first: 1, last: 1)],
            restarts: [JournalRestart(reason: .freshStart, start: record(11), note: "damaged page")]
        ))
        XCTAssertTrue(view.intact)
        XCTAssertEqual(view.notes, [
            "Numbers 4 to 10 were skipped by the register (it continued after every number it may have issued, "
                + "after a recovery or a reset receipt book): expected, not missing",
            "Record 1 was made before the journal existed: not chained",
            "The journal was started again at sale R07-000011 (number 11, id id-11): the store was started fresh "
                + "after damage (damaged page)",
        ])
    }

    func testAFileThatIsNoExportOrCannotBeReadIsReportedAsSuch() {
        var flow = JournalFlow(now: { self.now })
        let source = JournalSource.file(name: "notes.txt")
        XCTAssertTrue(flow.checkTapped(source))
        flow.checkFailed(TillkitError.InvalidJournalExport(reason: "the export is empty"))
        XCTAssertEqual(flow.check, .failed(source,
                                           message: "This is not a Tillkit journal export (the export is empty); nothing was checked"))
        XCTAssertTrue(flow.checkTapped(source), "it can be checked again")
        flow.checkFailed(JournalFileUnreadable(reason: "no permission"))
        XCTAssertEqual(flow.check, .failed(source, message: "The file could not be read: no permission"))
    }

    func testAnEmptyJournalChecksAsNoRecords() {
        XCTAssertEqual(journalReportView(report(records: 0)).verdict,
                       "Intact: no records checked; every record links to the one before it and none is missing")
    }
}
