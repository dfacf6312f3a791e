// Opens the register's core once and signs the cashier in, then shows the register.
// Development wiring: server, token and register come from the scheme's environment.
import SwiftUI
import Tillkit
import TillkitKit

@main
struct TillkitRegisterApp: App {
    @StateObject private var startup: Startup
    @Environment(\.scenePhase) private var scenePhase

    init() {
        // One register per process, for the screens and for background runs alike; the
        // background handlers must be registered before launching ends.
        let startup = Startup()
        _startup = StateObject(wrappedValue: startup)
        BackgroundUploadTasks.register(startup: startup)
    }

    var body: some Scene {
        WindowGroup {
            switch startup.state {
            case .opening:
                ProgressView("Opening the register…")
            case .failed(let failure):
                FailureView(failure: failure, retry: startup.retry)
            case let .needsRecovery(reason, kept, config):
                RecoveryView(
                    model: RecoveryModel(reason: reason, keptFiles: kept, config: config),
                    onOpen: { startup.reopen() }
                )
            case .ready(let store):
                RegisterView(store: store)
            }
        }
        .onChange(of: scenePhase) { phase in
            // Leaving the screen: ask iOS to go on uploading what waits.
            if phase == .background {
                BackgroundUploadTasks.schedule(pending: startup.readyStore?.status.pending ?? 0)
            }
        }
    }
}

/// Thrown by the opener when the core answers `NeedsRecovery`, with the configuration the
/// recovery screen must hand back to the core.
struct RecoveryNeeded: Error {
    let reason: String
    let keptFiles: [String]
    let config: CoreConfig
}

@MainActor
final class Startup: ObservableObject {
    enum State {
        case opening
        case ready(TillkitStore)
        case failed(StartupFailure)
        /// The database could not be opened with its key: the recovery screen takes over.
        case needsRecovery(reason: String, keptFiles: [String], config: CoreConfig)
    }

    @Published private(set) var state: State = .opening
    private let openRegister: @MainActor () async throws -> TillkitStore

    /// Starts opening at once with `open` (the app's own by default; tests pass another).
    // Nonisolated: the App creates it outside the main actor; opening hops onto it.
    nonisolated init(open: @escaping @MainActor () async throws -> TillkitStore = Startup.openFromEnvironment) {
        openRegister = open
        Task { await self.run() }
    }

    /// The open register, if opening has succeeded.
    var readyStore: TillkitStore? {
        if case .ready(let store) = state { return store }
        return nil
    }

    /// The open register for a background run: waits up to `seconds` while it opens. After
    /// a failure that a retry may cure it starts one, for the next run, and returns nil.
    func store(waitingUpTo seconds: Double) async -> TillkitStore? {
        let deadline = Date().addingTimeInterval(seconds)
        while case .opening = state, Date() < deadline {
            try? await Task.sleep(nanoseconds: 100_000_000)
        }
        if case .failed(let failure) = state, failure.canRetry { retry() }
        return readyStore
    }

    /// "Try again" on the failure screen; does nothing unless opening failed.
    func retry() {
        guard case .failed = state else { return }
        reopen()
    }

    /// Opens the register again (after a recovery, or "Try again").
    func reopen() {
        state = .opening
        Task { await run() }
    }

    private func run() async {
        do {
            state = .ready(try await openRegister())
        } catch let needed as RecoveryNeeded {
            state = .needsRecovery(reason: needed.reason, keptFiles: needed.keptFiles, config: needed.config)
        } catch {
            // Typed refusals by kind; anything else (a crash inside the core arrives as an
            // untyped error) as "could not start". The register shows it instead of crashing.
            state = .failed(StartupFailure(error))
        }
    }

    /// Development wiring: server, token and register from the scheme's environment.
    static func openFromEnvironment() async throws -> TillkitStore {
        let env = ProcessInfo.processInfo.environment
        #if DEBUG
        let allowHttpLoopback = true
        #else
        let allowHttpLoopback = false
        #endif
        // Out of backups, readable after the first unlock (the background upload needs it).
        let dataDir = try DataDirectory.prepare()
        let config = CoreConfig(
            dataDir: dataDir.path,
            serverUrl: env["TILLKIT_SERVER_URL"] ?? "http://127.0.0.1:8787/",
            allowHttpLoopback: allowHttpLoopback
        )
        let store: TillkitStore
        do {
            store = try await TillkitStore.open(config: config, token: env["TILLKIT_TOKEN"] ?? "")
        } catch let TillkitError.NeedsRecovery(reason, kept) {
            throw RecoveryNeeded(reason: reason, keptFiles: kept, config: config)
        }
        do {
            try await store.core.login(
                storeId: env["TILLKIT_STORE_ID"] ?? "store-1",
                registerId: env["TILLKIT_REGISTER_ID"] ?? "R08",
                staffId: "cashier"
            )
        } catch {
            // Opening again must never find this one still open beside it.
            await store.shutdown()
            throw error
        }
        return store
    }
}

/// Why the register could not open and what to do; the detail can be selected for support.
struct FailureView: View {
    let failure: StartupFailure
    let retry: () -> Void

    var body: some View {
        VStack(alignment: .leading, spacing: 12) {
            Text(failure.title).font(.title2).bold()
            Text(failure.advice)
            Text(failure.detail).font(.footnote).foregroundStyle(.secondary).textSelection(.enabled)
            if failure.canRetry {
                Button("Try again", action: retry).buttonStyle(.borderedProminent)
            }
        }
        .padding()
    }
}
