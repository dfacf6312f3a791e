import XCTest
@testable import Tillkit

final class RecoveryFlowTests: XCTestCase {
    private let kept = ["/data/tillkit/tillkit.db.damaged-1"]

    private func report(recovered: UInt64, unreadable: UInt64, missing: [String] = []) -> RecoveryReportRecord {
        RecoveryReportRecord(
            complete: unreadable == 0 && missing.isEmpty,
            salesRecovered: recovered, queued: recovered, salesUnreadable: unreadable,
            queuedLost: unreadable, lostSaleIds: [], receiptsMissing: missing, unreadable: [], keptFiles: kept
        )
    }

    func testRecoveringIsOfferedFirstAndReportsWhatWasSavedAndLost() {
        var flow = RecoveryFlow(reason: "the database file is missing", keptFiles: kept)
        XCTAssertTrue(flow.recoverTapped())
        XCTAssertFalse(flow.recoverTapped(), "a second tap does not start a second recovery")
        flow.recovered(report(recovered: 38, unreadable: 2, missing: ["R1-000017", "R1-000018"]))
        XCTAssertEqual(flow.step, .done(summary: [
            "38 sales recovered; 38 sales will upload when online.",
            "2 sales could not be recovered. Check them against paper receipts; the damaged file was kept for support.",
            "Missing receipt numbers: R1-000017, R1-000018.",
        ], keptFiles: kept))
    }

    func testAnIncompleteSalvageNeverSaysEverySaleWasReadAndNamesWhatIsMissing() {
        let cut = report(recovered: 180, unreadable: 0, missing: (181...300).map { String(format: "R1-%06ld", $0) })
        let lines = recoverySummary(cut)
        XCTAssertFalse(lines.contains { $0.contains("Every sale") })
        XCTAssertEqual(lines[1], "120 sales could not be recovered. Check them against paper receipts; the damaged file was kept for support.")
        XCTAssertTrue(lines[2].hasSuffix("R1-000190 and 110 more."))
        XCTAssertEqual(recoverySummary(report(recovered: 5, unreadable: 0))[1], "Every sale could be read.")
    }

    func testStartingFreshNeedsTheWordTypedAndNeverHappensOnOneTap() {
        var flow = RecoveryFlow(reason: "damaged", keptFiles: kept)
        flow.startFreshTapped()
        XCTAssertFalse(flow.confirmFreshTapped())
        flow.confirmationTyped("fresh")
        XCTAssertFalse(flow.canConfirmFresh)
        flow.confirmationTyped(startFreshWord)
        XCTAssertTrue(flow.confirmFreshTapped())
        flow.startedFresh()
        guard case let .done(_, files) = flow.step else { return XCTFail("\(flow.step)") }
        XCTAssertEqual(files, kept)
    }
}
