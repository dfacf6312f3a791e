// When the register asks iOS for background upload (BGTaskScheduler) and what a run's ending
// means. Decisions only, no BackgroundTasks import: the app schedules, the core uploads.
import Foundation
import Tillkit

/// The background upload's identifiers, timing and decisions.
public enum BackgroundUpload {
    /// The app-refresh task (short, roughly 30 s): drains what it can, often.
    public static let refreshIdentifier = "app.tillkit.register.upload-refresh"
    /// The processing task (minutes, when iOS allows): asked for only while sales wait.
    public static let processingIdentifier = "app.tillkit.register.upload-processing"
    /// Every identifier the app registers; Info.plist's `BGTaskSchedulerPermittedIdentifiers`
    /// must list exactly these (registering any other crashes the app).
    public static let identifiers = [refreshIdentifier, processingIdentifier]

    /// Earliest start of the next app refresh after one is asked for.
    public static let refreshInterval: TimeInterval = 15 * 60
    /// How long each kind of run may wait for the queue to drain; below what iOS gives it.
    public static let refreshBudgetMs: UInt64 = 20_000
    public static let processingBudgetMs: UInt64 = 120_000
    /// How long a run waits for the register to finish opening.
    public static let openBudgetSeconds: Double = 10

    /// What to ask BGTaskScheduler for.
    public struct Requests: Equatable, Sendable {
        /// Always: the periodic safety net, so a sale never waits for the app to come back.
        public let appRefresh: Bool
        /// Only while sales wait: a longer run that needs a network.
        public let processing: Bool
    }

    /// The requests for `pending` unsent sales, asked whenever the app leaves the screen and
    /// after every background run.
    public static func requests(pending: UInt64) -> Requests {
        Requests(appRefresh: true, processing: pending > 0)
    }

    /// `setTaskCompleted(success:)` for a run's drain: a run that drained, or that left only
    /// what a person must unblock, succeeded; one that ran out of time did not.
    public static func succeeded(_ outcome: DrainOutcome) -> Bool {
        switch outcome {
        case .drained, .needsAttention: return true
        case .timedOut: return false
        }
    }

    /// Which run gets which budget.
    public static func budgetMs(processing: Bool) -> UInt64 {
        processing ? processingBudgetMs : refreshBudgetMs
    }
}
