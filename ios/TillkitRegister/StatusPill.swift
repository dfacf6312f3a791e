import SwiftUI
import Tillkit
import TillkitKit

/// Green "Online", amber "Offline · N pending", red when the register's token is refused.
struct StatusPillView: View {
    let pill: StatusPill

    var body: some View {
        VStack(spacing: 0) {
            Text(pill.text).font(.caption.bold())
            if let detail = pill.detail {
                Text(detail).font(.caption2)
            }
        }
        .padding(.horizontal, 10)
        .padding(.vertical, 4)
        .foregroundStyle(foreground)
        .background(background, in: Capsule())
        .accessibilityElement(children: .combine)
    }

    private var background: Color {
        switch pill.colour {
        case .green: return Color(red: 0.18, green: 0.49, blue: 0.20)
        case .amber: return Color(red: 1.0, green: 0.70, blue: 0.0)
        case .red: return Color(red: 0.78, green: 0.16, blue: 0.16)
        }
    }

    private var foreground: Color {
        pill.colour == .amber ? Color(red: 0.24, green: 0.15, blue: 0.14) : .white
    }
}
