// The app's background-upload wiring as iOS checks it at launch: every identifier the app
// registers is permitted in its Info.plist, and the modes the tasks need are declared.
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

    func testTheBackgroundModesForRefreshAndProcessingAreDeclared() {
        let modes = Set(infoArray("UIBackgroundModes"))
        XCTAssertTrue(modes.isSuperset(of: ["fetch", "processing"]), "\(modes)")
    }
}
