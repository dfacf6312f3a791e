// The refund flow: receipt number in, what is left to refund, the cashier's choice, confirm
// once, the refund receipt out. Wording and flow only: the core checks every quantity again,
// reverses the tax with the sale's own figures and writes the refund; its receipt is final.
import Foundation
import Tillkit

public enum RefundMethod: Equatable {
    case cash, card
}

/// What the cashier has chosen so far on the refund screen.
public struct RefundForm: Equatable {
    /// The sale `refundable` found, with what is left of each line.
    public let sale: RefundableSale
    /// The whole sale (all that is left) or only the quantities typed in `quantities`.
    public var whole = true
    /// Typed quantity per line number, in partial mode; blank or missing is none of it.
    public var quantities: [UInt32: String] = [:]
    /// Lines marked not restockable (damaged, perishable): they do not go back to stock.
    public var notRestocked: Set<UInt32> = []
    public var method: RefundMethod = .cash
    public var cardReference = ""
    public var reason = ""
    /// Why the last `refund` call failed, in the cashier's words; nil before any failure.
    public var failure: String?

    public init(sale: RefundableSale) {
        self.sale = sale
    }
}

/// A refund ready for `refund`: made once per refund, the same on every retry of it.
public struct RefundOrder: Equatable {
    public let refundId: String
    /// The sale `refundable` found (by id, so the refund is of exactly that sale).
    public let saleId: String
    public let lines: RefundLinesRecord
    public let tender: RefundTenderRecord
    public let reason: String?

    /// The record `refund` takes; the same refund id on every try, so the core returns the
    /// refund already written instead of a second one.
    public var request: RefundRequestRecord {
        RefundRequestRecord(refundId: refundId, sale: .saleId(saleId: saleId), lines: lines, tender: tender, reason: reason)
    }
}

/// The form checked: what Confirm would send, or why it is disabled.
public struct RefundReview: Equatable {
    /// Nil while Confirm is disabled.
    public let order: RefundOrder?
    /// Why Confirm is disabled.
    public let problem: String?
    /// A problem with one line's typed quantity, by line number.
    public let lineProblems: [UInt32: String]
}

/// Where the refund screen stands.
public enum RefundStep: Equatable {
    /// Type or scan the receipt number.
    case enterReceipt(typed: String, problem: String?)
    /// `refundable` is running.
    case lookingUp(receiptNo: String)
    /// The sale's lines are shown; the cashier chooses what comes back and how.
    case choose(RefundForm)
    /// `refund` is running with the order; nothing can be sent again until it answers.
    case sending(RefundForm, RefundOrder)
    /// The call was cancelled before it answered: the refund may have been written. Only the
    /// same order goes again, under the same refund id, so the core returns the refund it
    /// already wrote instead of a second one.
    case interrupted(RefundForm, RefundOrder)
    /// The refund is written: its receipt, and the lines the screen shows.
    case done(RefundReceipt, lines: [String])
}

/// The refund screen's state machine; the app calls the core when it says so. `refundId` is
/// made once per refund and sent on every try of it. Whether a receipt number exists is the
/// core's answer (`UnknownReceipt`), never guessed from its register part.
public struct RefundFlow {
    public let refundId: String
    private let money: MoneyFormat
    /// Whether the register is online now, for the wording of a sale not on this device.
    public var online = false
    public private(set) var step: RefundStep = .enterReceipt(typed: "", problem: nil)

    public init(refundId: String = UUID().uuidString.lowercased(), money: MoneyFormat = MoneyFormat()) {
        self.refundId = refundId
        self.money = money
    }

    /// Typing in the receipt number field.
    public mutating func receiptTyped(_ text: String) {
        if case let .enterReceipt(_, problem) = step { step = .enterReceipt(typed: text, problem: problem) }
    }

    /// "Find" or Return (a scanner types the receipt's barcode, which carries the receipt
    /// number, then Return): the number to pass to `refundable`, or nil when there is
    /// nothing to look up or a look-up is running.
    public mutating func lookupTapped() -> String? {
        guard case let .enterReceipt(typed, _) = step else { return nil }
        let receipt = normalisedReceipt(typed)
        if receipt.isEmpty {
            step = .enterReceipt(typed: typed, problem: "Type or scan the receipt number")
            return nil
        }
        step = .lookingUp(receiptNo: receipt)
        return receipt
    }

    /// A scanned receipt barcode: the same as typing its number and pressing Return.
    public mutating func scanned(_ code: String) -> String? {
        guard case .enterReceipt = step else { return nil }
        step = .enterReceipt(typed: code, problem: nil)
        return lookupTapped()
    }

    /// `refundable` answered.
    public mutating func found(_ sale: RefundableSale) {
        if case .lookingUp = step { step = .choose(RefundForm(sale: sale)) }
    }

    /// `refundable` threw: back to the receipt field, its text kept, with the reason.
    public mutating func lookupFailed(_ error: Error) {
        guard case let .lookingUp(receipt) = step else { return }
        step = .enterReceipt(typed: receipt, problem: lookupMessage(error, receiptNo: receipt))
    }

    /// Another receipt: only while choosing (never while a refund is being sent).
    public mutating func otherReceipt() {
        if case let .choose(form) = step { step = .enterReceipt(typed: form.sale.sale.receiptNo, problem: nil) }
    }

    /// Edits the choice; ignored unless the cashier is choosing.
    public mutating func edit(_ change: (inout RefundForm) -> Void) {
        guard case var .choose(form) = step else { return }
        change(&form)
        step = .choose(form)
    }

    public mutating func wholeSale(_ whole: Bool) { edit { $0.whole = whole } }

    public mutating func quantityTyped(lineNo: UInt32, _ text: String) {
        edit { $0.whole = false; $0.quantities[lineNo] = text }
    }

    /// "All" for one line: what is left of it.
    public mutating func allOfLine(lineNo: UInt32) {
        edit { form in
            guard let left = form.sale.lines.first(where: { $0.lineNo == lineNo })?.left else { return }
            form.whole = false
            form.quantities[lineNo] = left
        }
    }

    public mutating func restockChanged(lineNo: UInt32, restock: Bool) {
        edit { form in
            if restock { form.notRestocked.remove(lineNo) } else { form.notRestocked.insert(lineNo) }
        }
    }

    public mutating func methodChosen(_ method: RefundMethod) { edit { $0.method = method } }
    public mutating func cardReferenceTyped(_ text: String) { edit { $0.cardReference = text } }
    public mutating func reasonTyped(_ text: String) { edit { $0.reason = text } }

    /// The current choice checked (line problems, why Confirm is off); nil unless choosing.
    public var review: RefundReview? {
        guard case let .choose(form) = step else { return nil }
        return reviewRefund(form, refundId: refundId)
    }

    /// Whether Confirm (or "Confirm again" after an interruption) is enabled.
    public var canConfirm: Bool {
        switch step {
        case .choose: return review?.order != nil
        case .interrupted: return true
        default: return false
        }
    }

    /// Confirm: the order to pass to `refund`, or nil when Confirm is disabled or a refund is
    /// already being sent (a second tap sends nothing). After an interruption it is the very
    /// same order, under the same refund id.
    public mutating func confirmTapped() -> RefundOrder? {
        switch step {
        case var .choose(form):
            guard let order = reviewRefund(form, refundId: refundId).order else { return nil }
            form.failure = nil
            step = .sending(form, order)
            return order
        case let .interrupted(form, order):
            step = .sending(form, order)
            return order
        default:
            return nil
        }
    }

    /// `refund` returned: the refund is written.
    public mutating func refunded(_ receipt: RefundReceipt) {
        switch step {
        case .sending, .interrupted: step = .done(receipt, lines: refundReceiptLines(receipt, money: money))
        default: break
        }
    }

    /// `refund` threw a refusal: nothing was written, so the choice can be changed and
    /// confirmed again (still under the same refund id). A cancellation is `interrupted()`.
    public mutating func refundFailed(_ error: Error) {
        guard case var .sending(form, _) = step else { return }
        form.failure = refundMessage(error, sale: form.sale)
        step = .choose(form)
    }

    /// The `refund` call was cancelled or its answer lost: the same order may be sent again.
    public mutating func interrupted() {
        if case let .sending(form, order) = step { step = .interrupted(form, order) }
    }

    /// The receipt field's wording of what `refundable` threw.
    public func lookupMessage(_ error: Error, receiptNo: String) -> String {
        switch error as? TillkitError {
        case let .UnknownReceipt(receipt)?:
            return "No sale has receipt number \(receipt): check the number on the receipt"
        case .NeedsConnection?:
            if !online {
                return "Receipt \(receiptNo) is not on this register. Refunding it needs a connection to the server: "
                    + "try again once this register is online"
            }
            return "Receipt \(receiptNo) is not on this register and the server did not answer: try again in a moment"
        case let .NotFound(what)?:
            return "Not found: \(what)"
        case let .InvalidInput(reason)?:
            return "Receipt \(receiptNo) cannot be refunded: \(reason)"
        case let known?:
            return known.cashierMessage(money: money, currency: nil)
        case nil:
            return error.localizedDescription
        }
    }

    /// The choose screen's wording of what `refund` threw.
    public func refundMessage(_ error: Error, sale: RefundableSale) -> String {
        switch error as? TillkitError {
        case let .OverRefund(lineNo, requested, sold, refunded)?:
            let name = sale.lines.first(where: { $0.lineNo == lineNo })?.name ?? "Line \(lineNo)"
            return "\(name): \(sold) sold and \(refunded) already refunded, so at most \(leftOf(sold, refunded)) can "
                + "come back (not \(requested)). Nothing was refunded."
        case .NeedsConnection?:
            return lookupMessage(error, receiptNo: sale.sale.receiptNo)
        case let .UnknownReceipt(receipt)?:
            return lookupMessage(error, receiptNo: receipt)
        case let .RefundAlreadyGiven(_, receiptNo, _)?:
            return "This refund was already given as receipt \(receiptNo); nothing more was refunded. "
                + "Start a new refund to give back more."
        case let .NotFound(what)?:
            return "Not found: \(what). Nothing was refunded."
        case let .InvalidInput(reason)?:
            return "\(reason). Nothing was refunded."
        case let known?:
            return known.cashierMessage(money: money, currency: sale.sale.currency)
        case nil:
            return error.localizedDescription
        }
    }
}

/// Checks the form as the core will (quantities within what is left, a card reference for
/// card) so the cashier sees the problem at the line; the core checks again and decides.
public func reviewRefund(_ form: RefundForm, refundId: String) -> RefundReview {
    let refundable = form.sale.lines.filter { (exactDecimal($0.left) ?? 0) > 0 }
    if refundable.isEmpty {
        return RefundReview(order: nil, problem: "Everything on receipt \(form.sale.sale.receiptNo) has already been refunded", lineProblems: [:])
    }
    var lineProblems: [UInt32: String] = [:]
    let lines: RefundLinesRecord?
    if form.whole {
        if refundable.allSatisfy({ !form.notRestocked.contains($0.lineNo) }) {
            lines = .everything(restock: true)
        } else {
            // One line is not restockable: name every line, each with its own flag.
            lines = .items(items: refundable.map {
                RefundItemRecord(lineNo: $0.lineNo, quantity: $0.left, restock: !form.notRestocked.contains($0.lineNo))
            })
        }
    } else {
        var items: [RefundItemRecord] = []
        for line in form.sale.lines {
            let typed = (form.quantities[line.lineNo] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            if typed.isEmpty { continue }
            let left = exactDecimal(line.left) ?? 0
            guard let quantity = typedQuantity(typed) else {
                lineProblems[line.lineNo] = "Enter a quantity like 1 or 0.25"
                continue
            }
            if quantity == 0 { continue }
            if quantity > left {
                lineProblems[line.lineNo] = left == 0
                    ? "Already refunded in full (\(line.sold) sold)"
                    : "At most \(line.left) can come back: \(line.sold) sold, \(line.refunded) already refunded"
                continue
            }
            items.append(RefundItemRecord(lineNo: line.lineNo, quantity: plain(quantity), restock: !form.notRestocked.contains(line.lineNo)))
        }
        lines = items.isEmpty ? nil : .items(items: items)
    }
    let tender: RefundTenderRecord?
    switch form.method {
    case .cash: tender = .cash
    case .card:
        let reference = form.cardReference.trimmingCharacters(in: .whitespacesAndNewlines)
        tender = reference.isEmpty ? nil : .card(reference: reference)
    }
    let problem: String?
    if !lineProblems.isEmpty {
        problem = "Check the quantities marked in red"
    } else if lines == nil {
        problem = "Enter what comes back, or choose the whole sale"
    } else if form.method == .card && !form.sale.sale.payments.contains(where: { $0.method == .card }) {
        // Only what was paid by card can go back to a card (the core caps it).
        problem = "This sale was paid in cash: refund it in cash"
    } else if tender == nil {
        problem = "Enter the card terminal's reference for the refund"
    } else {
        problem = nil
    }
    guard problem == nil, let pick = lines, let back = tender else {
        return RefundReview(order: nil, problem: problem, lineProblems: lineProblems)
    }
    let reason = form.reason.trimmingCharacters(in: .whitespacesAndNewlines)
    let order = RefundOrder(refundId: refundId, saleId: form.sale.sale.saleId, lines: pick, tender: back,
                            reason: reason.isEmpty ? nil : reason)
    return RefundReview(order: order, problem: nil, lineProblems: lineProblems)
}

/// The refund receipt as lines: its own number and the sale it reverses first.
public func refundReceiptLines(_ receipt: RefundReceipt, money: MoneyFormat) -> [String] {
    var lines = ["Refund \(receipt.receiptNo) · of receipt \(receipt.refundOfReceipt)"]
    for line in receipt.lines {
        lines.append("\(line.name) × \(line.quantity) · \(money.format(line.gross, currency: receipt.currency))"
            + (line.restock ? "" : " · not back to stock"))
    }
    let paid = money.format(receipt.amountPaid, currency: receipt.currency)
    if let card = receipt.payments.first(where: { $0.method == .card }) {
        lines.append("Back to card \(paid)" + (card.reference.map { " · terminal ref. \($0)" } ?? ""))
    } else {
        lines.append("Cash back \(paid)")
    }
    if let reason = receipt.reason { lines.append("Reason: \(reason)") }
    return lines
}

/// A receipt number as typed or scanned: surrounding spaces and line ends dropped.
public func normalisedReceipt(_ text: String) -> String {
    text.trimmingCharacters(in: .whitespacesAndNewlines)
}

private let posixLocale = Locale(identifier: "en_US_POSIX")

// "1", "0.375" or "0,375" on a comma keyboard; no signs, no grouping.
private func typedQuantity(_ text: String) -> Decimal? {
    guard text.range(of: #"^[0-9]{1,9}([.,][0-9]+)?$"#, options: .regularExpression) != nil else { return nil }
    return Decimal(string: text.replacingOccurrences(of: ",", with: "."), locale: posixLocale)
}

/// Plain decimal notation, as the core reads it ("0.125", "1" for "1.000").
private func plain(_ value: Decimal) -> String {
    NSDecimalNumber(decimal: value).description(withLocale: posixLocale)
}

/// `sold - refunded` in plain notation, never below 0 ("?" when either is not a number).
func leftOf(_ sold: String, _ refunded: String) -> String {
    guard let s = exactDecimal(sold), let r = exactDecimal(refunded) else { return "?" }
    return plain(max(s - r, 0))
}
