import SwiftUI
import Tillkit
import TillkitKit

/// Sales of the current store the server set aside (each with its reason) or the network path
/// parked; reloaded when the core's count moves. Retry sends one again; Retry all sends every
/// such sale of every store on this device (set-aside ones back to pending, parked ones due at
/// once). Only the server's verdict sets a sale aside again.
struct AttentionList: View {
    @ObservedObject var store: TillkitStore
    @State private var rows: [AttentionRow]?
    @State private var retryError: String?
    /// Bumped by each retry so the list reloads even before the count moves.
    @State private var retries = 0
    private let money = MoneyFormat()

    private func retry(_ saleId: String?) {
        Task {
            do {
                _ = try await store.core.retryAttentionSales(saleIds: saleId.map { [$0] })
                retryError = nil
            } catch {
                retryError = "The sale could not be put back in line: \(error)"
            }
            retries += 1
        }
    }

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
                            Button("Retry") { retry(row.id) }.buttonStyle(.borderless)
                        }
                    }
                }
            } else {
                ProgressView()
            }
        }
        .navigationTitle("Needs attention")
        .toolbar {
            if rows?.isEmpty == false {
                Button("Retry all") { retry(nil) }
            }
        }
        .safeAreaInset(edge: .bottom) {
            if let retryError { Text(retryError).foregroundStyle(.red).padding() }
        }
        .task(id: "\(store.status.attention)-\(retries)") {
            guard let sales = try? await store.core.attentionSales(limit: 100) else { return }
            let nowMs = Int64(Date().timeIntervalSince1970 * 1_000)
            rows = attentionRows(sales, nowMs: nowMs, money: money)
        }
    }
}
