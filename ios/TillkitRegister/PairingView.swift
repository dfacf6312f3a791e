// The pairing screen: the cashier scans, types or pastes the one-time code a manager made with
// `tillkit-server admin pair-register`; the core trades it for the register's token and keeps
// it in the keychain. Shown when the register has no token or the server refused it.
// Scan reads a QR code with the camera (PairingScanner, VisionKit; NSCameraUsageDescription in
// project.yml). The manager shows the code as a QR code with
// `tillkit-server admin pair-register DB --store S --register R --link https://sync.example/ | qrencode -t ansiutf8`;
// the core reads the link (readPairingScan) and pairing refuses a link made for another server.
import SwiftUI
import Tillkit
import TillkitKit
import VisionKit

private let scanUnavailable = "Scanning is not available here: type the code"

struct PairingView: View {
    let store: TillkitStore
    let serverUrl: String
    let onPaired: (PairedRegister) -> Void

    @State private var code = ""
    @State private var busy = false
    @State private var failure: String?
    @State private var scanning = false
    /// The server a scanned pairing link named (nil when typed, pasted or a bare code was
    /// scanned): pairing sends it to the core, which refuses one that is not this register's.
    @State private var scannedServer: String?

    /// Typing drops a scanned link's server: a typed code is for this register's server.
    private var typedCode: Binding<String> {
        Binding(get: { code }, set: { code = $0; scannedServer = nil })
    }

    private var typed: String { code.trimmingCharacters(in: .whitespacesAndNewlines) }

    var body: some View {
        Form {
            Section {
                Text("Ask a manager for a pairing code for this register and scan or type it here. Sales already rung up are kept and upload once it is paired.")
                Text("Server: \(serverUrl)").font(.footnote).foregroundStyle(.secondary)
            }
            Section("Pairing code") {
                TextField("Pairing code", text: typedCode)
                    .textInputAutocapitalization(.characters)
                    .autocorrectionDisabled()
                    .submitLabel(.done)
                    .onSubmit(pair)
                    .disabled(busy)
                PasteButton(payloadType: String.self) { strings in
                    guard let first = strings.first else { return }
                    Task { @MainActor in
                        // A pasted pairing link is read as a scan would be.
                        if first.trimmingCharacters(in: .whitespacesAndNewlines).lowercased().hasPrefix("tillkit:") {
                            scanned(first)
                        } else {
                            code = first
                            scannedServer = nil
                        }
                    }
                }
                Button("Scan the QR code") {
                    // The sheet only where VisionKit can scan (a camera, access not refused).
                    if DataScannerViewController.isSupported && DataScannerViewController.isAvailable {
                        failure = nil
                        scanning = true
                    } else {
                        failure = scanUnavailable
                    }
                }
                .disabled(busy)
                if let scannedServer {
                    Text("Scanned code for server: \(scannedServer)").font(.footnote).foregroundStyle(.secondary)
                }
            }
            if let failure {
                Section { Text(failure).foregroundStyle(.red) }
            }
            Section {
                Button(action: pair) {
                    if busy { ProgressView() } else { Text("Pair") }
                }
                .disabled(busy || typed.isEmpty)
            }
        }
        .navigationTitle("Pair this register")
        .sheet(isPresented: $scanning) {
            NavigationStack {
                PairingScanner(
                    onScanned: { text in
                        scanning = false
                        scanned(text)
                    },
                    onUnavailable: {
                        scanning = false
                        failure = scanUnavailable
                    }
                )
                .ignoresSafeArea()
                .navigationTitle("Scan the pairing code")
                .navigationBarTitleDisplayMode(.inline)
                .toolbar {
                    ToolbarItem(placement: .cancellationAction) {
                        Button("Cancel") { scanning = false }
                    }
                }
            }
        }
    }

    /// What the scanner read: a pairing link or bare code goes in the field (with the server
    /// the link names); anything else leaves the field alone and says why. Nothing is sent.
    private func scanned(_ text: String) {
        guard !busy else { return }
        do {
            let scan = try readPairingScan(text: text)
            code = scan.code
            scannedServer = scan.serverUrl
            failure = nil
        } catch let error as TillkitError {
            failure = error.pairingMessage
        } catch {
            failure = String(describing: error)
        }
    }

    private func pair() {
        let typed = self.typed
        // A scanned link's server goes to the core, which refuses one that is not ours.
        let server = scannedServer ?? serverUrl
        guard !busy, !typed.isEmpty else { return }
        busy = true
        failure = nil
        Task { @MainActor in
            do {
                // Awaits off the main actor; the exchange finishes even if this view goes away.
                let paired = try await store.core.pair(serverUrl: server, code: typed)
                busy = false
                code = ""
                scannedServer = nil
                onPaired(paired)
            } catch let error as TillkitError {
                busy = false
                failure = error.pairingMessage
            } catch {
                busy = false
                failure = String(describing: error)
            }
        }
    }
}
