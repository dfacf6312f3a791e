import SwiftUI
import Tillkit
import TillkitKit

/// Search and barcode entry, results, the cart, and the pay buttons; the status pill on top.
/// While the server refuses the register's token (or a store has none) the pairing screen
/// covers it: sales stay queued and upload once it is paired again.
struct RegisterView: View {
    @ObservedObject private var store: TillkitStore
    @StateObject private var model: RegisterModel
    @State private var showAttention = false
    /// The refund in progress: kept while its sheet is away (a call still running finishes
    /// into it), dropped when the cashier closes it.
    @State private var refund: RefundModel?
    @State private var showRefund = false
    /// The journal screen's export and check, kept while it is away (as Android's view model).
    @StateObject private var journal: JournalModel
    @State private var showJournal = false
    private let serverUrl: String
    private let onPaired: (PairedRegister) -> Void

    @MainActor
    init(store: TillkitStore, serverUrl: String, onPaired: @escaping (PairedRegister) -> Void) {
        self.store = store
        self.serverUrl = serverUrl
        self.onPaired = onPaired
        _model = StateObject(wrappedValue: RegisterModel(store: store))
        _journal = StateObject(wrappedValue: JournalModel(store: store))
    }

    var body: some View {
        NavigationStack {
            VStack(spacing: 8) {
                if let limit = model.limitBanner {
                    Text(limit.text)
                        .frame(maxWidth: .infinity, alignment: .leading)
                        .padding(8)
                        .background(limit.stop ? Color.red.opacity(0.2) : Color.orange.opacity(0.2),
                                    in: RoundedRectangle(cornerRadius: 8))
                }
                if let banner = model.banner {
                    HStack {
                        Text(banner)
                        Spacer()
                        Button("OK") { model.banner = nil }
                    }
                    .padding(8)
                    .background(.thinMaterial, in: RoundedRectangle(cornerRadius: 8))
                }
                HStack {
                    TextField("Search products", text: $model.query)
                    // Keyboard-wedge scanners type the code and Return.
                    TextField("Barcode", text: $model.barcode)
                        .onSubmit { model.barcodeEntered() }
                }
                .textFieldStyle(.roundedBorder)
                .autocorrectionDisabled()
                if !model.results.isEmpty {
                    List(model.results) { product in
                        Button { model.add(productId: product.id) } label: {
                            VStack(alignment: .leading) {
                                Text(product.name)
                                Text(product.detail).font(.caption).foregroundStyle(.secondary)
                            }
                        }
                    }
                    .listStyle(.plain)
                    .frame(maxHeight: 220)
                }
                CartView(
                    cart: model.cart,
                    onQuantity: { model.setQuantity(lineId: $0, quantity: $1) },
                    onRemove: { model.remove(lineId: $0) }
                )
                HStack {
                    Button("Cash") { model.startPayment(.cash) }.frame(maxWidth: .infinity)
                    Button("Card") { model.startPayment(.card) }.frame(maxWidth: .infinity)
                }
                .buttonStyle(.borderedProminent)
                .disabled(model.cart.isEmpty)
            }
            .padding()
            .navigationTitle("Register")
            .navigationBarTitleDisplayMode(.inline)
            .toolbar {
                ToolbarItem(placement: .principal) { StatusPillView(pill: store.pill) }
                ToolbarItem(placement: .secondaryAction) {
                    Button {
                        if refund == nil || refund?.done == true { refund = RefundModel(store: store) }
                        showRefund = true
                    } label: {
                        Label("Refund", systemImage: "arrow.uturn.backward")
                    }
                }
                ToolbarItem(placement: .secondaryAction) {
                    Button { showJournal = true } label: {
                        Label("Journal", systemImage: "book.closed")
                    }
                }
                ToolbarItem(placement: .primaryAction) {
                    Button { showAttention = true } label: {
                        if let badge = store.pill.attentionBadge {
                            Label("Attention \(badge)", systemImage: "exclamationmark.triangle.fill")
                        } else {
                            Label("Attention", systemImage: "exclamationmark.triangle")
                        }
                    }
                }
            }
            .navigationDestination(isPresented: $showAttention) { AttentionList(store: store) }
            .navigationDestination(isPresented: $showJournal) { JournalView(model: journal) }
            .sheet(isPresented: Binding(get: { model.payment != nil }, set: { if !$0 { model.payment = nil } })) {
                PaymentSheet(model: model)
            }
            .sheet(isPresented: $showRefund) {
                if let refund {
                    NavigationStack {
                        RefundView(model: refund) {
                            // Not while a call runs: its answer must reach the screen.
                            guard !refund.busy else { return }
                            showRefund = false
                            self.refund = nil
                        }
                    }
                }
            }
            // Dismissed by the status itself once the new token is accepted.
            .fullScreenCover(isPresented: .constant(store.status.needsPairing)) {
                NavigationStack {
                    PairingView(store: store, serverUrl: serverUrl, onPaired: onPaired)
                }
            }
        }
    }
}
