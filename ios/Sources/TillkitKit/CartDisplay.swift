// The cart as the register screen draws it: lines, quantities, per-line tax and totals.
// Every amount comes from the core's TotalsRecord; nothing here prices, discounts or taxes.
import Foundation
import Tillkit

/// One cart line on screen.
public struct CartLineDisplay: Identifiable, Equatable, Sendable {
    public let id: UInt64
    public let name: String
    /// "2 × £3.40".
    public let quantityAndPrice: String
    public let amount: String
    /// "-£1.25 Staff 10%"; nil without a line discount.
    public let discount: String?
    /// "VAT 20% £1.13".
    public let tax: String
    /// Quantity after "+"; nil for weighed quantities (edited by typing the weight).
    public let plusQuantity: String?
    /// Quantity after "-"; nil when "-" would remove the line or the quantity is weighed.
    public let minusQuantity: String?
}

/// Tax of one rate over the cart.
public struct TaxRow: Identifiable, Equatable, Sendable {
    public var id: String { label }
    public let label: String
    public let amount: String
}

/// The whole cart on screen.
public struct CartDisplay: Equatable, Sendable {
    public let lines: [CartLineDisplay]
    public let subtotal: String
    /// Nil when nothing is discounted.
    public let discounts: String?
    public let taxes: [TaxRow]
    public let taxTotal: String
    public let total: String

    public var isEmpty: Bool { lines.isEmpty }

    public static let empty = CartDisplay(lines: [], subtotal: "", discounts: nil, taxes: [], taxTotal: "", total: "")

    init(lines: [CartLineDisplay], subtotal: String, discounts: String?, taxes: [TaxRow], taxTotal: String, total: String) {
        self.lines = lines
        self.subtotal = subtotal
        self.discounts = discounts
        self.taxes = taxes
        self.taxTotal = taxTotal
        self.total = total
    }

    /// Pairs the core's lines with its totals by line id.
    public init(lines: [CartLineRecord], totals: TotalsRecord, money: MoneyFormat) {
        func fmt(_ amount: String) -> String { money.format(amount, currency: totals.currency) }
        let byLine = Dictionary(totals.lines.map { ($0.lineId, $0) }, uniquingKeysWith: { first, _ in first })
        self.init(
            lines: lines.map { line -> CartLineDisplay in
                let t = byLine[line.lineId]
                let step = exactDecimal(line.quantity).flatMap { isWhole($0) ? $0 : nil }
                let lineDiscount = t.flatMap { isZero($0.lineDiscount) ? nil : $0.lineDiscount }
                return CartLineDisplay(
                    id: line.lineId,
                    name: line.name,
                    quantityAndPrice: "\(line.quantity) × \(fmt(line.unitPrice))",
                    amount: t.map { fmt($0.amount) } ?? "",
                    discount: lineDiscount.map { d in
                        ["-" + fmt(d), line.discount?.label].compactMap { label in label }.joined(separator: " ")
                    },
                    tax: t.map { lt in
                        lt.taxes.isEmpty ? "Tax \(fmt(lt.tax))" : lt.taxes.map { "\($0.label) \(fmt($0.tax))" }.joined(separator: " + ")
                    } ?? "",
                    plusQuantity: step.map { plain($0 + 1) },
                    minusQuantity: step.flatMap { $0 > 1 ? plain($0 - 1) : nil }
                )
            },
            subtotal: fmt(totals.subtotal),
            discounts: isZero(totals.discountTotal) ? nil : "-" + fmt(totals.discountTotal),
            taxes: totals.breakdown.map { TaxRow(label: $0.label, amount: fmt($0.tax)) },
            taxTotal: fmt(totals.taxTotal),
            total: fmt(totals.total)
        )
    }
}

private func isZero(_ text: String) -> Bool { exactDecimal(text).map { $0 == 0 } ?? true }

private func isWhole(_ value: Decimal) -> Bool {
    var v = value
    var rounded = Decimal()
    NSDecimalRound(&rounded, &v, 0, .plain)
    return rounded == value
}

private func plain(_ value: Decimal) -> String { NSDecimalNumber(decimal: value).stringValue }
