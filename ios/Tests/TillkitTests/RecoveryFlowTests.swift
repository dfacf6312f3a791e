import XCTest
import Tillkit
@testable import TillkitKit

final class RecoveryFlowTests: XCTestCase {
    private let kept = ["/data/tillkit/tillkit.db.damaged-1"]

    private func report(recovered: UInt64, unreadable: UInt64) -> RecoveryReportRecord {
        RecoveryReportRecord(
            salesRecovered: recovered, queued: recovered, salesUnreadable: unreadable,
            queuedLost: unreadable, lostSaleIds: [], unreadable: [], keptFiles: kept
        )
    }

    func testRecoveringIsOfferedFirstAndReportsWhatWasSavedAndLost() {
        var flow = RecoveryFlow(reason: "the database file is missing", keptFiles: kept)
        XCTAssertTrue(flow.recoverTapped())
        XCTAssertFalse(flow.recoverTapped(), "a second tap does not start a second recovery")
        flow.recovered(report(recovered: 38, unreadable: 2))
        XCTAssertEqual(flow.step, .done(summary: [
            "38 sales recovered; 38 sales will upload when online.",
            "2 sales could not be read. Check them against paper receipts; the damaged file was kept for support.",
        ], keptFiles: kept))
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
