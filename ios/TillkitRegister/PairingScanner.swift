// The pairing screen's camera: VisionKit's DataScannerViewController reading QR codes only.
// It reports the first QR code's text once (PairingView reads it with readPairingScan), or that
// scanning became impossible (camera denied or restricted). Present it only when
// DataScannerViewController.isSupported && isAvailable (iOS 16+, a device with a camera).
import SwiftUI
import Vision
import VisionKit

struct PairingScanner: UIViewControllerRepresentable {
    let onScanned: @MainActor (String) -> Void
    let onUnavailable: @MainActor () -> Void

    func makeUIViewController(context: Context) -> DataScannerViewController {
        let scanner = DataScannerViewController(
            recognizedDataTypes: [.barcode(symbologies: [.qr])],
            qualityLevel: .balanced,
            recognizesMultipleItems: false,
            isHighFrameRateTrackingEnabled: false,
            isHighlightingEnabled: true
        )
        scanner.delegate = context.coordinator
        return scanner
    }

    func updateUIViewController(_ scanner: DataScannerViewController, context: Context) {
        context.coordinator.parent = self
        context.coordinator.start(scanner)
    }

    static func dismantleUIViewController(_ scanner: DataScannerViewController, coordinator: Coordinator) {
        scanner.stopScanning()
    }

    func makeCoordinator() -> Coordinator { Coordinator(parent: self) }

    /// The scanner's delegate (VisionKit calls it on the main actor): reports once, then stops.
    @MainActor
    final class Coordinator: NSObject, DataScannerViewControllerDelegate {
        var parent: PairingScanner
        private var finished = false

        init(parent: PairingScanner) {
            self.parent = parent
        }

        func start(_ scanner: DataScannerViewController) {
            guard !finished, !scanner.isScanning else { return }
            do {
                // Asks for the camera the first time (NSCameraUsageDescription).
                try scanner.startScanning()
            } catch {
                // Called from a view update: report after it, not during it.
                finished = true
                let report = parent.onUnavailable
                Task { @MainActor in report() }
            }
        }

        func dataScanner(
            _ dataScanner: DataScannerViewController,
            didAdd addedItems: [RecognizedItem],
            allItems: [RecognizedItem]
        ) {
            guard !finished else { return }
            for item in addedItems {
                // A QR code holding bytes rather than text has no string: wait for another.
                guard case let .barcode(barcode) = item, let text = barcode.payloadStringValue else { continue }
                finished = true
                dataScanner.stopScanning()
                parent.onScanned(text)
                return
            }
        }

        func dataScanner(
            _ dataScanner: DataScannerViewController,
            becameUnavailableWithError error: DataScannerViewController.ScanningUnavailable
        ) {
            guard !finished else { return }
            finished = true
            parent.onUnavailable()
        }
    }
}
