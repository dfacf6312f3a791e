// Opens the register's core once and signs the cashier in, then shows the register; or the
// pairing screen while this device holds no token for its register. The server URL comes
// from the scheme's environment (development); the register and its token from pairing.
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
            case .needsPairing(let store):
                NavigationStack {
                    PairingView(store: store, serverUrl: Startup.serverUrl) { startup.paired(store, $0) }
                }
            case .ready(let store):
                RegisterView(store: store, serverUrl: Startup.serverUrl) { startup.paired(store, $0) }
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
        /// The core is open but holds no token for a register: the pairing screen.
        case needsPairing(TillkitStore)
        case failed(StartupFailure)
        /// The database could not be opened with its key: the recovery screen takes over.
        case needsRecovery(reason: String, keptFiles: [String], config: CoreConfig)
    }

    @Published private(set) var state: State = .opening
    private let openRegister: @MainActor () async throws -> State

    /// Starts opening at once with `open` (the app's own by default; tests pass another),
    /// which answers `.ready` or `.needsPairing`.
    // Nonisolated: the App creates it outside the main actor; opening hops onto it.
    nonisolated init(open: @escaping @MainActor () async throws -> State = Startup.openFromEnvironment) {
        openRegister = open
        Task { await self.run() }
    }

    /// The open register, if opening has succeeded (paired or waiting for pairing: its
    /// queue uploads in the background either way once a token is there).
    var readyStore: TillkitStore? {
        switch state {
        case .ready(let store), .needsPairing(let store): return store
        default: return nil
        }
    }

    /// The pairing screen's code was accepted: remember the register and sign in.
    func paired(_ store: TillkitStore, _ register: PairedRegister) {
        UserDefaults.standard.set(register.storeId, forKey: Self.storeIdKey)
        UserDefaults.standard.set(register.registerId, forKey: Self.registerIdKey)
        Task {
            do {
                try await store.core.login(storeId: register.storeId, registerId: register.registerId, staffId: "cashier")
                state = .ready(store)
            } catch {
                state = .failed(StartupFailure(error))
            }
        }
    }

    /// The open register for a background run: waits up to `seconds` while it opens. After
    /// a failure that a retry may cure it starts one, for the next run, and returns nil.
    func store(waitingUpTo seconds: Double) async -> TillkitStore? {
        let deadline = Date().addingTimeInterval(seconds)
        // A cancelled sleep returns at once: stop waiting then, rather than spin to the deadline.
        while case .opening = state, Date() < deadline, !Task.isCancelled {
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
            state = try await openRegister()
        } catch let needed as RecoveryNeeded {
            state = .needsRecovery(reason: needed.reason, keptFiles: needed.keptFiles, config: needed.config)
        } catch {
            // Typed refusals by kind; anything else (a crash inside the core arrives as an
            // untyped error) as "could not start". The register shows it instead of crashing.
            state = .failed(StartupFailure(error))
        }
    }

    /// The register this device was paired as (not secret: the token is in the keychain).
    private static let storeIdKey = "tillkit.storeId"
    private static let registerIdKey = "tillkit.registerId"

    /// The register this device signs in as, or nil before pairing (the refund screen tells
    /// a mistyped number of ours from another register's receipt with it).
    static var pairedRegisterId: String? { UserDefaults.standard.string(forKey: registerIdKey) }

    /// The store of that register, or nil before pairing (the journal export's file name).
    static var pairedStoreId: String? { UserDefaults.standard.string(forKey: storeIdKey) }

    /// A setting from the scheme's environment (development, launched from Xcode) when set,
    /// else the value built into Info.plist (every launch: home screen, background tasks).
    private static func setting(_ environmentName: String, _ infoKey: String) -> String? {
        if let value = ProcessInfo.processInfo.environment[environmentName], !value.isEmpty {
            return value
        }
        if let value = Bundle.main.object(forInfoDictionaryKey: infoKey) as? String, !value.isEmpty {
            return value
        }
        return nil
    }

    /// The server: the TILLKIT_SERVER_URL build setting (Info.plist's TillkitServerURL), or
    /// the scheme's environment in development.
    static var serverUrl: String {
        setting("TILLKIT_SERVER_URL", "TillkitServerURL") ?? "https://127.0.0.1:8787/"
    }

    /// The server's private CA, if any (one line of base64 DER, tests/mobile-server.sh's
    /// DIR/ca.b64, or PEM): the TILLKIT_ROOT_CERTIFICATE build setting (Info.plist's
    /// TillkitRootCertificate), or the scheme's environment in development.
    static var rootCertificatesPem: [String] {
        RootCertificates.roots(setting("TILLKIT_ROOT_CERTIFICATE", "TillkitRootCertificate"))
    }

    /// Opens the core; signs in as the paired register, or asks for pairing.
    static func openFromEnvironment() async throws -> State {
        #if DEBUG
        let allowHttpLoopback = true
        #else
        let allowHttpLoopback = false
        #endif
        // Out of backups, readable after the first unlock (the background upload needs it).
        let dataDir = try DataDirectory.prepare()
        let config = CoreConfig(
            dataDir: dataDir.path,
            serverUrl: serverUrl,
            allowHttpLoopback: allowHttpLoopback,
            rootCertificatesPem: rootCertificatesPem
        )
        let store: TillkitStore
        do {
            store = try await TillkitStore.open(config: config)
        } catch let TillkitError.NeedsRecovery(reason, kept) {
            throw RecoveryNeeded(reason: reason, keptFiles: kept, config: config)
        }
        do {
            let defaults = UserDefaults.standard
            // Never paired, or the keychain lost the token (a restored backup, a new phone).
            guard let storeId = defaults.string(forKey: storeIdKey),
                  let registerId = defaults.string(forKey: registerIdKey),
                  try await store.core.pairedRegister(storeId: storeId) != nil
            else { return .needsPairing(store) }
            try await store.core.login(storeId: storeId, registerId: registerId, staffId: "cashier")
        } catch {
            // Opening again must never find this one still open beside it.
            await store.shutdown()
            throw error
        }
        return .ready(store)
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
