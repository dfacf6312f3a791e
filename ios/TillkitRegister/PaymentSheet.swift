import SwiftUI
import Tillkit
import TillkitKit

/// Cash (amount tendered, change due) or card (the terminal's reference), then "Charge".
struct PaymentSheet: View {
    @ObservedObject var model: RegisterModel

    var body: some View {
        NavigationStack {
            Form {
                Section {
                    Text("Total \(model.cart.total)").font(.title2)
                }
                if let payment = model.payment {
                    let cash = payment.method == .cash
                    Section {
                        TextField(
                            cash ? "Cash tendered" : "Card terminal reference",
                            text: Binding(get: { model.payment?.input ?? "" }, set: { model.paymentInputChanged($0) })
                        )
                        .keyboardType(cash ? .decimalPad : .default)
                        if let change = payment.state.changeDue {
                            Text("Change due \(change)").font(.title3)
                        }
                        if let problem = payment.state.problem, !payment.input.isEmpty {
                            Text(problem).foregroundStyle(.red)
                        }
                    }
                    Button(cash ? "Charge cash" : "Record card payment") { model.charge() }
                        .disabled(payment.state.payment == nil)
                }
            }
            .navigationTitle("Payment")
            .toolbar {
                ToolbarItem(placement: .cancellationAction) {
                    Button("Cancel") { model.payment = nil }
                }
            }
        }
        .presentationDetents([.medium, .large])
    }
}
