import XCTest
import Tillkit
@testable import TillkitKit

final class StatusPillTests: XCTestCase {
    func testOnlineWithAnEmptyQueueIsAPlainGreenPill() {
        let pill = StatusPill(RegisterStatus(online: true))
        XCTAssertEqual(pill.colour, .green)
        XCTAssertEqual(pill.text, "Online")
        XCTAssertNil(pill.detail)
        XCTAssertNil(pill.attentionBadge)
    }

    func testOfflineWithPendingSalesIsAmberWithTheCountAndOldestAge() {
        let pill = StatusPill(RegisterStatus(online: false, pending: 4, oldestPendingAgeSecs: 185))
        XCTAssertEqual(pill.colour, .amber)
        XCTAssertEqual(pill.text, "Offline · 4 pending")
        XCTAssertEqual(pill.detail, "oldest 3 min ago")
    }

    func testARefusedTokenIsRedAndSaysWhatToDo() {
        let pill = StatusPill(RegisterStatus(online: true, pending: 1, attention: 1, authFailed: true))
        XCTAssertEqual(pill.colour, .red)
        XCTAssertEqual(pill.text, "Register not authorised · 1 pending")
        XCTAssertEqual(pill.detail, "Ask a manager for a pairing code")
        XCTAssertEqual(pill.attentionBadge, "1")
    }

    func testAttentionBadgeCapsAt99() {
        XCTAssertEqual(StatusPill(RegisterStatus(online: true, attention: 3)).attentionBadge, "3")
        XCTAssertEqual(StatusPill(RegisterStatus(online: true, attention: 120)).attentionBadge, "99+")
    }

    func testAgesAreWordedInTheLargestWholeUnit() {
        XCTAssertEqual(ago(seconds: 59), "just now")
        XCTAssertEqual(ago(seconds: 60), "1 min ago")
        XCTAssertEqual(ago(seconds: 7_200), "2 h ago")
        XCTAssertEqual(ago(seconds: 86_400), "1 day ago")
        XCTAssertEqual(ago(seconds: 3 * 86_400), "3 days ago")
    }

    func testTheBindingsRecordMapsFieldByField() {
        let record = SyncStatusRecord(
            connectivity: .offline, syncing: false, pending: 2, oldestPendingAgeSecs: 30,
            lastSuccessAtMs: nil, lastError: "connection refused", attention: 2, authFailed: false, needsPairing: true,
            protocolMismatch: .serverTooOld(app: 2, serverMax: 1),
            stores: [StoreBacklogRecord(storeId: "uk-02", pending: 2, parked: 0, setAside: 0, blocked: .noToken)]
        )
        XCTAssertEqual(
            RegisterStatus(record),
            RegisterStatus(
                online: false, pending: 2, oldestPendingAgeSecs: 30, attention: 2, needsPairing: true,
                lastError: "connection refused",
                blockedStores: [.init(storeId: "uk-02", pending: 2)], serverTooOld: true
            )
        )
    }

    func testAServerTooOldIsRedAndSaysSoWithTheSalesKept() {
        let pill = StatusPill(RegisterStatus(online: true, pending: 3, serverTooOld: true))
        XCTAssertEqual(pill.colour, .red)
        XCTAssertEqual(pill.text, "Server too old for this app · 3 pending")
    }

    func testAStoreWithoutATokenIsNamedWithItsWaitingSales() {
        let status = RegisterStatus(online: true, pending: 2, attention: 1, blockedStores: [.init(storeId: "uk-02", pending: 2)])
        XCTAssertEqual(StatusPill(status).detail, "2 sales of store uk-02 wait for its register token")
    }
}

final class AttentionRowTests: XCTestCase {
    func testRowsShowTheServersReasonAmountAndAge() {
        let now: Int64 = 1_800_000_000_000
        let sale = QueuedSaleRecord(
            saleId: "s1", storeId: "uk-01", receiptNo: "R08-000042", total: "12.5", currency: "GBP", state: .attention,
            enqueuedAtMs: now - 7_200_000, attempts: 3, lastError: nil, reason: "unknown product", retryAtMs: nil
        )
        let rows = attentionRows([sale], nowMs: now, money: MoneyFormat(locale: Locale(identifier: "en_GB")))
        XCTAssertEqual(rows, [AttentionRow(id: "s1", receiptNo: "R08-000042", total: "£12.50", reason: "unknown product", age: "rung up 2 h ago")])
    }
}
