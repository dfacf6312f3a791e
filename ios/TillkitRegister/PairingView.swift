// The pairing screen: the cashier types (or pastes) the one-time code a manager made with
// `tillkit-server admin pair-register`; the core trades it for the register's token and keeps
// it in the keychain. Shown when the register has no token or the server refused it.
// No camera scanning: typing and paste only.
import SwiftUI
import Tillkit
import TillkitKit

struct PairingView: View {
    let store: TillkitStore
    let serverUrl: String
    let onPaired: (PairedRegister) -> Void

    @State private var code = ""
    @State private var busy = false
    @State private var failure: String?

    private var typed: String { code.trimmingCharacters(in: .whitespacesAndNewlines) }

    var body: some View {
        Form {
            Section {
                Text("Ask a manager for a pairing code for this register and type it here. Sales already rung up are kept and upload once it is paired.")
                Text("Server: \(serverUrl)").font(.footnote).foregroundStyle(.secondary)
            }
            Section("Pairing code") {
                TextField("Pairing code", text: $code)
                    .textInputAutocapitalization(.characters)
                    .autocorrectionDisabled()
                    .submitLabel(.done)
                    .onSubmit(pair)
                    .disabled(busy)
                PasteButton(payloadType: String.self) { strings in
                    guard let first = strings.first else { return }
                    Task { @MainActor in code = first }
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
    }

    private func pair() {
        let typed = self.typed
        guard !busy, !typed.isEmpty else { return }
        busy = true
        failure = nil
        Task { @MainActor in
            do {
                // Awaits off the main actor; the exchange finishes even if this view goes away.
                let paired = try await store.core.pair(serverUrl: serverUrl, code: typed)
                busy = false
                code = ""
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
