// Opens the register's core once and signs the cashier in, then shows the register.
// Development wiring: server, token and register come from the scheme's environment.
import SwiftUI
import Tillkit

@main
struct TillkitRegisterApp: App {
    @StateObject private var startup = Startup()

    var body: some Scene {
        WindowGroup {
            switch startup.state {
            case .opening:
                ProgressView("Opening the register…")
            case .failed(let failure):
                FailureView(failure: failure, retry: startup.retry)
            case .ready(let store):
                RegisterView(store: store)
            }
        }
    }
}

@MainActor
final class Startup: ObservableObject {
    enum State {
        case opening
        case ready(TillkitStore)
        case failed(StartupFailure)
    }

    @Published private(set) var state: State = .opening
    private let openRegister: @MainActor () async throws -> TillkitStore

    /// Starts opening at once with `open` (the app's own by default; tests pass another).
    // Nonisolated: the App creates it outside the main actor; opening hops onto it.
    nonisolated init(open: @escaping @MainActor () async throws -> TillkitStore = Startup.openFromEnvironment) {
        openRegister = open
        Task { await self.run() }
    }

    /// "Try again" on the failure screen; does nothing unless opening failed.
    func retry() {
        guard case .failed = state else { return }
        state = .opening
        Task { await run() }
    }

    private func run() async {
        do {
            state = .ready(try await openRegister())
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
        let dataDir = try FileManager.default
            .url(for: .applicationSupportDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
            .appendingPathComponent("tillkit", isDirectory: true)
        try FileManager.default.createDirectory(at: dataDir, withIntermediateDirectories: true)
        // The key stays in this device's keychain, so a backup of the file could not be opened.
        var values = URLResourceValues()
        values.isExcludedFromBackup = true
        var url = dataDir
        try url.setResourceValues(values)

        let config = CoreConfig(
            dataDir: dataDir.path,
            serverUrl: env["TILLKIT_SERVER_URL"] ?? "http://127.0.0.1:8787/",
            allowHttpLoopback: allowHttpLoopback
        )
        let store = try await TillkitStore.open(config: config, token: env["TILLKIT_TOKEN"] ?? "")
        do {
            try await store.login(
                storeId: env["TILLKIT_STORE_ID"] ?? "store-1",
                registerId: env["TILLKIT_REGISTER_ID"] ?? "R08",
                staffId: "cashier"
            )
        } catch {
            // A retry opens the store again: never leave this one open beside it.
            store.shutdown()
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
