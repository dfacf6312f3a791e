import SwiftUI
import Tillkit

/// Sales the server set aside, each with its reason; reloaded when the core's count moves.
struct AttentionList: View {
    @ObservedObject var store: TillkitStore
    @State private var rows: [AttentionRow]?
    private let money = MoneyFormat()

    var body: some View {
        Group {
            if let rows {
                if rows.isEmpty {
                    Text("Nothing needs attention.").foregroundStyle(.secondary)
                } else {
                    List(rows) { row in
                        VStack(alignment: .leading, spacing: 4) {
                            HStack {
                                Text("\(row.receiptNo) · \(row.total)").font(.headline)
                                Spacer()
                                Text(row.age).font(.caption).foregroundStyle(.secondary)
                            }
                            Text(row.reason).font(.subheadline)
                        }
                    }
                }
            } else {
                ProgressView()
            }
        }
        .navigationTitle("Needs attention")
        .task(id: store.status.attention) {
            guard let sales = try? await store.attentionSales() else { return }
            let nowMs = Int64(Date().timeIntervalSince1970 * 1_000)
            rows = attentionRows(sales, nowMs: nowMs, money: money)
        }
    }
}
