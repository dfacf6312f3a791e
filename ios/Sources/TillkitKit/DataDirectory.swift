// The register's data directory: made once, kept out of backups, and on iOS protected
// "complete until first user authentication". It never deletes, moves or reads a file.
import Foundation
import Tillkit

/// Where the core keeps its encrypted database.
public enum DataDirectory {
    /// `Application Support/<name>` (or under `base`), ready for `CoreConfig.dataDir`.
    ///
    /// The protection class is the one the background upload needs: readable from the first
    /// unlock after a restart on, while the phone is locked again (`complete` would close the
    /// database whenever it locks), like the key's `AfterFirstUnlockThisDeviceOnly` keychain
    /// entry. Files made later (SQLite's `-wal` and `-shm`) inherit the directory's class;
    /// files already there are given it too. Excluded from backup: the key never leaves this
    /// device, so a restored copy could not be opened.
    public static func prepare(named name: String = "tillkit", in base: URL? = nil) throws -> URL {
        let files = FileManager.default
        let root = try base ?? files.url(
            for: .applicationSupportDirectory, in: .userDomainMask, appropriateFor: nil, create: true
        )
        let directory = root.appendingPathComponent(name, isDirectory: true)
        #if os(iOS)
        let protection: [FileAttributeKey: Any] = [.protectionKey: FileProtectionType.completeUntilFirstUserAuthentication]
        try files.createDirectory(at: directory, withIntermediateDirectories: true, attributes: protection)
        // createDirectory leaves an existing directory (and its files) as they were.
        try files.setAttributes(protection, ofItemAtPath: directory.path)
        for file in try files.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil) {
            try files.setAttributes(protection, ofItemAtPath: file.path)
        }
        #else
        // macOS (`swift test`) has no per-file data protection classes.
        try files.createDirectory(at: directory, withIntermediateDirectories: true)
        #endif
        var values = URLResourceValues()
        values.isExcludedFromBackup = true
        var url = directory
        try url.setResourceValues(values)
        return directory
    }
}
