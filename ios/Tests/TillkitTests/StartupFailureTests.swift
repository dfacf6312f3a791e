import XCTest
import Tillkit
@testable import TillkitKit

final class StartupFailureTests: XCTestCase {
    func testTypedErrorsMapToTheirScreens() {
        XCTAssertEqual(StartupFailure(TillkitError.KeyMissing).problem, .keyMissing)
        XCTAssertEqual(StartupFailure(TillkitError.KeyMismatch).problem, .keyMismatch)
        XCTAssertEqual(StartupFailure(TillkitError.KeyUnreadable(reason: "Encryption key not found")).problem, .keyUnreadable)
        XCTAssertEqual(StartupFailure(TillkitError.NeedsRecovery(reason: "damaged", kept: [])).problem, .needsRecovery)
        XCTAssertEqual(StartupFailure(TillkitError.NewerSchema(found: 9, supported: 4)).problem, .newerSchema)
        XCTAssertEqual(StartupFailure(TillkitError.Keychain(reason: "locked")).problem, .keychain)
        XCTAssertEqual(StartupFailure(TillkitError.InvalidInput(reason: "certificate pin")).problem, .configuration)
        XCTAssertEqual(StartupFailure(TillkitError.Closed).problem, .unexpected)
    }

    func testAnUntypedErrorIsTheCouldNotStartScreenWithItsDescription() {
        struct Crash: Error, CustomStringConvertible { var description: String { "Rust panic: index out of bounds" } }
        let failure = StartupFailure(Crash())
        XCTAssertEqual(failure.problem, .unexpected)
        XCTAssertEqual(failure.detail, "Rust panic: index out of bounds")
        XCTAssertTrue(failure.canRetry)
    }

    func testTryAgainIsOfferedUnlessOnlyANewBuildCanHelpAndNothingSuggestsDeletingData() {
        for problem in StartupProblem.allCases {
            let failure = StartupFailure(problem, detail: "")
            XCTAssertEqual(failure.canRetry, problem != .configuration && problem != .newerSchema, problem.rawValue)
            let words = (failure.title + " " + failure.advice)
                .replacingOccurrences(of: "Do not delete the app", with: "").lowercased()
            for forbidden in ["delete", "uninstall", "reinstall", "reset", "erase"] {
                XCTAssertFalse(words.contains(forbidden), "\(problem.rawValue): \(forbidden)")
            }
        }
    }
}
