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
            case .failed(let message):
                Text(message).padding()
            case let .needsRecovery(reason, kept, config):
                RecoveryView(
                    model: RecoveryModel(reason: reason, keptFiles: kept, config: config),
                    onOpen: { startup.reopen() }
                )
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
        case failed(String)
        /// The database could not be opened with its key: the recovery screen takes over.
        case needsRecovery(reason: String, keptFiles: [String], config: CoreConfig)
    }

    @Published private(set) var state: State = .opening

    // Nonisolated: the App creates it outside the main actor; opening hops onto it.
    nonisolated init() {
        Task { await self.open() }
    }

    /// Opens the register again (after a recovery).
    func reopen() {
        state = .opening
        Task { await open() }
    }

    private func open() async {
        let env = ProcessInfo.processInfo.environment
        #if DEBUG
        let allowHttpLoopback = true
        #else
        let allowHttpLoopback = false
        #endif
        var opened: CoreConfig?
        do {
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
            opened = config
            let store = try await TillkitStore.open(config: config, token: env["TILLKIT_TOKEN"] ?? "")
            try await store.login(
                storeId: env["TILLKIT_STORE_ID"] ?? "store-1",
                registerId: env["TILLKIT_REGISTER_ID"] ?? "R08",
                staffId: "cashier"
            )
            state = .ready(store)
        } catch let TillkitError.NeedsRecovery(reason, kept) {
            // Only the core's open throws this, so the configuration is known.
            if let opened {
                state = .needsRecovery(reason: reason, keptFiles: kept, config: opened)
            } else {
                state = .failed(reason)
            }
        } catch let error as TillkitError {
            state = .failed(error.cashierMessage(money: MoneyFormat(), currency: nil))
        } catch {
            state = .failed(error.localizedDescription)
        }
    }
}
