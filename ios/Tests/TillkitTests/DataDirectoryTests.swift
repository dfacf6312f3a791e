import XCTest
import Tillkit
@testable import TillkitKit

final class DataDirectoryTests: XCTestCase {
    private var base: URL!

    override func setUpWithError() throws {
        base = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString, isDirectory: true)
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: base)
    }

    func testTheDirectoryIsMadeAndKeptOutOfBackups() throws {
        let directory = try DataDirectory.prepare(named: "tillkit", in: base)
        XCTAssertEqual(directory.lastPathComponent, "tillkit")
        let values = try directory.resourceValues(forKeys: [.isExcludedFromBackupKey, .isDirectoryKey])
        XCTAssertEqual(values.isDirectory, true)
        XCTAssertEqual(values.isExcludedFromBackup, true)
    }

    func testPreparingAgainKeepsEveryFileAndItsBytes() throws {
        let directory = try DataDirectory.prepare(in: base)
        let database = directory.appendingPathComponent("tillkit.db")
        try Data("sales".utf8).write(to: database)
        _ = try DataDirectory.prepare(in: base)
        XCTAssertEqual(try Data(contentsOf: database), Data("sales".utf8))
    }

    #if os(iOS)
    func testTheDirectoryAndItsFilesReadAfterTheFirstUnlock() throws {
        let directory = try DataDirectory.prepare(in: base)
        let database = directory.appendingPathComponent("tillkit.db")
        try Data("sales".utf8).write(to: database)
        _ = try DataDirectory.prepare(in: base)
        for path in [directory.path, database.path] {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            // The simulator may not record a class at all; where one is recorded it is ours.
            if let protection = attributes[.protectionKey] as? FileProtectionType {
                XCTAssertEqual(protection, .completeUntilFirstUserAuthentication, path)
            }
        }
    }
    #endif
}
