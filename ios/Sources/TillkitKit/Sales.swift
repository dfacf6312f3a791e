// Sales after "Charge": the completed-sale banner and the needs-attention rows.
// Wording only; the core owns the queue, the server's reasons and every amount.
import Foundation
import Tillkit

/// A row of the needs-attention list; each has a Retry action.
public struct AttentionRow: Identifiable, Equatable, Sendable {
    public let id: String
    public let receiptNo: String
    public let total: String
    public let reason: String
    /// "rung up 2 h ago".
    public let age: String
}

/// The needs-attention rows, in the core's order.
public func attentionRows(_ sales: [QueuedSaleRecord], nowMs: Int64, money: MoneyFormat) -> [AttentionRow] {
    sales.map { sale in
        // A device clock set back must not show a negative age.
        let ageMs = max(0, nowMs - sale.enqueuedAtMs)
        return AttentionRow(
            id: sale.saleId,
            receiptNo: sale.receiptNo,
            total: money.format(sale.total, currency: sale.currency),
            reason: sale.reason ?? sale.lastError ?? "The server gave no reason",
            // A parked sale is still queued and retried by the core on its own.
            age: "rung up " + ago(seconds: UInt64(ageMs / 1_000))
                + (sale.state == .parked ? " · retrying by itself" : "")
        )
    }
}

/// "R08-000042 · £12.50 paid · change £7.50", from the receipt, never from the preview.
public func completedSaleBanner(_ receipt: SaleReceipt, money: MoneyFormat) -> String {
    let paid = "\(receipt.receiptNo) · \(money.format(receipt.amountDue, currency: receipt.currency)) paid"
    guard let change = exactDecimal(receipt.changeDue), change > 0 else { return paid }
    return paid + " · change " + money.format(receipt.changeDue, currency: receipt.currency)
}
