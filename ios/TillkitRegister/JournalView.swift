// The journal screen: "Export journal" saves this register's journal where the person chooses
// (the system's save dialog: Files, iCloud Drive, a USB drive...) for an auditor; "Check
// journal" shows the verdict on it, and "Check a file…" on an export opened here. The flow and
// its wording are TillkitKit's JournalFlow; the core writes, parses and judges the journal.
import SwiftUI
import Tillkit
import TillkitKit
import UniformTypeIdentifiers

extension UTType {
    /// A journal export: JSON Lines text (`.jsonl`, `application/jsonl`), declared by no system type.
    static let tillkitJournal = UTType(filenameExtension: "jsonl", conformingTo: .plainText) ?? .plainText
}

/// What "Check a file…" offers: exports, and files an auditor renamed or a mail app retyped.
private let journalImportTypes: [UTType] = [.tillkitJournal, .json, .plainText, .data]

/// The export's text as the save dialog writes it: UTF-8, byte for byte as the core made it.
struct JournalFile: FileDocument {
    static var readableContentTypes: [UTType] { [.tillkitJournal] }

    let text: String

    init(text: String) {
        self.text = text
    }

    init(configuration: ReadConfiguration) throws {
        guard let data = configuration.file.regularFileContents else { throw CocoaError(.fileReadCorruptFile) }
        text = String(decoding: data, as: UTF8.self)
    }

    func fileWrapper(configuration: WriteConfiguration) throws -> FileWrapper {
        FileWrapper(regularFileWithContents: Data(text.utf8))
    }
}

/// The journal screen's calls, kept by the register screen: a check or an export still running
/// when the screen goes finishes into it, and its answer is there when the screen comes back.
@MainActor
final class JournalModel: ObservableObject {
    @Published private(set) var flow = JournalFlow()
    /// The save dialog is up (apart from the flow: SwiftUI sets it back itself).
    @Published private(set) var saveDialogShown = false
    /// The last report, kept while its sheet slides away after it was closed.
    private(set) var shownReport: JournalReportView?
    let store: TillkitStore

    init(store: TillkitStore) {
        self.store = store
    }

    /// The export waits for the person to choose where it goes.
    var choosingFile: Bool {
        if case .chooseFile = flow.export { return true }
        return false
    }

    var exportFile: JournalFile? {
        if case let .chooseFile(text, _, _) = flow.export { return JournalFile(text: text) }
        return nil
    }

    var exportFileName: String? {
        if case let .chooseFile(_, fileName, _) = flow.export { return fileName }
        return nil
    }

    /// Saved or not, in words, once the export is over.
    var exportOutcome: (saved: Bool, message: String)? {
        if case let .finished(saved, message) = flow.export { return (saved, message) }
        return nil
    }

    var checking: Bool {
        if case .checking = flow.check { return true }
        return false
    }

    var reportShowing: Bool {
        if case .report = flow.check { return true }
        return false
    }

    /// Why the last check could not be made.
    var checkFailure: String? {
        if case let .failed(_, message) = flow.check { return message }
        return nil
    }

    /// "Export journal": makes the export; the screen then shows the save dialog (`choosingFile`).
    func export() {
        guard flow.exportTapped() else { return }
        Task {
            do {
                let text = try await store.core.exportJournal()
                // The register signed in is the paired one (Startup signs in as it).
                flow.exported(text, storeId: Startup.pairedStoreId ?? "", registerId: Startup.pairedRegisterId ?? "")
                saveDialogShown = choosingFile
            } catch {
                flow.exportFailed(error)
            }
        }
    }

    /// The save dialog wrote the file, or could not.
    func exportSaved(_ result: Result<URL, Error>) {
        switch result {
        case .success:
            flow.saved()
        case let .failure(error):
            flow.saveFailed(error.localizedDescription)
        }
    }

    /// The save dialog went away. SwiftUI clears `isPresented` before it calls `onCompletion`,
    /// and never calls it when the person cancels: an export still waiting one main-actor turn
    /// later is taken as cancelled. Should the dialog's answer come later after all, it still
    /// has the last word (`JournalFlow.saved`, `saveFailed`).
    func saveDialogClosed() {
        saveDialogShown = false
        Task {
            await Task.yield()
            if choosingFile { flow.saveFailed(nil) }
        }
    }

    /// "Check journal": this register's journal as this device holds it.
    func checkThisRegister() {
        guard flow.checkTapped(.thisRegister) else { return }
        Task {
            do {
                let report = try await store.core.verifyJournal()
                checked(report)
            } catch {
                flow.checkFailed(error)
            }
        }
    }

    /// "Check a file…": the file the person opened (an export of this register or another).
    func checkFile(_ result: Result<URL, Error>) {
        switch result {
        case let .success(url):
            guard flow.checkTapped(.file(name: url.lastPathComponent)) else { return }
            Task {
                do {
                    let text = try await readJournalFile(url)
                    let report = try await verifyJournalExport(text: text)
                    checked(report)
                } catch {
                    flow.checkFailed(error)
                }
            }
        case let .failure(error):
            guard flow.checkTapped(.file(name: "")) else { return }
            flow.checkFailed(JournalFileUnreadable(reason: error.localizedDescription))
        }
    }

    /// Back from the report.
    func reportClosed() {
        flow.reportClosed()
    }

    private func checked(_ report: JournalReport) {
        flow.checked(report)
        if case let .report(_, view) = flow.check { shownReport = view }
    }
}

/// Reads an opened file off the main actor (nonisolated async), inside its security scope: a
/// file from another app's container or iCloud Drive is readable only within it.
private func readJournalFile(_ url: URL) async throws -> String {
    let scoped = url.startAccessingSecurityScopedResource()
    defer { if scoped { url.stopAccessingSecurityScopedResource() } }
    do {
        let data = try Data(contentsOf: url)
        return String(decoding: data, as: UTF8.self)
    } catch {
        throw JournalFileUnreadable(reason: error.localizedDescription)
    }
}

struct JournalView: View {
    @ObservedObject var model: JournalModel
    @State private var importing = false

    var body: some View {
        Form {
            Section {
                Text("Every sale and refund of this register, each linked to the one before it. Export it for an "
                    + "auditor, or check that nothing was changed, removed or slipped in.")
            }
            Section {
                Button(exportTitle) { model.export() }
                    .disabled(model.flow.exporting)
                    // Not on the same view as the file importer: SwiftUI presents only one of two.
                    .fileExporter(
                        isPresented: Binding(get: { model.saveDialogShown }, set: { if !$0 { model.saveDialogClosed() } }),
                        document: model.exportFile,
                        contentType: .tillkitJournal,
                        defaultFilename: model.exportFileName,
                        onCompletion: { model.exportSaved($0) }
                    )
                if let outcome = model.exportOutcome {
                    Text(outcome.message).foregroundStyle(outcome.saved ? Color.green : Color.red)
                }
            }
            Section {
                Button(model.checking ? "Checking…" : "Check journal") { model.checkThisRegister() }
                    .disabled(model.checking)
                Button("Check a file…") { importing = true }
                    .disabled(model.checking)
                    .fileImporter(isPresented: $importing, allowedContentTypes: journalImportTypes) { model.checkFile($0) }
                if let failure = model.checkFailure {
                    Text(failure).foregroundStyle(.red)
                }
            }
        }
        .navigationTitle("Journal")
        .sheet(isPresented: Binding(get: { model.reportShowing }, set: { if !$0 { model.reportClosed() } })) {
            if let report = model.shownReport {
                NavigationStack {
                    JournalReportSheet(report: report) { model.reportClosed() }
                }
            }
        }
    }

    private var exportTitle: String {
        switch model.flow.export {
        case .exporting: return "Exporting…"
        case .chooseFile: return "Saving…"
        default: return "Export journal"
        }
    }
}

/// The report: whose journal, the verdict, each problem naming its records, then the notes.
struct JournalReportSheet: View {
    let report: JournalReportView
    let onClose: () -> Void

    var body: some View {
        List {
            Section {
                Text(report.title).font(.footnote).foregroundStyle(.secondary)
                Text(report.verdict).font(.headline).foregroundStyle(report.intact ? Color.green : Color.red)
            }
            if !report.problems.isEmpty {
                Section("Problems") {
                    ForEach(Array(report.problems.enumerated()), id: \.offset) { Text($0.element).foregroundStyle(.red) }
                }
            }
            if !report.notes.isEmpty {
                Section("Notes") {
                    ForEach(Array(report.notes.enumerated()), id: \.offset) { Text($0.element) }
                }
            }
        }
        // An auditor copies record ids and receipt numbers out of it.
        .textSelection(.enabled)
        .navigationTitle("Journal check")
        .navigationBarTitleDisplayMode(.inline)
        .toolbar {
            ToolbarItem(placement: .confirmationAction) {
                Button("Done", action: onClose)
            }
        }
    }
}
