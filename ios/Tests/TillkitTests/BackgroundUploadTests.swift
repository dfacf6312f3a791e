import XCTest
import Tillkit
@testable import TillkitKit

final class BackgroundUploadTests: XCTestCase {
    func testSalesWaitingAskForAProcessingRunAndTheRefreshIsAlwaysKept() {
        XCTAssertEqual(BackgroundUpload.requests(pending: 3), .init(appRefresh: true, processing: true))
        XCTAssertEqual(BackgroundUpload.requests(pending: 0), .init(appRefresh: true, processing: false))
    }

    func testOnlyARunThatRanOutOfTimeFailed() {
        XCTAssertTrue(BackgroundUpload.succeeded(.drained))
        XCTAssertTrue(BackgroundUpload.succeeded(.needsAttention))
        XCTAssertFalse(BackgroundUpload.succeeded(.timedOut))
    }

    func testBudgetsStayBelowWhatIOSGivesEachRun() {
        // An app refresh gets about 30 s in all; opening and the drain must fit in it.
        XCTAssertLessThan(Double(BackgroundUpload.refreshBudgetMs) / 1000 + BackgroundUpload.openBudgetSeconds, 30)
        XCTAssertEqual(BackgroundUpload.budgetMs(processing: true), BackgroundUpload.processingBudgetMs)
        XCTAssertEqual(BackgroundUpload.budgetMs(processing: false), BackgroundUpload.refreshBudgetMs)
        XCTAssertEqual(Set(BackgroundUpload.identifiers).count, 2)
    }
}
