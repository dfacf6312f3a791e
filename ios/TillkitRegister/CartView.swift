import SwiftUI
import Tillkit
import TillkitKit

/// The cart's lines with +/- and per-line tax, then the core's totals.
struct CartView: View {
    let cart: CartDisplay
    let onQuantity: (UInt64, String) -> Void
    let onRemove: (UInt64) -> Void

    var body: some View {
        List {
            ForEach(cart.lines) { line in
                VStack(alignment: .leading, spacing: 4) {
                    HStack {
                        Text(line.name).font(.headline)
                        Spacer()
                        Text(line.amount).font(.headline)
                    }
                    HStack {
                        VStack(alignment: .leading) {
                            Text(line.quantityAndPrice)
                            if let discount = line.discount { Text(discount).font(.caption) }
                            Text(line.tax).font(.caption).foregroundStyle(.secondary)
                        }
                        Spacer()
                        // Weighed lines and a quantity of one have no "−": the cashier removes the line.
                        if let minus = line.minusQuantity {
                            Button("−") { onQuantity(line.id, minus) }
                        } else {
                            Button("Remove", role: .destructive) { onRemove(line.id) }
                        }
                        if let plus = line.plusQuantity {
                            Button("+") { onQuantity(line.id, plus) }
                        }
                    }
                    .buttonStyle(.bordered)
                }
            }
            if !cart.isEmpty {
                Section {
                    TotalRow(label: "Subtotal", amount: cart.subtotal)
                    if let discounts = cart.discounts { TotalRow(label: "Discounts", amount: discounts) }
                    ForEach(cart.taxes) { tax in TotalRow(label: tax.label, amount: tax.amount) }
                    TotalRow(label: "Total", amount: cart.total).font(.headline)
                }
            }
        }
        .listStyle(.plain)
    }
}

private struct TotalRow: View {
    let label: String
    let amount: String

    var body: some View {
        HStack {
            Text(label)
            Spacer()
            Text(amount)
        }
    }
}
