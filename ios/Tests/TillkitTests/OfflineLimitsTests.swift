import XCTest
import Tillkit
@testable import TillkitKit

final class OfflineLimitsTests: XCTestCase {
    private let money = MoneyFormat(locale: Locale(identifier: "en_GB"))

    func testNoWarningNoBanner() {
        XCTAssertNil(offlineLimitBanner(OfflineLimitsState(), money: money, currency: "GBP"))
    }

    func testANearTotalWarnsWithWhichLimitAndHowClose() {
        let state = OfflineLimitsState(warnings: [
            .init(limit: .cardTotal, percent: 80, reached: false, usedAmount: "80.00", maxAmount: "100.00"),
        ])
        XCTAssertEqual(
            offlineLimitBanner(state, money: money, currency: "GBP"),
            LimitBanner(stop: false, text: "Card sales offline: £80.00 of £100.00 (80%): reconnect soon")
        )
    }

    func testAReachedTimeLimitStopsCardAndPointsToCash() {
        let state = OfflineLimitsState(warnings: [
            .init(limit: .cardOfflineTime, percent: 100, reached: true, usedSecs: 86_460, maxSecs: 86_400),
        ])
        let banner = offlineLimitBanner(state, money: money, currency: "GBP")
        XCTAssertEqual(banner?.stop, true)
        XCTAssertEqual(banner?.text, "Card limit reached (Card offline for 24 h 1 min of 24 h): take cash or reconnect to sync")
    }

    func testARefusalNamesTheLimitAndWhatStillWorks() {
        let error = TillkitError.OfflineLimitReached(limit: .cardSale, attempted: "50.01", max: "50.00")
        XCTAssertEqual(
            error.cashierMessage(money: money, currency: "GBP"),
            "Card offline is limited to £50.00 per sale. Take cash for the rest, or reconnect."
        )
    }
}
