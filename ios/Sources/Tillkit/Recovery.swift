// The "database needs recovery" screen's flow: what it says and which step comes next.
// Wording and flow only; the core decides what is damaged, salvages and keeps the files.
import Foundation

/// The word a person types to confirm starting fresh without the kept sales.
public let startFreshWord = "FRESH"

/// Where the recovery screen stands.
public enum RecoveryStep: Equatable {
    /// The store refused to open: explain, offer "Recover sales" first.
    case needed(reason: String, keptFiles: [String])
    /// Salvage is running; nothing else may be tapped.
    case recovering
    /// Starting fresh abandons the kept sales: a person must type the word.
    case confirmFresh(typed: String)
    /// Done: the register can open again; `summary` says what was saved and lost.
    case done(summary: [String], keptFiles: [String])
    /// Recovery failed; it can be tried again (nothing was deleted).
    case failed(message: String)
}

/// The recovery screen's state machine; the app calls the core when it says so.
public struct RecoveryFlow {
    public private(set) var step: RecoveryStep
    public let keptFiles: [String]

    public init(reason: String, keptFiles: [String]) {
        self.keptFiles = keptFiles
        step = .needed(reason: reason, keptFiles: keptFiles)
    }

    private var canStart: Bool {
        switch step {
        case .needed, .failed: return true
        default: return false
        }
    }

    /// "Recover sales": true when the app should call `recoverDatabase`.
    public mutating func recoverTapped() -> Bool {
        guard canStart else { return false }
        step = .recovering
        return true
    }

    /// `recoverDatabase` returned.
    public mutating func recovered(_ report: RecoveryReportRecord) {
        step = .done(summary: recoverySummary(report), keptFiles: report.keptFiles)
    }

    /// A recovery call failed.
    public mutating func failed(_ message: String) {
        step = .failed(message: message)
    }

    /// "Start without the old sales…": only asks for confirmation.
    public mutating func startFreshTapped() {
        if canStart { step = .confirmFresh(typed: "") }
    }

    public mutating func confirmationTyped(_ text: String) {
        if case .confirmFresh = step { step = .confirmFresh(typed: text) }
    }

    /// Whether the confirm button is enabled: the word typed exactly.
    public var canConfirmFresh: Bool {
        if case let .confirmFresh(typed) = step {
            return typed.trimmingCharacters(in: .whitespaces) == startFreshWord
        }
        return false
    }

    /// The person confirmed: true when the app should call `startFreshDatabase`.
    public mutating func confirmFreshTapped() -> Bool {
        guard canConfirmFresh else { return false }
        step = .recovering
        return true
    }

    /// `startFreshDatabase` returned.
    public mutating func startedFresh() {
        step = .done(
            summary: [
                "Started with an empty register. The old sales were not uploaded.",
                "The damaged file was kept for support.",
            ],
            keptFiles: keptFiles
        )
    }

    public mutating func cancelFresh() {
        if case .confirmFresh = step {
            step = .needed(reason: "the register's database could not be opened", keptFiles: keptFiles)
        }
    }
}

/// Plain sentences about a finished recovery, most important first.
public func recoverySummary(_ r: RecoveryReportRecord) -> [String] {
    func count(_ n: UInt64, _ what: String) -> String { n == 1 ? "1 \(what)" : "\(n) \(what)s" }
    var lines = ["\(count(r.salesRecovered, "sale")) recovered; \(count(r.queued, "sale")) will upload when online."]
    if r.complete {
        lines.append("Every sale could be read.")
        return lines
    }
    let lost = max(r.salesUnreadable, r.queuedLost, UInt64(r.receiptsMissing.count))
    if lost > 0 {
        lines.append("\(count(lost, "sale")) could not be recovered. Check them against paper receipts; the damaged file was kept for support.")
    } else {
        lines.append("Not every part of the old database could be read. Check today's sales against paper receipts; the damaged file was kept for support.")
    }
    if !r.receiptsMissing.isEmpty {
        lines.append("Missing receipt numbers: \(receiptList(r.receiptsMissing)).")
    }
    return lines
}

/// Receipt numbers the summary names before it counts the rest.
public let maxReceiptsShown = 10

/// Receipt numbers as one line, the first few in full and then how many more.
public func receiptList(_ numbers: [String], shown: Int = maxReceiptsShown) -> String {
    if numbers.count <= shown { return numbers.joined(separator: ", ") }
    return numbers.prefix(shown).joined(separator: ", ") + " and \(numbers.count - shown) more"
}

/// The recovery calls, off the main actor (they read the whole kept file).
public enum DatabaseRecovery {
    public static func recover(config: CoreConfig) async throws -> RecoveryReportRecord {
        try await offMain { try recoverDatabase(config: config) }
    }

    public static func startFresh(config: CoreConfig) async throws {
        try await offMain { try startFreshDatabase(config: config) }
    }
}
