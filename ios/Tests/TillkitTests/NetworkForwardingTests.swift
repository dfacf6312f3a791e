import XCTest
import Tillkit
@testable import TillkitKit

/// A path monitor the test drives by hand.
private final class FakePathMonitor: NetworkPathMonitoring {
    private(set) var onChange: (@Sendable (Bool) -> Void)?
    private(set) var cancelled = false

    func start(onChange: @escaping @Sendable (Bool) -> Void) { self.onChange = onChange }
    func cancel() { cancelled = true }
    func report(_ available: Bool) { onChange?(available) }
}

/// Records what the core would have been told.
private final class RecordingSink: NetworkAvailabilitySink, @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Bool] = []
    var reported: [Bool] { lock.lock(); defer { lock.unlock() }; return values }

    func setNetworkAvailable(available: Bool) async throws {
        lock.lock()
        values.append(available)
        lock.unlock()
    }
}

final class NetworkForwardingTests: XCTestCase {
    func testEveryPathChangeReachesTheCoreInOrder() async throws {
        let monitor = FakePathMonitor()
        let sink = RecordingSink()
        let forwarder = NetworkForwarder(monitor: monitor, sink: sink)
        monitor.report(true)
        monitor.report(false)
        monitor.report(true)
        // Forwarded one at a time on a task of the forwarder's: wait for the third.
        for _ in 0..<500 where sink.reported.count < 3 {
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        XCTAssertEqual(sink.reported, [true, false, true])
        withExtendedLifetime(forwarder) {}
    }

    func testReleasingTheForwarderStopsTheMonitor() {
        let monitor = FakePathMonitor()
        var forwarder: NetworkForwarder? = NetworkForwarder(monitor: monitor, sink: RecordingSink())
        XCTAssertNotNil(forwarder)
        forwarder = nil
        XCTAssertTrue(monitor.cancelled)
    }

    func testAChangeAfterTheCoreIsGoneIsDropped() {
        let monitor = FakePathMonitor()
        var sink: RecordingSink? = RecordingSink()
        let forwarder = NetworkForwarder(monitor: monitor, sink: sink!)
        sink = nil
        monitor.report(false)  // must not crash: the forwarder holds the sink weakly
        withExtendedLifetime(forwarder) {}
    }
}
