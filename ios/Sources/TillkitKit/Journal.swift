// The journal screen: "Export journal" (the register's journal as a file for an auditor) and
// "Check journal" (the verdict on this register's journal, or on an export file opened here).
// Wording and flow only: the core writes the export, parses it and judges the chain.
import Foundation
import Tillkit

/// Whose journal a check is of.
public enum JournalSource: Equatable {
    /// This register's own journal, as this device holds it.
    case thisRegister
    /// An export file opened on this device (from this register or another).
    case file(name: String)
}

/// What the report sheet shows.
public struct JournalReportView: Equatable {
    /// Whose journal, and from when.
    public let title: String
    public let intact: Bool
    /// One line: intact or not, and how much was checked.
    public let verdict: String
    /// One line per problem, naming the records concerned; empty when intact.
    public let problems: [String]
    /// Not problems, but what an auditor should know: skips, unchained records, restarts.
    public let notes: [String]
}

/// Where the check stands.
public enum JournalCheckStep: Equatable {
    case idle
    /// The core is checking; nothing else is checked until it answers.
    case checking(JournalSource)
    case report(JournalSource, JournalReportView)
    case failed(JournalSource, message: String)
}

/// Where the export stands.
public enum JournalExportStep: Equatable {
    case idle
    /// `exportJournal` is running.
    case exporting
    /// The export is made: the app asks where to save it (or shares it), proposing `fileName`.
    case chooseFile(text: String, fileName: String, records: Int)
    /// Saved, or not; `message` says which.
    case finished(saved: Bool, message: String)
}

/// The journal screen's state machine; the app calls the core when it says so.
public struct JournalFlow {
    public private(set) var check: JournalCheckStep = .idle
    public private(set) var export: JournalExportStep = .idle
    /// The export a closed dialog was taken as cancelled for, until another export starts:
    /// the dialog's own answer, if it comes late after all, still has the last word.
    private var presumedCancelled: (fileName: String, records: Int)?
    private let now: () -> Date

    public init(now: @escaping () -> Date = Date.init) {
        self.now = now
    }

    /// An export is made or being made: a second one is not started.
    public var exporting: Bool {
        switch export {
        case .exporting, .chooseFile: return true
        default: return false
        }
    }

    /// "Export journal": true when the app should call `exportJournal`.
    public mutating func exportTapped() -> Bool {
        guard !exporting else { return false }
        export = .exporting
        presumedCancelled = nil
        return true
    }

    /// `exportJournal` answered with the export of `registerId` of `storeId`.
    public mutating func exported(_ text: String, storeId: String, registerId: String) {
        guard case .exporting = export else { return }
        let lines = text.split(whereSeparator: \.isNewline).filter { !$0.allSatisfy(\.isWhitespace) }
        export = .chooseFile(text: text, fileName: journalFileName(storeId: storeId, registerId: registerId, at: now()),
                             records: max(lines.count - 1, 0))
    }

    /// `exportJournal` threw.
    public mutating func exportFailed(_ error: Error) {
        guard case .exporting = export else { return }
        export = .finished(saved: false, message: "The journal could not be exported. \(journalMessage(error))")
    }

    /// The file exporter saved the text (also after a closed dialog was taken as cancelled).
    public mutating func saved() {
        let chosen: (fileName: String, records: Int)
        if case let .chooseFile(_, fileName, records) = export {
            chosen = (fileName, records)
        } else if let late = presumedCancelled {
            chosen = late
        } else {
            return
        }
        presumedCancelled = nil
        let records = chosen.records == 1 ? "1 record" : "\(chosen.records) records"
        export = .finished(saved: true, message: "Journal saved as \(chosen.fileName) (\(records))")
    }

    /// The file exporter failed (`reason`) or was cancelled (`nil`). A failure reported after
    /// a closed dialog was taken as cancelled replaces that verdict.
    public mutating func saveFailed(_ reason: String?) {
        if case let .chooseFile(_, fileName, records) = export {
            if reason == nil { presumedCancelled = (fileName, records) }
        } else if reason == nil || presumedCancelled == nil {
            return
        } else {
            presumedCancelled = nil
        }
        export = .finished(saved: false, message: reason.map { "The journal could not be saved: \($0). Export it again." }
            ?? "Export cancelled: nothing was saved")
    }

    /// "Check journal", or a file opened to check: true when the app should call the core.
    public mutating func checkTapped(_ source: JournalSource = .thisRegister) -> Bool {
        if case .checking = check { return false }
        check = .checking(source)
        return true
    }

    /// The core's verdict.
    public mutating func checked(_ report: JournalReport) {
        guard case let .checking(source) = check else { return }
        check = .report(source, journalReportView(report, source: source))
    }

    /// The check threw (not an export, no session, a file that cannot be read).
    public mutating func checkFailed(_ error: Error) {
        guard case let .checking(source) = check else { return }
        check = .failed(source, message: journalMessage(error))
    }

    /// Back from the report.
    public mutating func reportClosed() {
        if case .checking = check { return }
        check = .idle
    }
}

/// The MIME type of an export (JSON Lines).
public let journalMimeType = "application/jsonl"

/// A file name for an export: `tillkit-journal-<store>-<register>-<UTC time>Z.jsonl`.
public func journalFileName(storeId: String, registerId: String, at: Date) -> String {
    func safe(_ s: String) -> String {
        let kept = String(s.map { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) ? $0 : "_" })
        return kept.isEmpty ? "_" : kept
    }
    let f = DateFormatter()
    f.locale = Locale(identifier: "en_US_POSIX")
    f.timeZone = TimeZone(identifier: "UTC")
    f.dateFormat = "yyyyMMdd-HHmmss"
    return "tillkit-journal-\(safe(storeId))-\(safe(registerId))-\(f.string(from: at))Z.jsonl"
}

/// An export file opened to check could not be read (no permission, gone, not downloaded).
public struct JournalFileUnreadable: Error, Equatable {
    public let reason: String

    public init(reason: String) {
        self.reason = reason
    }
}

/// What the journal screen says when a journal call threw.
public func journalMessage(_ error: Error) -> String {
    switch error {
    case let unreadable as JournalFileUnreadable:
        return "The file could not be read: \(unreadable.reason)"
    case let TillkitError.InvalidJournalExport(reason):
        return "This is not a Tillkit journal export (\(reason)); nothing was checked"
    case TillkitError.NoSession:
        return "No cashier is signed in: the journal is the signed-in register's"
    case let error as TillkitError:
        return error.cashierMessage(money: MoneyFormat(), currency: nil)
    default:
        return error.localizedDescription
    }
}

/// The report sheet's wording of a verdict.
public func journalReportView(_ r: JournalReport, source: JournalSource = .thisRegister) -> JournalReportView {
    let f = DateFormatter()
    f.locale = Locale(identifier: "en_US_POSIX")
    f.timeZone = TimeZone(identifier: "UTC")
    f.dateFormat = "yyyy-MM-dd HH:mm"
    let at = f.string(from: Date(timeIntervalSince1970: TimeInterval(r.exportedAtMs) / 1000))
    let whose: String
    switch source {
    case .thisRegister: whose = "This register's journal"
    case let .file(name): whose = "Journal file \(name)"
    }
    let title = "\(whose) · register \(r.registerId), store \(r.storeId) · exported \(at) UTC"
    let count = r.records == 1 ? "1 record" : "\(r.records) records"
    let checked: String
    if r.records == 0 {
        checked = "no records"
    } else if let first = r.firstSeq, let last = r.lastSeq {
        checked = first == last ? "\(count), number \(first)" : "\(count), numbers \(first) to \(last)"
    } else {
        checked = count
    }
    let verdict = r.intact
        ? "Intact: \(checked) checked; every record links to the one before it and none is missing"
        : "Not intact: \(r.problems.count == 1 ? "1 problem" : "\(r.problems.count) problems") found in \(checked)"
    var notes: [String] = []
    for s in r.skips {
        notes.append((s.first == s.last ? "Number \(s.first) was" : "Numbers \(s.first) to \(s.last) were")
            + " skipped by the register (it continued after every number it may have issued, "
            + "after a recovery or a reset receipt book): expected, not missing")
    }
    for u in r.unchained {
        notes.append((u.first == u.last ? "Record \(u.first) was" : "Records \(u.first) to \(u.last) were")
            + " made before the journal existed: not chained")
    }
    for restart in r.restarts {
        let why: String
        switch restart.reason {
        case .freshStart: why = "the store was started fresh after damage"
        case .recovered: why = "the store was recovered after damage and none of this register's records survived"
        case .journalStarted: why = "the journal started after an update"
        case .newRegister: why = "a new chain was started"
        }
        notes.append("The journal was started again at \(recordName(restart.start)): \(why)"
            + (restart.note.map { " (\($0))" } ?? ""))
    }
    return JournalReportView(title: title, intact: r.intact, verdict: verdict,
                             problems: r.problems.map(journalProblemLine), notes: notes)
}

/// One problem in words, naming the records concerned.
public func journalProblemLine(_ p: JournalProblem) -> String {
    switch p {
    case let .gap(first, last):
        return first == last ? "Number \(first) is missing: no record holds it"
            : "Numbers \(first) to \(last) are missing: no record holds them"
    case let .fork(prevSeq, records):
        let names = capitalised(records.map(recordName).joined(separator: " and "))
        return "\(names) all claim to follow \(prevSeq == 0 ? "the start of the journal" : "number \(prevSeq)"): the chain splits there"
    case let .chainBreak(kind, record, predecessor, _):
        switch kind {
        case .linkMismatch:
            guard let predecessor else { return "The link of \(recordName(record)) does not match the record before it" }
            return "\(capitalised(recordName(predecessor))) was changed: \(recordName(record)) no longer matches it "
                + "(or the link of \(recordName(record)) was changed)"
        case .altered:
            return "\(capitalised(recordName(record))) was changed after it was written"
        case .afterMismatch:
            return "The journal restarted at \(recordName(record)) after "
                + (predecessor.map { "\(recordName($0)), which was changed since" } ?? "a record that was changed since")
        case .genesis:
            return "\(capitalised(recordName(record))) opens the journal with a start value that is not this register's"
        case .badLink:
            return "The link of \(recordName(record)) is unreadable or points forward"
        case .skipMismatch:
            return "\(capitalised(recordName(record))) claims skipped numbers that do not fit its link"
        }
    case let .reusedNumber(seq):
        return "Number \(seq) is held by more than one record: two receipts share it"
    }
}

/// `sale R07-000002 (number 2, id …)`.
private func recordName(_ r: JournalRecordRef) -> String {
    let receipt = r.receiptNo.isEmpty ? "without a receipt number" : r.receiptNo
    let id = r.recordId.isEmpty ? "" : ", id \(r.recordId)"
    return "\(r.kind) \(receipt) (number \(r.seq)\(id))"
}

private func capitalised(_ s: String) -> String {
    s.prefix(1).uppercased() + s.dropFirst()
}
