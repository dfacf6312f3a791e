import XCTest
import Tillkit
@testable import TillkitKit

final class RefundFlowTests: XCTestCase {
    private let money = MoneyFormat(locale: Locale(identifier: "en_GB"))
    private let refundId = "0193a6f2-7c1e-7b4a-9f1e-2a6d1c9e5b01"
    private let saleId = "0193a6f0-0000-7000-8000-000000000042"

    private func receiptLine(_ no: UInt32, _ name: String, _ price: String, _ quantity: String) -> ReceiptLineRecord {
        ReceiptLineRecord(lineNo: no, productId: "p-\(no)", sku: "SKU-\(no)", name: name, unitPrice: price, quantity: quantity,
                          taxCategory: "standard", discount: nil, amount: price, lineDiscount: "0", cartDiscount: "0",
                          net: price, tax: "0", gross: price)
    }

    /// Two headphones (one already refunded), 0.375 kg of cheese, bread all refunded.
    private func sale(spent: Bool = false, paidByCard: Bool = true) -> RefundableSale {
        let receipt = SaleReceipt(
            saleId: saleId, receiptNo: "R07-000042", storeId: "uk-01", registerId: "R07", staffId: "alice",
            createdAtMs: 1_764_000_000_000, currency: "GBP",
            lines: [receiptLine(1, "Headphones", "49.99", "2"), receiptLine(2, "Comté", "18.40", "0.375"), receiptLine(3, "Bread", "2.50", "1")],
            cartDiscount: nil, subtotal: "109.28", discountTotal: "0", netTotal: "91.07", taxTotal: "18.21", total: "109.28",
            taxes: [], cashRounding: "0", amountDue: "109.28", tendered: "109.28", changeDue: "0",
            payments: [paidByCard ? PaymentRecord(method: .card, amount: "109.28", reference: "TRM-0")
                                  : PaymentRecord(method: .cash, amount: "109.28", reference: nil)],
            oversold: false)
        let lines = [
            RefundableLineRecord(lineNo: 1, productId: "p-1", name: "Headphones", sold: "2", refunded: spent ? "2" : "1", left: spent ? "0" : "1", stockTracked: true),
            RefundableLineRecord(lineNo: 2, productId: "p-2", name: "Comté", sold: "0.375", refunded: spent ? "0.375" : "0", left: spent ? "0" : "0.375", stockTracked: true),
            RefundableLineRecord(lineNo: 3, productId: "p-3", name: "Bread", sold: "1", refunded: "1", left: "0", stockTracked: false),
        ]
        return RefundableSale(sale: receipt, lines: lines)
    }

    private func choosing() -> RefundFlow {
        var flow = RefundFlow(refundId: refundId, money: money)
        flow.receiptTyped("  R07-000042\n")
        XCTAssertEqual(flow.lookupTapped(), "R07-000042")
        flow.found(sale())
        return flow
    }

    func testTheReceiptNumberIsLookedUpOnceAndAScanIsTheSameAsTypingIt() {
        var flow = RefundFlow(refundId: refundId, money: money)
        XCTAssertNil(flow.lookupTapped())
        XCTAssertEqual(flow.step, .enterReceipt(typed: "", problem: "Type or scan the receipt number"))
        XCTAssertEqual(flow.scanned("R07-000042\r\n"), "R07-000042")
        XCTAssertNil(flow.lookupTapped(), "a second Return while looking up sends nothing")
        XCTAssertNil(flow.scanned("R07-000043"))
        XCTAssertEqual(flow.step, .lookingUp(receiptNo: "R07-000042"))
        flow.found(sale())
        XCTAssertEqual(flow.step, .choose(RefundForm(sale: sale())))
    }

    func testTheWholeSaleRefundsWhatIsLeftAndALineNotRestockableNamesEveryLine() {
        var flow = choosing()
        XCTAssertEqual(flow.review?.order?.lines, .everything(restock: true))
        XCTAssertEqual(flow.review?.order?.request,
                       RefundRequestRecord(refundId: refundId, sale: .saleId(saleId: saleId), lines: .everything(restock: true), tender: .cash, reason: nil))
        flow.restockChanged(lineNo: 2, restock: false)
        XCTAssertEqual(flow.review?.order?.lines, .items(items: [
            RefundItemRecord(lineNo: 1, quantity: "1", restock: true),
            RefundItemRecord(lineNo: 2, quantity: "0.375", restock: false),
        ]), "bread (nothing left) is not named; the cheese keeps its weight and stays off the shelf")
        flow.restockChanged(lineNo: 2, restock: true)
        XCTAssertEqual(flow.review?.order?.lines, .everything(restock: true))
    }

    func testQuantitiesAreDecimalCheckedAgainstWhatIsLeftAndNamedAtTheirLine() {
        var flow = choosing()
        flow.quantityTyped(lineNo: 2, "0,125")
        XCTAssertEqual(flow.review?.order?.lines, .items(items: [RefundItemRecord(lineNo: 2, quantity: "0.125", restock: true)]))
        flow.quantityTyped(lineNo: 1, "2")
        XCTAssertNil(flow.review?.order)
        XCTAssertEqual(flow.review?.lineProblems[1], "At most 1 can come back: 2 sold, 1 already refunded")
        XCTAssertEqual(flow.review?.problem, "Check the quantities marked in red")
        XCTAssertFalse(flow.canConfirm)
        XCTAssertNil(flow.confirmTapped())
        flow.quantityTyped(lineNo: 1, "1.")
        XCTAssertEqual(flow.review?.lineProblems[1], "Enter a quantity like 1 or 0.25")
        flow.quantityTyped(lineNo: 1, "-1")
        XCTAssertEqual(flow.review?.lineProblems[1], "Enter a quantity like 1 or 0.25")
        flow.quantityTyped(lineNo: 3, "1")
        XCTAssertEqual(flow.review?.lineProblems[3], "Already refunded in full (1 sold)")
        flow.quantityTyped(lineNo: 1, "1.000")
        flow.quantityTyped(lineNo: 2, "0.4")
        flow.quantityTyped(lineNo: 3, "")
        XCTAssertEqual(flow.review.map { Set($0.lineProblems.keys) }, [2])
        XCTAssertEqual(flow.review?.lineProblems[2], "At most 0.375 can come back: 0.375 sold, 0 already refunded")
        flow.allOfLine(lineNo: 2)
        XCTAssertEqual(flow.review?.order?.lines, .items(items: [
            RefundItemRecord(lineNo: 1, quantity: "1", restock: true),
            RefundItemRecord(lineNo: 2, quantity: "0.375", restock: true),
        ]))
        // Zero of every line is nothing chosen, not a refund of nothing.
        flow.quantityTyped(lineNo: 1, "0")
        flow.quantityTyped(lineNo: 2, "0.000")
        XCTAssertEqual(flow.review?.problem, "Enter what comes back, or choose the whole sale")
        flow.wholeSale(true)
        XCTAssertEqual(flow.review?.order?.lines, .everything(restock: true))
    }

    func testCardNeedsTheTerminalReferenceAndTheReasonIsOptional() {
        var flow = choosing()
        flow.methodChosen(.card)
        XCTAssertEqual(flow.review?.problem, "Enter the card terminal's reference for the refund")
        flow.cardReferenceTyped("  TRM-88121 ")
        flow.reasonTyped("   ")
        XCTAssertEqual(flow.review?.order?.tender, .card(reference: "TRM-88121"))
        XCTAssertNil(flow.review?.order?.reason)
        flow.reasonTyped(" faulty left ear ")
        XCTAssertEqual(flow.review?.order?.reason, "faulty left ear")
        flow.methodChosen(.cash)
        XCTAssertEqual(flow.review?.order?.tender, .cash)

        // Paid all in cash: nothing can go back to a card.
        var cashSale = RefundFlow(refundId: refundId, money: money)
        _ = cashSale.scanned("R07-000042")
        cashSale.found(sale(paidByCard: false))
        cashSale.methodChosen(.card)
        cashSale.cardReferenceTyped("TRM-1")
        XCTAssertEqual(cashSale.review?.problem, "This sale was paid in cash: refund it in cash")
        XCTAssertNil(cashSale.confirmTapped())
    }

    func testConfirmSendsOnceAndEveryRetryCarriesTheSameRefundId() throws {
        var flow = choosing()
        flow.quantityTyped(lineNo: 1, "1")
        let first = try XCTUnwrap(flow.confirmTapped())
        XCTAssertEqual(first.refundId, refundId)
        XCTAssertNil(flow.confirmTapped(), "a second tap while sending sends nothing")
        XCTAssertFalse(flow.canConfirm)
        flow.quantityTyped(lineNo: 1, "0")
        flow.otherReceipt()
        guard case let .sending(_, sending) = flow.step else { return XCTFail("\(flow.step)") }
        XCTAssertEqual(sending, first, "no edit while sending")

        // Another register refunded the same line meanwhile: nothing written, choose again.
        flow.refundFailed(TillkitError.OverRefund(lineNo: 1, requested: "1", sold: "2", refunded: "2"))
        guard case let .choose(form) = flow.step else { return XCTFail("\(flow.step)") }
        XCTAssertEqual(form.failure,
                       "Headphones: 2 sold and 2 already refunded, so at most 0 can come back (not 1). Nothing was refunded.")
        flow.quantityTyped(lineNo: 1, "")
        flow.quantityTyped(lineNo: 2, "0.2")
        let second = try XCTUnwrap(flow.confirmTapped())
        XCTAssertEqual(second.refundId, refundId)
        guard case let .sending(sentForm, _) = flow.step else { return XCTFail("\(flow.step)") }
        XCTAssertNil(sentForm.failure, "the failure is cleared once sent again")

        // The call was cancelled: only the same order goes again, under the same id.
        flow.interrupted()
        XCTAssertTrue(flow.canConfirm)
        flow.quantityTyped(lineNo: 2, "0.1")
        guard case let .interrupted(_, kept) = flow.step else { return XCTFail("\(flow.step)") }
        XCTAssertEqual(kept, second, "the choice is locked after an interruption")
        XCTAssertEqual(flow.confirmTapped(), second)
        XCTAssertNil(flow.confirmTapped())
        // The id was used for a refund with other content (an answer lost otherwise): said plainly.
        flow.refundFailed(TillkitError.RefundAlreadyGiven(refundId: refundId, receiptNo: "R07-000051", reason: "other lines"))
        guard case let .choose(given) = flow.step else { return XCTFail("\(flow.step)") }
        XCTAssertEqual(given.failure, "This refund was already given as receipt R07-000051; nothing more was refunded. "
            + "Start a new refund to give back more.")
    }

    func testTheRefundReceiptShowsItsOwnNumberLinkedToTheSale() throws {
        var flow = choosing()
        flow.methodChosen(.card)
        flow.cardReferenceTyped("TRM-1")
        flow.restockChanged(lineNo: 2, restock: false)
        _ = try XCTUnwrap(flow.confirmTapped())
        func line(_ name: String, _ quantity: String, _ gross: String, restock: Bool) -> RefundLineRecord {
            RefundLineRecord(lineNo: 1, productId: "p", sku: "s", name: name, unitPrice: gross, quantity: quantity,
                             net: gross, tax: "0", gross: gross, taxes: [], restock: restock)
        }
        let receipt = RefundReceipt(
            refundId: refundId, refundOf: saleId, refundOfReceipt: "R07-000042", receiptNo: "R07-000051",
            storeId: "uk-01", registerId: "R07", staffId: "alice", createdAtMs: 1_764_000_100_000, currency: "GBP",
            lines: [line("Headphones", "1", "49.99", restock: true), line("Comté", "0.375", "6.90", restock: false)],
            netTotal: "47.41", taxTotal: "9.48", total: "56.89", taxes: [], cashRounding: "0", amountPaid: "56.89",
            payments: [PaymentRecord(method: .card, amount: "56.89", reference: "TRM-1")], reason: "faulty")
        flow.refunded(receipt)
        XCTAssertEqual(flow.step, .done(receipt, lines: [
            "Refund R07-000051 · of receipt R07-000042",
            "Headphones × 1 · £49.99",
            "Comté × 0.375 · £6.90 · not back to stock",
            "Back to card £56.89 · terminal ref. TRM-1",
            "Reason: faulty",
        ]))
        XCTAssertNil(flow.confirmTapped(), "nothing more to send")
        // Cash back is what the core paid after cash rounding, not the total.
        let cash = RefundReceipt(
            refundId: refundId, refundOf: saleId, refundOfReceipt: "R07-000042", receiptNo: "R07-000052",
            storeId: "uk-01", registerId: "R07", staffId: "alice", createdAtMs: 1_764_000_100_000, currency: "GBP",
            lines: [], netTotal: "47.41", taxTotal: "9.48", total: "56.89", taxes: [], cashRounding: "0.01", amountPaid: "56.90",
            payments: [PaymentRecord(method: .cash, amount: "56.90", reference: nil)], reason: nil)
        XCTAssertEqual(refundReceiptLines(cash, money: money).last, "Cash back £56.90")
    }

    func testAReceiptTheCoreCallsUnknownSaysCheckTheNumberAndOneNotHeldSaysWhetherOnline() {
        var flow = RefundFlow(refundId: refundId, money: money)
        _ = flow.scanned("R07-000999")
        flow.lookupFailed(TillkitError.UnknownReceipt(receipt: "R07-000999"))
        XCTAssertEqual(flow.step, .enterReceipt(
            typed: "R07-000999",
            problem: "No sale has receipt number R07-000999: check the number on the receipt"))
        // Not held and the server not reachable: the number's register part is never read.
        let missing = TillkitError.NeedsConnection(what: "a refund of receipt R07-000998, which this device does not hold,")
        flow.receiptTyped("R07-000998")
        _ = flow.lookupTapped()
        flow.lookupFailed(missing)
        XCTAssertEqual(flow.step, .enterReceipt(
            typed: "R07-000998",
            problem: "Receipt R07-000998 is not on this register. Refunding it needs a connection to the server: "
                + "try again once this register is online"))
        flow.online = true
        XCTAssertEqual(flow.lookupMessage(missing, receiptNo: "R99-000001"),
                       "Receipt R99-000001 is not on this register and the server did not answer: try again in a moment")
        XCTAssertEqual(flow.lookupMessage(TillkitError.InvalidInput(reason: "R07-000051 is a refund, not a sale"), receiptNo: "R07-000051"),
                       "Receipt R07-000051 cannot be refunded: R07-000051 is a refund, not a sale")
        XCTAssertEqual(TillkitError.UnknownReceipt(receipt: "R07-000999").cashierMessage(money: money, currency: nil),
                       "No sale has receipt number R07-000999: check the number on the receipt")
    }

    func testASaleWithNothingLeftCannotBeConfirmed() {
        var flow = RefundFlow(refundId: refundId, money: money)
        _ = flow.scanned("R07-000042")
        flow.found(sale(spent: true))
        XCTAssertEqual(flow.review?.problem, "Everything on receipt R07-000042 has already been refunded")
        XCTAssertFalse(flow.canConfirm)
        XCTAssertNil(flow.confirmTapped())
        flow.otherReceipt()
        XCTAssertEqual(flow.step, .enterReceipt(typed: "R07-000042", problem: nil))
    }
}
