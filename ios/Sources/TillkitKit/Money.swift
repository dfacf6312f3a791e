// Money display and the payment sheet's preview, from the core's exact decimal strings.
// Foundation's Decimal only, never Double; the core re-checks payments and its receipt is final.
import Foundation
import Tillkit

private let posix = Locale(identifier: "en_US_POSIX")

/// Formats the core's decimal strings as money in the cashier's locale.
public struct MoneyFormat: Sendable {
    public let locale: Locale

    public init(locale: Locale = .current) {
        self.locale = locale
    }

    /// "12.5" GBP -> "£12.50", "1200" JPY -> "¥1,200". Shown to at least the currency's minor
    /// unit and never rounded: more decimals than the currency has are shown whole.
    public func format(_ amount: String, currency: String) -> String {
        guard let value = exactDecimal(amount) else { return "\(amount) \(currency)" }
        return format(value, currency: currency)
    }

    /// `format` for a value computed here (change due, shortfall).
    public func format(_ value: Decimal, currency: String) -> String {
        let formatter = NumberFormatter()
        formatter.locale = locale
        formatter.numberStyle = .currency
        formatter.currencyCode = currency
        let digits = max(minorUnits(currency) ?? 2, max(0, -Int(value.exponent)))
        formatter.minimumFractionDigits = digits
        formatter.maximumFractionDigits = digits
        return formatter.string(from: NSDecimalNumber(decimal: value)) ?? "\(value) \(currency)"
    }
}

/// Digits after the decimal point in cash for `currency` (JPY 0, GBP 2, KWD 3), from ISO 4217 data.
public func minorUnits(_ currency: String) -> Int? {
    var digits: Int32 = 0
    var increment: Double = 0  // a rounding increment the platform reports; unused
    guard CFNumberFormatterGetDecimalInfoForCurrencyCode(currency as CFString, &digits, &increment) else {
        return nil
    }
    return Int(digits)
}

/// Parses plain decimal notation exactly, as the core writes it; anything else is nil.
func exactDecimal(_ text: String) -> Decimal? {
    guard text.range(of: #"^-?[0-9]+(\.[0-9]+)?$"#, options: .regularExpression) != nil else { return nil }
    return Decimal(string: text, locale: posix)
}

/// The payment sheet's state.
public struct PaymentState: Equatable, Sendable {
    /// What "Charge" sends; nil while it is disabled.
    public let payment: PaymentRecord?
    /// Why "Charge" is disabled.
    public let problem: String?
    /// "£7.50" for cash paid over the total.
    public let changeDue: String?

    /// "Charge" disabled, for `problem`.
    public static func blocked(_ problem: String) -> PaymentState {
        PaymentState(payment: nil, problem: problem, changeDue: nil)
    }
}

/// Cash tendered as typed ("20", "20.50", "20,50"), against the cart's total. With cash rounding
/// the core may ask less and give other change; the receipt it returns is what to hand back.
public func cashPayment(total: String, currency: String, tendered: String, money: MoneyFormat) -> PaymentState {
    guard let due = exactDecimal(total) else { return .blocked("The total is not known yet") }
    let typed = tendered.trimmingCharacters(in: .whitespaces)
    if typed.isEmpty { return .blocked("Enter the cash tendered") }
    guard typed.range(of: #"^[0-9]{1,12}([.,][0-9]+)?$"#, options: .regularExpression) != nil else {
        return .blocked("Enter an amount like \(example(currency))")
    }
    let plain = typed.replacingOccurrences(of: ",", with: ".")
    let fraction = plain.split(separator: ".").dropFirst().first ?? ""
    let decimals = fraction.reversed().drop(while: { $0 == "0" }).count  // trailing zeros are not precision
    if let minor = minorUnits(currency), decimals > minor {
        return .blocked(minor == 0 ? "\(currency) has no decimals" : "\(currency) has at most \(minor) decimals")
    }
    guard let amount = Decimal(string: plain, locale: posix) else { return .blocked("Enter an amount like \(example(currency))") }
    if amount < due { return .blocked("Short by \(money.format(due - amount, currency: currency))") }
    let change = amount > due ? money.format(amount - due, currency: currency) : nil
    return PaymentState(payment: PaymentRecord(method: .cash, amount: plain, reference: nil), problem: nil, changeDue: change)
}

/// Card: the terminal charged the exact total; its reference goes on the sale.
public func cardPayment(total: String, reference: String) -> PaymentState {
    guard exactDecimal(total) != nil else { return .blocked("The total is not known yet") }
    let ref = reference.trimmingCharacters(in: .whitespaces)
    if ref.isEmpty { return .blocked("Enter the card terminal's reference") }
    return PaymentState(payment: PaymentRecord(method: .card, amount: total, reference: ref), problem: nil, changeDue: nil)
}

private func example(_ currency: String) -> String {
    switch minorUnits(currency) {
    case 0: return "2000"
    case 3: return "20.000"
    default: return "20.00"
    }
}
