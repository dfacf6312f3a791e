// What the cashier sees of the store's offline limits: the banner while a limit is near or
// reached, and the words for the core's refusal. Wording only: the core counts and decides.
import Foundation
import Tillkit

/// The offline limits part of the status: warnings (reached first) and headroom.
public struct OfflineLimitsState: Equatable, Sendable {
    /// A limit near or reached.
    public struct Warning: Equatable, Sendable {
        public let limit: OfflineLimitKind
        public let percent: UInt32
        public let reached: Bool
        public let usedSecs: UInt64?
        public let maxSecs: UInt64?
        public let usedAmount: String?
        public let maxAmount: String?
        public init(limit: OfflineLimitKind, percent: UInt32, reached: Bool, usedSecs: UInt64? = nil,
                    maxSecs: UInt64? = nil, usedAmount: String? = nil, maxAmount: String? = nil) {
            self.limit = limit
            self.percent = percent
            self.reached = reached
            self.usedSecs = usedSecs
            self.maxSecs = maxSecs
            self.usedAmount = usedAmount
            self.maxAmount = maxAmount
        }
    }

    public var warnings: [Warning]
    /// Largest card amount an offline sale may take now; nil: no limit.
    public var cardHeadroom: String?
    /// Largest cash amount an offline sale may take now; nil: no limit.
    public var cashHeadroom: String?
    /// An offline window is open (sales wait for the server).
    public var windowOpen: Bool

    public init(warnings: [Warning] = [], cardHeadroom: String? = nil, cashHeadroom: String? = nil,
                windowOpen: Bool = false) {
        self.warnings = warnings
        self.cardHeadroom = cardHeadroom
        self.cashHeadroom = cashHeadroom
        self.windowOpen = windowOpen
    }

    /// Maps the bindings' record, field by field.
    public init(_ record: OfflineStatusRecord) {
        self.init(
            warnings: record.warnings.map {
                Warning(limit: $0.limit, percent: $0.percent, reached: $0.reached, usedSecs: $0.usedSecs,
                        maxSecs: $0.maxSecs, usedAmount: $0.usedAmount, maxAmount: $0.maxAmount)
            },
            cardHeadroom: record.cardHeadroom,
            cashHeadroom: record.cashHeadroom,
            windowOpen: record.window != nil
        )
    }
}

extension OfflineLimitKind {
    var isCard: Bool { self == .cardOfflineTime || self == .cardSale || self == .cardTotal }
    var isTime: Bool { self == .cardOfflineTime || self == .cashOfflineTime }
    var tender: String { isCard ? "Card" : "Cash" }
    var otherTender: String { isCard ? "cash" : "card" }
}

/// 5400 -> "1 h 30 min", 600 -> "10 min", 42 -> "42 s".
public func offlineDuration(_ seconds: UInt64) -> String {
    if seconds >= 3_600 {
        let minutes = (seconds % 3_600) / 60
        return minutes == 0 ? "\(seconds / 3_600) h" : "\(seconds / 3_600) h \(minutes) min"
    }
    return seconds >= 60 ? "\(seconds / 60) min" : "\(seconds) s"
}

/// The banner for the most pressing warning: text and whether selling that tender stopped.
public struct LimitBanner: Equatable, Sendable {
    public let stop: Bool
    public let text: String
}

/// The banner above the cart, or nil when no limit is near.
public func offlineLimitBanner(_ state: OfflineLimitsState, money: MoneyFormat, currency: String) -> LimitBanner? {
    guard let w = state.warnings.first else { return nil }
    let figures = w.limit.isTime
        ? "\(offlineDuration(w.usedSecs ?? 0)) of \(offlineDuration(w.maxSecs ?? 0))"
        : "\(money.format(w.usedAmount ?? "0", currency: currency)) of \(money.format(w.maxAmount ?? "0", currency: currency))"
    let what = w.limit.isTime ? "\(w.limit.tender) offline for \(figures)" : "\(w.limit.tender) sales offline: \(figures)"
    if w.reached {
        return LimitBanner(stop: true, text: "\(w.limit.tender) limit reached (\(what)): take \(w.limit.otherTender) or reconnect to sync")
    }
    return LimitBanner(stop: false, text: "\(what) (\(w.percent)%): reconnect soon")
}

/// The sentence for a sale the core refused at an offline limit; nothing was saved.
public func offlineRefusalMessage(limit: OfflineLimitKind, attempted: String, max: String,
                                  money: MoneyFormat, currency: String) -> String {
    let other = limit.isCard ? "Take cash" : "Take card"
    switch limit {
    case .cardOfflineTime, .cashOfflineTime:
        return "\(limit.tender) is not taken after \(offlineDuration(UInt64(max) ?? 0)) offline. \(other), or reconnect to sync."
    case .cardSale, .cashSale:
        return "\(limit.tender) offline is limited to \(money.format(max, currency: currency)) per sale. \(other) for the rest, or reconnect."
    case .cardTotal, .cashTotal:
        return "\(limit.tender) sales offline would pass \(money.format(max, currency: currency)) in all. \(other), or reconnect to sync."
    }
}
