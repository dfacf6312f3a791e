// Background upload on iOS: registers the BGTaskScheduler handlers, asks for runs, and drains
// the queue through the app's one open register. Timing and verdicts are BackgroundUpload's.
import BackgroundTasks
import Foundation
import Tillkit
import TillkitKit

@MainActor
enum BackgroundUploadTasks {
    /// The identifiers registered here; the app's tests check Info.plist lists exactly these.
    static let identifiers = BackgroundUpload.identifiers

    /// Registers both handlers. Must run before the app finishes launching (the App's init):
    /// iOS launches the app in the background for a task and expects a handler at once.
    static func register(startup: Startup) {
        for identifier in identifiers {
            // `using: nil`: the handler runs on a background queue; the work hops to the main actor.
            BGTaskScheduler.shared.register(forTaskWithIdentifier: identifier, using: nil) { task in
                let processing = task is BGProcessingTask
                let backgroundRun = BackgroundRun { task.setTaskCompleted(success: $0) }
                backgroundRun.start { await run(processing: processing, startup: startup) }
                // iOS ends the run when its time is up (the drain's own limit is shorter still):
                // the drain is cancelled and the run reported unfinished, once.
                task.expirationHandler = { backgroundRun.expire() }
            }
        }
    }

    /// Asks for the next runs: the app refresh always, a processing run while sales wait.
    /// Submitting an identifier again replaces its earlier request.
    static func schedule(pending: UInt64) {
        let requests = BackgroundUpload.requests(pending: pending)
        if requests.appRefresh {
            let refresh = BGAppRefreshTaskRequest(identifier: BackgroundUpload.refreshIdentifier)
            refresh.earliestBeginDate = Date(timeIntervalSinceNow: BackgroundUpload.refreshInterval)
            submit(refresh)
        }
        if requests.processing {
            let processing = BGProcessingTaskRequest(identifier: BackgroundUpload.processingIdentifier)
            processing.requiresNetworkConnectivity = true
            processing.requiresExternalPower = false
            submit(processing)
        }
    }

    private static func submit(_ request: BGTaskRequest) {
        do {
            try BGTaskScheduler.shared.submit(request)
        } catch {
            // The simulator and Background App Refresh switched off refuse every request:
            // sales then upload when the app is next in front, as they always do.
            NSLog("Tillkit: background request %@ refused: %@", request.identifier, String(describing: error))
        }
    }

    /// One run: wait for the register, drain within the budget, ask for the next runs (also
    /// after an expiry: the next run is asked for either way).
    private static func run(processing: Bool, startup: Startup) async -> Bool {
        guard let store = await startup.store(waitingUpTo: BackgroundUpload.openBudgetSeconds) else {
            schedule(pending: 0)
            return false
        }
        guard !Task.isCancelled else {
            schedule(pending: store.status.pending)
            return false
        }
        do {
            let report = try await store.core.drainNow(timeoutMs: BackgroundUpload.budgetMs(processing: processing))
            schedule(pending: report.status.pending)
            return BackgroundUpload.succeeded(report.outcome)
        } catch {
            schedule(pending: store.status.pending)
            return false
        }
    }
}

/// One background run: the drain in a Task of its own and the task's one completion,
/// whichever of the drain's end and iOS's expiration comes first. `expire()` cancels the
/// drain and completes the run with `false`; completing again does nothing.
///
/// The cancellation reaches Swift code only: UniFFI's Swift async calls do not pass it on to
/// Rust, so a `drainNow` under way goes on until its own budget (20 s or 2 min) while iOS
/// suspends the app. Nothing is lost: the sales stay queued and a retried upload is idempotent.
final class BackgroundRun: @unchecked Sendable {
    private let lock = NSLock()
    private var finished = false
    private var drain: Task<Void, Never>?
    private let complete: @Sendable (Bool) -> Void

    /// `complete` (the task's `setTaskCompleted(success:)`) is called exactly once.
    init(complete: @escaping @Sendable (Bool) -> Void) {
        self.complete = complete
    }

    /// Starts the drain on the main actor; its result completes the run unless it expired first.
    func start(_ work: @escaping @Sendable @MainActor () async -> Bool) {
        let task = Task { @MainActor in
            let success = await work()
            self.finish(success: success)
        }
        lock.lock()
        drain = task
        let done = finished
        lock.unlock()
        // Expired before the handle was kept: cancel it now (a no-op if it already ended).
        if done { task.cancel() }
    }

    /// iOS's `expirationHandler`: cancels the drain and reports the run unfinished.
    func expire() {
        lock.lock()
        let task = drain
        lock.unlock()
        task?.cancel()
        finish(success: false)
    }

    private func finish(success: Bool) {
        lock.lock()
        let first = !finished
        finished = true
        lock.unlock()
        if first { complete(success) }
    }
}
