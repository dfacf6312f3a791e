import XCTest
import Tillkit
@testable import TillkitKit

final class PaymentTests: XCTestCase {
    private let uk = MoneyFormat(locale: Locale(identifier: "en_GB"))

    func testChangeDueIsExactWhereBinaryFloatingPointIsNot() {
        let state = cashPayment(total: "0.20", currency: "GBP", tendered: "0.30", money: uk)
        XCTAssertEqual(state.changeDue, "£0.10")
        XCTAssertEqual(state.payment, PaymentRecord(method: .cash, amount: "0.30", reference: nil))
    }

    func testUnderpayingBlocksChargeAndSaysByHowMuch() {
        let state = cashPayment(total: "12.50", currency: "GBP", tendered: "10", money: uk)
        XCTAssertNil(state.payment)
        XCTAssertEqual(state.problem, "Short by £2.50")
    }

    func testMoreDecimalsThanTheCurrencyHasAreRefused() {
        XCTAssertEqual(cashPayment(total: "12.50", currency: "GBP", tendered: "20.001", money: uk).problem, "GBP has at most 2 decimals")
        XCTAssertEqual(cashPayment(total: "1200", currency: "JPY", tendered: "1500.5", money: uk).problem, "JPY has no decimals")
        XCTAssertNotNil(cashPayment(total: "1200", currency: "JPY", tendered: "1500.00", money: uk).payment)
    }

    func testACommaKeyboardIsUnderstood() {
        XCTAssertEqual(cashPayment(total: "12.50", currency: "GBP", tendered: "20,50", money: uk).payment?.amount, "20.50")
    }

    func testCardNeedsTheTerminalReferenceAndPaysTheExactTotal() {
        XCTAssertEqual(cardPayment(total: "12.50", reference: "  ").problem, "Enter the card terminal's reference")
        XCTAssertEqual(cardPayment(total: "12.50", reference: " T-4411 ").payment, PaymentRecord(method: .card, amount: "12.50", reference: "T-4411"))
    }

    func testMinorUnitsFollowIso4217() {
        XCTAssertEqual(minorUnits("JPY"), 0)
        XCTAssertEqual(minorUnits("GBP"), 2)
        XCTAssertEqual(minorUnits("KWD"), 3)
    }

    func testDisplayPadsToTheMinorUnitAndNeverRounds() {
        XCTAssertEqual(uk.format("12.5", currency: "GBP"), "£12.50")
        XCTAssertEqual(uk.format("1.005", currency: "GBP"), "£1.005")
        XCTAssertEqual(MoneyFormat(locale: Locale(identifier: "en_US")).format("1200", currency: "JPY"), "¥1,200")
        XCTAssertTrue(uk.format("1.5", currency: "KWD").hasSuffix("1.500"))
        XCTAssertEqual(uk.format("1e3", currency: "GBP"), "1e3 GBP")
    }
}
