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
                let completion = TaskCompletion(task)
                let processing = task is BGProcessingTask
                // iOS ends the run when its time is up; the drain's own limit is shorter still.
                task.expirationHandler = { completion.finish(success: false) }
                Task { @MainActor in
                    let success = await run(processing: processing, startup: startup)
                    completion.finish(success: success)
                }
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

    /// One run: wait for the register, drain within the budget, ask for the next runs.
    private static func run(processing: Bool, startup: Startup) async -> Bool {
        guard let store = await startup.store(waitingUpTo: BackgroundUpload.openBudgetSeconds) else {
            schedule(pending: 0)
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

/// Calls `setTaskCompleted` once, whichever of the drain and the expiration comes first.
private final class TaskCompletion: @unchecked Sendable {
    private let task: BGTask
    private let lock = NSLock()
    private var done = false

    init(_ task: BGTask) {
        self.task = task
    }

    func finish(success: Bool) {
        lock.lock()
        let first = !done
        done = true
        lock.unlock()
        if first { task.setTaskCompleted(success: success) }
    }
}
