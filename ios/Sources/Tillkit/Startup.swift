// What the register shows when it cannot open: what happened, what to do, and the detail for
// support, for every failure. Wording only: it never retries, deletes or opens anything itself.
import Foundation

/// Why the register could not open, as far as the app can tell.
public enum StartupProblem: String, CaseIterable, Sendable {
    /// The database exists but the keychain holds no key for it.
    case keyMissing
    /// The keychain's key does not open the database.
    case keyMismatch
    /// A key is stored but this device cannot read it (e.g. restored onto another device).
    case keyUnreadable
    /// The database cannot be opened with its key; its files were kept for recovery.
    case needsRecovery
    /// The database was written by a newer version of the app; it was not touched.
    case newerSchema
    /// The database's write-ahead log is gone while it held sales.
    case walMissing
    /// Another copy of the register (or a recovery) has the database open; it passes once that one closes.
    case busy
    /// The device storage is full.
    case storageFull
    /// The keychain could not be read (e.g. before the first unlock after a restart).
    case keychain
    /// Any other storage failure.
    case storage
    /// This build's settings were refused (server address, certificates, pins).
    case configuration
    /// Anything else, a crash inside the core included.
    case unexpected
}

/// The failure screen. `detail` is for support; `canRetry` offers "Try again".
public struct StartupFailure: Equatable, Sendable {
    public let problem: StartupProblem
    public let title: String
    public let advice: String
    public let detail: String
    public let canRetry: Bool

    /// Unsent sales may be on this device: never suggest anything that deletes app data.
    private static let keepData = "Do not delete the app: unsent sales are on this device."

    /// The screen for `problem`; `detail` is the technical description.
    public init(_ problem: StartupProblem, detail: String) {
        let words = Self.words(problem)
        self.problem = problem
        title = words.title
        advice = words.advice
        self.detail = detail
        // Opening again never changes the store (a damaged one keeps answering "needs recovery"
        // until a person recovers it), so "Try again" is offered wherever it can help.
        canRetry = problem != .configuration && problem != .newerSchema
    }

    private static func words(_ problem: StartupProblem) -> (title: String, advice: String) {
        let keep = keepData
        switch problem {
        case .keyMissing:
            return ("The register's database key is missing", "The database is kept, unopened. \(keep) Call support.")
        case .keyMismatch:
            return ("The database key does not match", "The database is kept, unopened. \(keep) Call support.")
        case .keyUnreadable:
            return ("This device cannot unlock the register's key", "The database is kept. \(keep) Call support.")
        case .needsRecovery:
            return ("The register's database needs recovery", "Its files were kept. Try again to reach the recovery screen, which salvages the sales. \(keep)")
        case .newerSchema:
            return ("This register's data is from a newer app version", "Update the app; the data was not touched. \(keep)")
        case .walMissing:
            return ("Part of the register's database is missing", "Nothing was opened and every file was kept for recovery. \(keep) Call support.")
        case .busy:
            return ("The register's database is in use", "Another copy of the register, or a recovery, has it open. Wait a moment, then try again. \(keep)")
        case .storageFull:
            return ("The device storage is full", "Free some space, then try again.")
        case .keychain:
            return ("The device's keychain could not be read", "Unlock the device and try again. \(keep)")
        case .storage:
            return ("The register's storage could not be opened", "Try again. \(keep) If it happens again, call support.")
        case .configuration:
            return ("This build of the register is set up wrongly", "Its server or certificate settings were refused. Call support.")
        case .unexpected:
            return ("The register could not start", "Sales on this device are kept. Try again; if it happens again, call support.")
        }
    }

    /// The screen for any error thrown while opening: the core's typed errors by kind, anything
    /// else (a crash inside the core arrives as an untyped error) as unexpected.
    public init(_ error: Error) {
        guard let typed = error as? TillkitError else {
            self.init(.unexpected, detail: String(describing: error))
            return
        }
        let problem: StartupProblem
        switch typed {
        case .KeyMissing: problem = .keyMissing
        case .KeyMismatch: problem = .keyMismatch
        case .KeyUnreadable: problem = .keyUnreadable
        // The app shows the recovery screen for this one; the failure screen is the fallback.
        case .NeedsRecovery: problem = .needsRecovery
        case .NewerSchema: problem = .newerSchema
        case .WalMissing: problem = .walMissing
        case .Busy: problem = .busy
        case .StorageFull: problem = .storageFull
        case .Keychain: problem = .keychain
        case .Storage: problem = .storage
        // At open, only the configuration can be invalid input (server URL, roots, pins).
        case .InvalidInput: problem = .configuration
        default: problem = .unexpected
        }
        self.init(problem, detail: String(describing: typed))
    }
}
