// What the cashier reads when the core refuses something. Wording only: the core decided.
import Foundation
import Tillkit

extension TillkitError {
    /// A short sentence for the cashier; `currency` formats amounts when known.
    public func cashierMessage(money: MoneyFormat, currency: String?) -> String {
        func amount(_ a: String) -> String { currency.map { money.format(a, currency: $0) } ?? a }
        switch self {
        case let .Underpaid(due, paid): return "Payments of \(amount(paid)) do not cover \(amount(due))"
        case let .NotFound(what): return "Not found: \(what)"
        case .ProductInactive: return "This product is not for sale"
        case .EmptyCart: return "The cart is empty"
        case let .InvalidInput(reason): return reason
        case let .NeedsConnection(what): return "\(what) needs a connection to the server"
        // The core's answer: this register never printed it, or the store's server has no such sale.
        case let .UnknownReceipt(receipt): return "No sale has receipt number \(receipt): check the number on the receipt"
        // Nothing was written: the cashier can ask for at most sold - refunded.
        case let .OverRefund(lineNo, requested, sold, refunded):
            return "Line \(lineNo): \(refunded) of \(sold) already refunded; \(requested) cannot come back"
        // Nothing was written: at most paid by card - already refunded to card can go back to it.
        case let .RefundExceedsCard(requested, paidByCard, refundedToCard):
            return "At most \(amount(leftOf(paidByCard, refundedToCard))) can go back to the card (\(amount(paidByCard)) paid by card, "
                + "\(amount(refundedToCard)) already refunded to it), not \(amount(requested)): refund the rest in cash"
        // Nothing was saved: the cart stays, another tender may still be taken.
        case let .OfflineLimitReached(limit, attempted, max):
            return offlineRefusalMessage(limit: limit, attempted: attempted, max: max, money: money, currency: currency ?? "")
        // Nothing new was written: the first try already did it (a retry with other figures).
        case let .SaleAlreadyCompleted(_, receiptNo, _):
            return "This sale was already completed as receipt \(receiptNo): start a new sale for the next customer"
        case let .RefundAlreadyGiven(_, receiptNo, _):
            return "This refund was already given as receipt \(receiptNo): start a new refund for anything more"
        case .NoCatalog: return "Waiting for the catalogue to arrive"
        case .NoSession: return "No cashier is signed in"
        case .StorageFull: return "The device storage is full: nothing was saved"
        case .NeedsRecovery: return "The register's database is damaged: restart the app to recover the sales"
        case .NewerSchema: return "This register's data was written by a newer app version: update the app"
        case .Busy: return "The register's database is in use by another copy of the app: try again in a moment"
        // Key, corruption, storage and keychain failures: the register cannot go on by itself.
        default: return "The register needs attention (\(self)): call support"
        }
    }
}

extension TillkitError {
    /// What the pairing screen says when the core refused or could not finish a pairing.
    public var pairingMessage: String {
        switch self {
        case .PairingRefused:
            return "This code was not accepted: it may have expired, been used already or been mistyped. Ask a manager for a new one."
        case let .InvalidInput(reason): return reason
        case .Sync:
            return "The server could not be reached: check the network and try again. The code stays valid until it expires."
        default: return "Pairing failed (\(self)): call support"
        }
    }
}
