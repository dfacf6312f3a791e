// The app's background-upload wiring as iOS checks it at launch: every identifier the app
// registers is permitted in its Info.plist, and the modes the tasks need are declared; and a
// run's ending: an expiry cancels the drain, and the task is completed exactly once.
import XCTest
@testable import TillkitRegister

final class BackgroundUploadTasksTests: XCTestCase {
    private func infoArray(_ key: String) -> [String] {
        Bundle.main.object(forInfoDictionaryKey: key) as? [String] ?? []
    }

    @MainActor
    func testInfoPlistPermitsExactlyTheIdentifiersTheAppRegisters() {
        // Registering an identifier Info.plist does not list crashes the app at launch.
        XCTAssertEqual(Set(infoArray("BGTaskSchedulerPermittedIdentifiers")), Set(BackgroundUploadTasks.identifiers))
    }

    /// A run's completions (`setTaskCompleted(success:)` calls), in order.
    private final class Completions: @unchecked Sendable {
        private let lock = NSLock()
        private var values: [Bool] = []
        func record(_ value: Bool) {
            lock.lock()
            values.append(value)
            lock.unlock()
        }
        var all: [Bool] {
            lock.lock()
            defer { lock.unlock() }
            return values
        }
    }

    @MainActor
    func testAnExpiredRunCancelsItsDrainAndIsCompletedOnceAsUnfinished() async {
        let completions = Completions()
        let cancelled = expectation(description: "the drain saw its cancellation")
        let run = BackgroundRun { completions.record($0) }
        run.start {
            // A drain that would outlast the task: only a cancellation ends it.
            while !Task.isCancelled { try? await Task.sleep(nanoseconds: 10_000_000) }
            cancelled.fulfill()
            return true
        }
        run.expire()
        await fulfillment(of: [cancelled], timeout: 5)
        // The drain's own `true` came after the expiry's `false`: only the first counts.
        XCTAssertEqual(completions.all, [false])
    }

    @MainActor
    func testADrainThatEndsCompletesTheRunWithItsResultAndALaterExpiryChangesNothing() async {
        let completions = Completions()
        let ended = expectation(description: "the drain ended")
        let run = BackgroundRun { completions.record($0) }
        run.start {
            ended.fulfill()
            return true
        }
        await fulfillment(of: [ended], timeout: 5)
        run.expire()
        XCTAssertEqual(completions.all, [true])
    }

    func testTheBackgroundModesForRefreshAndProcessingAreDeclared() {
        let modes = Set(infoArray("UIBackgroundModes"))
        XCTAssertTrue(modes.isSuperset(of: ["fetch", "processing"]), "\(modes)")
    }
}
