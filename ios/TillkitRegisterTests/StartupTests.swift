// The app's startup promise: any failure while opening becomes the failure screen, never a
// crash, and "Try again" opens again. Runs inside the app (`xcodebuild test`, see README.md).
import XCTest
@testable import TillkitRegister

@MainActor
final class StartupTests: XCTestCase {
    private struct Crash: Error {}

    /// The state once opening has ended (it runs on a task of its own).
    private func settled(_ startup: Startup) async -> Startup.State {
        for _ in 0..<10_000 {
            guard case .opening = startup.state else { break }
            await Task.yield()
        }
        return startup.state
    }

    func testAnUntypedErrorWhileOpeningShowsTheFailureScreenWithTryAgain() async {
        let startup = Startup(open: { throw Crash() })
        guard case .failed(let failure) = await settled(startup) else {
            return XCTFail("expected the failure screen, got \(startup.state)")
        }
        XCTAssertEqual(failure.title, "The register could not start")
        XCTAssertTrue(failure.canRetry)
    }

    func testTryAgainOpensAgainAndOnlyAfterAFailure() async {
        var attempts = 0
        let startup = Startup(open: {
            attempts += 1
            throw Crash()
        })
        _ = await settled(startup)
        XCTAssertEqual(attempts, 1)
        startup.retry()
        _ = await settled(startup)
        XCTAssertEqual(attempts, 2)
    }
}
