import XCTest
import Tillkit
@testable import TillkitKit

/// The status AsyncStream's promise: the current status first, and the subscription freed
/// when the iterating task is cancelled (onTermination). Needs no server: nothing listens
/// at the configured address, so the core stays offline.
final class StatusStreamTests: XCTestCase {
    private func watchers(_ core: TillkitCore, become expected: UInt64) async throws {
        for _ in 0..<500 {
            if try core.statusWatchers() == expected { return }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        XCTFail("status watchers never became \(expected): \(try core.statusWatchers())")
    }

    func testTheStreamGivesTheCurrentStatusAndCancellingFreesTheSubscription() async throws {
        try useInMemoryKeychainForTests()
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("tillkit-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dataDir) }
        let config = CoreConfig(
            dataDir: dataDir.path, serverUrl: "http://127.0.0.1:9/",
            keychainAccount: "stream-\(UUID().uuidString)", allowHttpLoopback: true
        )
        let core = try await TillkitCore.open(config: config)
        let baseline = try core.statusWatchers()
        // The stream lives only in the task: once the loop has returned, it is released.
        let reader = Task { () -> SyncStatusRecord? in
            for await status in try core.statusUpdates() { return status }
            return nil
        }
        let first = try await reader.value
        XCTAssertEqual(first?.pending, 0, "the current status comes first")
        // The loop returned and the stream is gone: its subscription is freed.
        try await watchers(core, become: baseline)

        let forever = try core.statusUpdates()
        try await watchers(core, become: baseline + 1)
        let waiting = Task { for await _ in forever {} }
        waiting.cancel()
        await waiting.value
        try await watchers(core, become: baseline)
        await core.shutdown()
    }
}
