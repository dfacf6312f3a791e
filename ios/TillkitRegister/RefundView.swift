// A refund: type or scan the receipt number, choose the whole sale or some lines and
// quantities, cash or card, an optional reason, confirm; then the refund receipt. The flow is
// TillkitKit's RefundFlow; the core checks, reverses the tax and writes the refund.
import SwiftUI
import Tillkit
import TillkitKit

/// One refund, kept by the register screen until it is closed: a refund call that is running
/// when the sheet goes runs to its end (its task holds the model), and its receipt is there when
/// the sheet comes back. The refund id is made once here and sent on every try.
@MainActor
final class RefundModel: ObservableObject {
    @Published private(set) var flow: RefundFlow
    let store: TillkitStore

    init(store: TillkitStore, money: MoneyFormat = MoneyFormat()) {
        self.store = store
        flow = RefundFlow(money: money)
    }

    /// A call is running: the sheet cannot be dismissed and nothing can be sent again.
    var busy: Bool {
        switch flow.step {
        case .lookingUp, .sending: return true
        default: return false
        }
    }

    var done: Bool {
        if case .done = flow.step { return true }
        return false
    }

    func receiptTyped(_ text: String) { flow.receiptTyped(text) }
    func lookup() { lookUp(flow.lookupTapped()) }
    func scanned(_ code: String) { lookUp(flow.scanned(code)) }
    func otherReceipt() { flow.otherReceipt() }
    func wholeSale(_ whole: Bool) { flow.wholeSale(whole) }
    func quantityTyped(_ lineNo: UInt32, _ text: String) { flow.quantityTyped(lineNo: lineNo, text) }
    func allOfLine(_ lineNo: UInt32) { flow.allOfLine(lineNo: lineNo) }
    func restockChanged(_ lineNo: UInt32, _ restock: Bool) { flow.restockChanged(lineNo: lineNo, restock: restock) }
    func methodChosen(_ method: RefundMethod) { flow.methodChosen(method) }
    func cardReferenceTyped(_ text: String) { flow.cardReferenceTyped(text) }
    func reasonTyped(_ text: String) { flow.reasonTyped(text) }

    private func lookUp(_ receiptNo: String?) {
        guard let receiptNo else { return }
        Task {
            do {
                let sale = try await store.core.refundable(sale: .receipt(receiptNo: receiptNo))
                flow.found(sale)
            } catch {
                flow.online = store.status.online
                flow.lookupFailed(error)
            }
        }
    }

    /// Confirm (or "Confirm again" after an interruption): sends at most once at a time.
    func confirm() {
        guard let order = flow.confirmTapped() else { return }
        Task {
            do {
                let receipt = try await store.core.refund(request: order.request)
                flow.refunded(receipt)
            } catch is CancellationError {
                // The core may have written it: only the same order, under the same id, goes again.
                flow.interrupted()
            } catch {
                flow.online = store.status.online
                flow.refundFailed(error)
            }
        }
    }
}

struct RefundView: View {
    @ObservedObject var model: RefundModel
    let onClose: () -> Void

    var body: some View {
        Form {
            switch model.flow.step {
            case let .enterReceipt(typed, problem):
                Section("Receipt number") {
                    // Keyboard-wedge scanners type the receipt's barcode (its number) and Return.
                    TextField("R07-000042", text: Binding(get: { typed }, set: { model.receiptTyped($0) }))
                        .textInputAutocapitalization(.characters)
                        .autocorrectionDisabled()
                        .onSubmit { model.lookup() }
                    if let problem { Text(problem).foregroundStyle(.red) }
                    Button("Find sale") { model.lookup() }
                }
            case let .lookingUp(receipt):
                ProgressView("Looking up \(receipt)…")
            case let .choose(form):
                choose(form, review: model.flow.review, sending: false)
            case let .sending(form, _):
                choose(form, review: nil, sending: true)
            case .interrupted:
                Section {
                    Text("The refund was interrupted before the register answered. Confirm again to finish it: "
                        + "it is sent as the same refund and never given twice.")
                        .foregroundStyle(.red)
                    Button("Confirm again") { model.confirm() }
                }
            case let .done(_, lines):
                Section("Refund complete") {
                    ForEach(lines, id: \.self) { Text($0) }
                }
                Button("Done", action: onClose)
            }
        }
        .navigationTitle("Refund")
        // Not while a call runs: its answer must reach this screen.
        .interactiveDismissDisabled(model.busy)
        .toolbar {
            ToolbarItem(placement: .cancellationAction) {
                Button("Close", action: onClose).disabled(model.busy)
            }
        }
    }

    @ViewBuilder
    private func choose(_ form: RefundForm, review: RefundReview?, sending: Bool) -> some View {
        let money = MoneyFormat()
        let currency = form.sale.sale.currency
        // While the refund is being sent nothing on it can change.
        Group {
            Section {
                HStack {
                    Text("Receipt \(form.sale.sale.receiptNo) · \(money.format(form.sale.sale.total, currency: currency))")
                    Spacer()
                    Button("Other receipt") { model.otherReceipt() }
                }
                Picker("Refund", selection: Binding(get: { form.whole }, set: { model.wholeSale($0) })) {
                    Text("Whole sale").tag(true)
                    Text("Some items").tag(false)
                }
                .pickerStyle(.segmented)
            }
            Section("Items") {
                ForEach(form.sale.lines, id: \.lineNo) { line in
                    VStack(alignment: .leading, spacing: 4) {
                        Text(line.name).font(.headline)
                        let price = form.sale.sale.lines.first(where: { $0.lineNo == line.lineNo })
                            .map { " × " + money.format($0.unitPrice, currency: currency) } ?? ""
                        Text("\(line.sold)\(price) sold · \(line.refunded) refunded · \(line.left) left")
                            .font(.caption).foregroundStyle(.secondary)
                        if !form.whole {
                            HStack {
                                // Decimal for weighed goods: "0.375".
                                TextField("Quantity back", text: Binding(
                                    get: { form.quantities[line.lineNo] ?? "" },
                                    set: { model.quantityTyped(line.lineNo, $0) }
                                ))
                                .keyboardType(.decimalPad)
                                Button("All") { model.allOfLine(line.lineNo) }
                            }
                        }
                        if line.stockTracked {
                            Toggle("Back to stock", isOn: Binding(
                                get: { !form.notRestocked.contains(line.lineNo) },
                                set: { model.restockChanged(line.lineNo, $0) }
                            ))
                        }
                        if let problem = review?.lineProblems[line.lineNo] {
                            Text(problem).foregroundStyle(.red).font(.caption)
                        }
                    }
                }
            }
            Section("Money back") {
                Picker("Tender", selection: Binding(get: { form.method }, set: { model.methodChosen($0) })) {
                    Text("Cash").tag(RefundMethod.cash)
                    Text("Card").tag(RefundMethod.card)
                }
                .pickerStyle(.segmented)
                if form.method == .card {
                    TextField("Card terminal reference", text: Binding(get: { form.cardReference }, set: { model.cardReferenceTyped($0) }))
                        .autocorrectionDisabled()
                }
                TextField("Reason (optional)", text: Binding(get: { form.reason }, set: { model.reasonTyped($0) }))
            }
        }
        .disabled(sending)
        Section {
            if let failure = form.failure { Text(failure).foregroundStyle(.red) }
            if let problem = review?.problem { Text(problem).foregroundStyle(.red) }
            Button(sending ? "Refunding…" : "Confirm refund") { model.confirm() }
                .disabled(!model.flow.canConfirm)
        }
        .disabled(sending)
    }
}
