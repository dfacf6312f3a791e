// The "database needs recovery" screen: explains, recovers the sales, or (only after a
// person types the word) starts fresh. The core salvages; this view only asks and shows.
import SwiftUI
import Tillkit
import TillkitKit

@MainActor
final class RecoveryModel: ObservableObject {
    @Published private(set) var flow: RecoveryFlow
    @Published var typed = "" {
        didSet { flow.confirmationTyped(typed) }
    }
    private let config: CoreConfig

    init(reason: String, keptFiles: [String], config: CoreConfig) {
        flow = RecoveryFlow(reason: reason, keptFiles: keptFiles)
        self.config = config
    }

    func recover() {
        guard flow.recoverTapped() else { return }
        Task {
            do {
                flow.recovered(try await recoverDatabase(config: config))
            } catch let error as TillkitError {
                flow.failed(error.cashierMessage(money: MoneyFormat(), currency: nil))
            } catch {
                flow.failed(error.localizedDescription)
            }
        }
    }

    func startFresh() { flow.startFreshTapped() }
    func cancelFresh() { flow.cancelFresh(); typed = "" }

    func confirmFresh() {
        guard flow.confirmFreshTapped() else { return }
        Task {
            do {
                try await startFreshDatabase(config: config)
                flow.startedFresh()
            } catch let error as TillkitError {
                flow.failed(error.cashierMessage(money: MoneyFormat(), currency: nil))
            } catch {
                flow.failed(error.localizedDescription)
            }
        }
    }
}

struct RecoveryView: View {
    @StateObject var model: RecoveryModel
    let onOpen: () -> Void

    var body: some View {
        ScrollView {
            VStack(alignment: .leading, spacing: 12) {
                Text("The register's database needs recovery").font(.title2)
                switch model.flow.step {
                case let .needed(reason, kept):
                    Text("It could not be opened: \(reason). Nothing has been deleted.")
                    Text("Recovering copies every sale that can still be read into a new database; unsent sales upload as usual.")
                    Button("Recover sales", action: model.recover).buttonStyle(.borderedProminent)
                    Button("Start without the old sales…", action: model.startFresh)
                    KeptFiles(files: kept)
                case .recovering:
                    ProgressView()
                case .confirmFresh:
                    Text("Starting fresh means sales in the damaged file that were not uploaded will not be. Ask a manager.")
                    TextField("Type \(startFreshWord) to confirm", text: $model.typed)
                        .textFieldStyle(.roundedBorder)
                        .textInputAutocapitalization(.characters)
                    Button("Start fresh", action: model.confirmFresh).disabled(!model.flow.canConfirmFresh)
                    Button("Back", action: model.cancelFresh)
                case let .done(summary, kept):
                    ForEach(summary, id: \.self) { Text($0) }
                    Button("Open the register", action: onOpen).buttonStyle(.borderedProminent)
                    KeptFiles(files: kept)
                case let .failed(message):
                    Text("Recovery did not finish: \(message). Nothing has been deleted.")
                    Button("Try again", action: model.recover)
                    KeptFiles(files: model.flow.keptFiles)
                }
            }
            .padding(24)
        }
    }
}

private struct KeptFiles: View {
    let files: [String]

    var body: some View {
        if !files.isEmpty {
            Text("Kept for support:").font(.headline)
            ForEach(files, id: \.self) { Text($0).font(.footnote) }
        }
    }
}
