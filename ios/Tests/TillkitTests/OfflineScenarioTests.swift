import XCTest
import Tillkit
@testable import TillkitKit

/// A monitor that reports one state and never changes: the test switches the network itself.
private final class SteadyPathMonitor: NetworkPathMonitoring {
    func start(onChange: @escaping @Sendable (Bool) -> Void) { onChange(true) }
    func cancel() {}
}

/// The offline promise against the reference server: sales rung up with the network off are
/// kept, then uploaded by themselves once it is back. Skipped unless TILLKIT_SERVER_URL and
/// TILLKIT_PAIRING_CODE are set (tests/mobile-server.sh prints a code; see ios/README.md);
/// TILLKIT_ROOT_CERTIFICATE is the server's private CA (one line of base64 DER or PEM:
/// tests/mobile-server.sh writes it to DIR/ca.b64; unset, only the bundled Mozilla roots are
/// trusted); optional TILLKIT_BARCODE (5060000000031, from demo/src/catalog.json).
@MainActor
final class OfflineScenarioTests: XCTestCase {
    private var env: [String: String] { ProcessInfo.processInfo.environment }

    func testSalesRungUpOfflineUploadOnceTheNetworkIsBack() async throws {
        guard let url = env["TILLKIT_SERVER_URL"], let code = env["TILLKIT_PAIRING_CODE"], !code.isEmpty else {
            throw XCTSkip("set TILLKIT_SERVER_URL and TILLKIT_PAIRING_CODE to run against the reference server")
        }
        // Tests run without an app's keychain entitlements.
        try useInMemoryKeychainForTests()
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("tillkit-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dataDir) }

        let config = CoreConfig(
            dataDir: dataDir.path, serverUrl: url, allowHttpLoopback: true,
            rootCertificatesPem: RootCertificates.roots(env["TILLKIT_ROOT_CERTIFICATE"])
        )
        let store = try await TillkitStore.open(config: config, monitor: SteadyPathMonitor())
        do {
            try await salesRungUpOffline(store, pairingWith: code, at: url)
        } catch {
            await store.shutdown()
            throw error
        }
        await store.shutdown()
    }

    private func salesRungUpOffline(_ store: TillkitStore, pairingWith code: String, at url: String) async throws {
        // As the pairing screen does: the code becomes the register's token in the keychain.
        let paired = try await store.core.pair(serverUrl: url, code: code)
        try await store.core.login(storeId: paired.storeId, registerId: paired.registerId, staffId: "xctest")

        try await eventually("online") { store.status.online }
        // The catalogue arrives with the first sync after login.
        var probe: CartHandle?
        try await eventually("catalogue") {
            do {
                probe = try await store.core.newCart()
                return true
            } catch TillkitError.NoCatalog {
                return false
            }
        }
        XCTAssertNotNil(probe)

        try await store.setNetworkAvailable(false)
        try await eventually("offline") { !store.status.online }
        let barcode = env["TILLKIT_BARCODE"] ?? "5060000000031"
        var receipts: [String] = []
        for _ in 0..<3 {
            let cart = try await store.core.newCart()
            _ = try await cart.addBarcode(code: barcode, quantity: "2")
            let total = try cart.totals().total
            let payment = PaymentRecord(method: .cash, amount: total, reference: nil)
            let receipt = try await store.core.completeSale(cart: cart, payments: [payment])
            receipts.append(receipt.receiptNo)
        }
        // XCTAssert's autoclosures cannot await: read first, then assert.
        let pending = try await store.core.pendingSales(limit: 100)
        XCTAssertEqual(pending.map(\.receiptNo), receipts)
        try await eventually("pending 3 in the status") { store.status.pending == 3 }
        XCTAssertEqual(store.pill.colour, .amber)
        XCTAssertEqual(store.pill.text, "Offline · 3 pending")

        try await store.setNetworkAvailable(true)
        try await eventually("queue drained", timeout: 60) { store.status.online && store.status.pending == 0 }
        let left = try await store.core.pendingSales(limit: 100)
        let setAside = try await store.core.attentionSales(limit: 100)
        XCTAssertEqual(left.count, 0)
        XCTAssertEqual(setAside.count, 0, "no sale set aside")
        XCTAssertEqual(store.pill.text, "Online")
    }

    private func eventually(
        _ what: String,
        timeout: TimeInterval = 30,
        _ condition: () async throws -> Bool
    ) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try await condition() { return }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        XCTFail("timed out waiting for \(what)")
    }
}
