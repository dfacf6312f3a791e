// The SwiftUI face of the Rust core: a published status, NWPathMonitor changes forwarded to
// setNetworkAvailable, and the core's blocking calls moved off the main actor. No rules here.
import Foundation
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
    func setNetworkAvailable(available: Bool) throws
}

extension TillkitCore: NetworkAvailabilitySink {}

/// Forwards every path change to the sink until it is released.
public final class NetworkForwarder {
    private let monitor: NetworkPathMonitoring

    public init(monitor: NetworkPathMonitoring, sink: NetworkAvailabilitySink) {
        self.monitor = monitor
        monitor.start { [weak sink] available in
            // The only error is `Closed`, for a change that raced shutdown: nobody is listening.
            try? sink?.setNetworkAvailable(available: available)
        }
    }

    deinit {
        monitor.cancel()
    }
}

/// Receives statuses on a core thread and numbers them, so a late hop to the main actor
/// can never replace a newer status with an older one.
private final class StatusForwarder: StatusObserver, @unchecked Sendable {
    private let lock = NSLock()
    private var sequence: UInt64 = 0
    private let deliver: @Sendable (UInt64, SyncStatusRecord) -> Void

    init(deliver: @escaping @Sendable (UInt64, SyncStatusRecord) -> Void) {
        self.deliver = deliver
    }

    func onStatus(status: SyncStatusRecord) {
        lock.lock()
        sequence += 1
        let number = sequence
        lock.unlock()
        deliver(number, status)
    }
}

/// Runs a blocking core call off the main actor.
public func offMain<T: Sendable>(_ call: @escaping @Sendable () throws -> T) async throws -> T {
    try await Task.detached(priority: .userInitiated) { try call() }.value
}

/// One register's open core for SwiftUI. Create it with `open`; `shutdown` it when done.
@MainActor
public final class TillkitStore: ObservableObject {
    /// The core's sync status; updated on the main actor.
    @Published public private(set) var status: RegisterStatus
    /// The bindings' core, for calls this class does not wrap. Its calls block.
    public let core: TillkitCore

    private var subscription: StatusSubscription?
    private var network: NetworkForwarder?
    private var lastSequence: UInt64 = 0

    /// The status pill for `status`.
    public var pill: StatusPill { StatusPill(status) }

    /// Opens the encrypted store (key in the keychain, created on first run), starts sync with
    /// the register's bearer `token`, and starts forwarding network changes.
    public static func open(
        config: CoreConfig,
        token: String,
        monitor: NetworkPathMonitoring = SystemPathMonitor()
    ) async throws -> TillkitStore {
        let core = try await offMain { try TillkitCore.open(config: config, token: token) }
        let status = try await offMain { try core.status() }
        return try TillkitStore(core: core, status: status, monitor: monitor)
    }

    /// Wraps an open core: publishes its status and forwards `monitor`'s changes to it.
    public init(core: TillkitCore, status: SyncStatusRecord, monitor: NetworkPathMonitoring) throws {
        self.core = core
        self.status = RegisterStatus(status)
        let observer = StatusForwarder { [weak self] number, record in
            Task { @MainActor in self?.apply(number, record) }
        }
        subscription = try core.subscribeStatus(observer: observer)
        network = NetworkForwarder(monitor: monitor, sink: core)
    }

    private func apply(_ number: UInt64, _ record: SyncStatusRecord) {
        guard number > lastSequence else { return }
        lastSequence = number
        status = RegisterStatus(record)
    }

    /// Opens a cashier session; sync of this store starts at once.
    public func login(storeId: String, registerId: String, staffId: String) async throws {
        let core = self.core
        try await offMain { try core.login(storeId: storeId, registerId: registerId, staffId: staffId) }
    }

    /// Active products of the store matching a name, SKU or barcode.
    public func search(_ query: String) async throws -> [ProductRecord] {
        let core = self.core
        return try await offMain { try core.search(query: query) }
    }

    /// A new empty cart with the store's current prices and tax settings.
    public func newCart() async throws -> CartHandle {
        let core = self.core
        return try await offMain { try core.newCart() }
    }

    /// Writes the sale durably with its queue row; start a new cart for the next customer.
    public func completeSale(cart: CartHandle, payments: [PaymentRecord]) async throws -> SaleReceipt {
        let core = self.core
        return try await offMain { try core.completeSale(cart: cart, payments: payments) }
    }

    /// Sales waiting for upload, oldest first.
    public func pendingSales(limit: UInt32 = 100) async throws -> [QueuedSaleRecord] {
        let core = self.core
        return try await offMain { try core.pendingSales(limit: limit) }
    }

    /// Sales that need a person: set aside by the server (with its reasons) or parked.
    public func attentionSales(limit: UInt32 = 100) async throws -> [QueuedSaleRecord] {
        let core = self.core
        return try await offMain { try core.attentionSales(limit: limit) }
    }

    /// Sends set-aside and parked sales again now: these ids, or all of them (nil).
    @discardableResult
    public func retryAttentionSales(saleIds: [String]? = nil) async throws -> UInt64 {
        let core = self.core
        return try await offMain { try core.retryAttentionSales(saleIds: saleIds) }
    }

    /// Overrides what the path monitor last reported (tests, a kiosk "offline" switch); the
    /// next path change reports the real state again.
    public func setNetworkAvailable(_ available: Bool) async throws {
        let core = self.core
        try await offMain { try core.setNetworkAvailable(available: available) }
    }

    /// For background work with a time limit: syncs now and waits up to `timeoutMs` until
    /// nothing uploadable is left. Runs off the main actor; the core call blocks until then,
    /// even if the calling task is cancelled (the limit bounds it).
    public func drainNow(timeoutMs: UInt64) async throws -> DrainReport {
        let core = self.core
        return try await offMain { try core.drainNow(timeoutMs: timeoutMs) }
    }

    /// Sync as soon as possible.
    public func syncNow() async throws {
        let core = self.core
        try await offMain { try core.syncNow() }
    }

    /// Stops network forwarding and status updates, stops sync and closes the database.
    public func shutdown() {
        network = nil
        subscription?.cancel()
        subscription = nil
        core.shutdown()
    }
}
