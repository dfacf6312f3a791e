// The SwiftUI face of the Rust core: a published status (from the core's status AsyncStream)
// and NWPathMonitor changes forwarded to setNetworkAvailable, in order. The core's own calls
// are `async`: call them on `core` directly. No rules here.
import Foundation
import Tillkit
import Network

/// Reports whether the device has a usable network path. A seam: tests drive a fake.
public protocol NetworkPathMonitoring: AnyObject {
    /// Starts reporting: the current state first, then every change, on any thread.
    func start(onChange: @escaping @Sendable (Bool) -> Void)
    func cancel()
}

/// `NWPathMonitor`: a `.satisfied` path counts as available. The OS only says "worth trying":
/// the core's health probe of the server decides Online (green), so a captive portal that
/// satisfies the path still reads Offline until the server itself answers.
public final class SystemPathMonitor: NetworkPathMonitoring {
    private let monitor = NWPathMonitor()
    private let queue = DispatchQueue(label: "app.tillkit.network-path")

    public init() {}

    public func start(onChange: @escaping @Sendable (Bool) -> Void) {
        monitor.pathUpdateHandler = { path in onChange(path.status == .satisfied) }
        monitor.start(queue: queue)
    }

    public func cancel() {
        monitor.cancel()
    }
}

/// Whatever is told about the network: the core, or a fake in tests.
public protocol NetworkAvailabilitySink: AnyObject, Sendable {
    func setNetworkAvailable(available: Bool) async throws
}

extension TillkitCore: NetworkAvailabilitySink {}

/// Forwards every path change to the sink, one at a time and in order, until it is released.
public final class NetworkForwarder {
    private let monitor: NetworkPathMonitoring
    private let forwarding: Task<Void, Never>

    public init(monitor: NetworkPathMonitoring, sink: NetworkAvailabilitySink) {
        self.monitor = monitor
        // Unbounded: every change is told, in the order the monitor saw them.
        let (changes, continuation) = AsyncStream.makeStream(of: Bool.self)
        forwarding = Task { [weak sink] in
            for await available in changes {
                // The only error is `Closed`, for a change that raced shutdown: nobody is listening.
                try? await sink?.setNetworkAvailable(available: available)
            }
        }
        monitor.start { available in continuation.yield(available) }
    }

    deinit {
        monitor.cancel()
        forwarding.cancel()
    }
}

/// Hands each status to the stream's continuation (a core thread calls it).
private final class StatusContinuation: StatusObserver, Sendable {
    private let continuation: AsyncStream<SyncStatusRecord>.Continuation

    init(_ continuation: AsyncStream<SyncStatusRecord>.Continuation) {
        self.continuation = continuation
    }

    func onStatus(status: SyncStatusRecord) {
        continuation.yield(status)
    }
}

extension TillkitCore {
    /// The current status at once, then every change, as an `AsyncStream`. Each stream
    /// subscribes on its own; its end (the iterating task cancelled, or the stream and its
    /// iterators released) runs `onTermination`, which cancels and frees the subscription. A slow reader sees the newest status,
    /// never a queue of old ones. Throws `TillkitError.Closed` after shutdown.
    public func statusUpdates() throws -> AsyncStream<SyncStatusRecord> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: SyncStatusRecord.self, bufferingPolicy: .bufferingNewest(1)
        )
        let subscription = try subscribeStatus(observer: StatusContinuation(continuation))
        continuation.onTermination = { _ in subscription.cancel() }
        return stream
    }
}

/// One register's open core for SwiftUI. Create it with `open`; `shutdown` it when done.
@MainActor
public final class TillkitStore: ObservableObject {
    /// The core's sync status; updated on the main actor.
    @Published public private(set) var status: RegisterStatus
    /// The bindings' core: its disk and network calls are `async`, never blocking the caller.
    public let core: TillkitCore

    private var statusTask: Task<Void, Never>?
    private var network: NetworkForwarder?

    /// The status pill for `status`.
    public var pill: StatusPill { StatusPill(status) }

    /// Opens the encrypted store (key in the keychain, created on first run), starts sync
    /// (each store's token from the keychain, put there by `core.pair`), and starts
    /// forwarding network changes.
    public static func open(
        config: CoreConfig,
        monitor: NetworkPathMonitoring = SystemPathMonitor()
    ) async throws -> TillkitStore {
        let core = try await TillkitCore.open(config: config)
        let status = try await core.status()
        return try TillkitStore(core: core, status: status, monitor: monitor)
    }

    /// Wraps an open core: publishes its status and forwards `monitor`'s changes to it.
    public init(core: TillkitCore, status: SyncStatusRecord, monitor: NetworkPathMonitoring) throws {
        self.core = core
        self.status = RegisterStatus(status)
        let updates = try core.statusUpdates()
        // On the main actor (inherited), in the order the core published them.
        statusTask = Task { [weak self] in
            for await record in updates {
                guard let self else { return }
                self.status = RegisterStatus(record)
            }
        }
        network = NetworkForwarder(monitor: monitor, sink: core)
    }

    /// Overrides what the path monitor last reported (tests, a kiosk "offline" switch); the
    /// next path change reports the real state again.
    public func setNetworkAvailable(_ available: Bool) async throws {
        try await core.setNetworkAvailable(available: available)
    }

    /// Stops network forwarding and status updates (which frees the subscription), stops
    /// sync and closes the database.
    public func shutdown() async {
        network = nil
        statusTask?.cancel()
        statusTask = nil
        await core.shutdown()
    }
}
