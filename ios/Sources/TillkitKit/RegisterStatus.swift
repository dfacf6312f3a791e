// What the cashier sees of sync: the status pill, its detail line and the attention badge.
// It only words the core's status; it never decides connectivity or counts sales itself.
import Foundation
import Tillkit

/// The core's sync status, as the register screen uses it.
public struct RegisterStatus: Equatable, Sendable {
    /// The server answered recently.
    public var online: Bool
    /// An upload is in progress.
    public var syncing: Bool
    /// Sales waiting for upload.
    public var pending: UInt64
    /// Age of the oldest pending sale, whole seconds.
    public var oldestPendingAgeSecs: UInt64?
    /// Sales the server set aside, plus 1 while the register's token is refused.
    public var attention: UInt64
    /// The server refuses this register's token.
    public var authFailed: Bool
    /// A store with unsent sales has no token or a refused one: show the pairing screen.
    public var needsPairing: Bool
    /// The last sync error, readable.
    public var lastError: String?
    /// Stores whose sales cannot upload now (no token, or the token refused): id and count.
    public var blockedStores: [BlockedStore]
    /// The server is older than this app: sales are kept but cannot upload.
    public var serverTooOld: Bool
    /// This app is older than anything the server serves.
    public var appTooOld: Bool
    /// The store's offline limits: warnings and headroom (OfflineLimits.swift).
    public var offlineLimits: OfflineLimitsState

    /// A store whose sales wait, and how many.
    public struct BlockedStore: Equatable, Sendable {
        public let storeId: String
        public let pending: UInt64
        public init(storeId: String, pending: UInt64) {
            self.storeId = storeId
            self.pending = pending
        }
    }

    public init(
        online: Bool,
        syncing: Bool = false,
        pending: UInt64 = 0,
        oldestPendingAgeSecs: UInt64? = nil,
        attention: UInt64 = 0,
        authFailed: Bool = false,
        needsPairing: Bool = false,
        lastError: String? = nil,
        blockedStores: [BlockedStore] = [],
        serverTooOld: Bool = false,
        appTooOld: Bool = false,
        offlineLimits: OfflineLimitsState = OfflineLimitsState()
    ) {
        self.online = online
        self.syncing = syncing
        self.pending = pending
        self.oldestPendingAgeSecs = oldestPendingAgeSecs
        self.attention = attention
        self.authFailed = authFailed
        self.needsPairing = needsPairing
        self.lastError = lastError
        self.blockedStores = blockedStores
        self.serverTooOld = serverTooOld
        self.appTooOld = appTooOld
        self.offlineLimits = offlineLimits
    }

    /// Maps the bindings' record, field by field.
    public init(_ record: SyncStatusRecord) {
        var serverTooOld = false
        var appTooOld = false
        switch record.protocolMismatch {
        case .serverTooOld: serverTooOld = true
        case .appTooOld: appTooOld = true
        case nil: break
        }
        self.init(
            online: record.connectivity == .online,
            syncing: record.syncing,
            pending: record.pending,
            oldestPendingAgeSecs: record.oldestPendingAgeSecs,
            attention: record.attention,
            authFailed: record.authFailed,
            needsPairing: record.needsPairing,
            lastError: record.lastError,
            blockedStores: record.stores.filter { $0.blocked != nil }.map {
                BlockedStore(storeId: $0.storeId, pending: $0.pending)
            },
            serverTooOld: serverTooOld,
            appTooOld: appTooOld,
            offlineLimits: record.offline.map(OfflineLimitsState.init) ?? OfflineLimitsState()
        )
    }
}

/// The status pill: colour and text, a detail line, and the needs-attention badge.
public struct StatusPill: Equatable, Sendable {
    /// Named for what they mean rather than their shade.
    public enum Colour: Sendable { case green, amber, red }

    public let colour: Colour
    /// "Online", "Offline · 4 pending".
    public let text: String
    /// "oldest 3 min ago"; nil when nothing is waiting.
    public let detail: String?
    /// Count on the needs-attention button; nil when there is nothing to look at.
    public let attentionBadge: String?

    public init(_ status: RegisterStatus) {
        let pending = status.pending > 0 ? " · \(status.pending) pending" : ""
        if status.serverTooOld || status.appTooOld {
            // Sales are kept; none will upload until the server (or the app) is updated.
            colour = .red
            text = (status.serverTooOld ? "Server too old for this app" : "Update the app to sync") + pending
            detail = "Sales are kept on this register; call support"
        } else if status.authFailed {
            // Sales keep being taken, but none will upload until a person enters a new token.
            colour = .red
            text = "Register not authorised" + pending
            detail = "Ask a manager for a pairing code"
        } else {
            colour = status.online ? .green : .amber
            text = (status.online ? "Online" : "Offline") + pending
            if let blocked = status.blockedStores.first {
                detail = "\(blocked.pending) sales of store \(blocked.storeId) wait for its register token"
            } else if status.pending > 0, let age = status.oldestPendingAgeSecs {
                detail = "oldest " + ago(seconds: age)
            } else {
                detail = nil
            }
        }
        switch status.attention {
        case 0: attentionBadge = nil
        case 1...99: attentionBadge = String(status.attention)
        default: attentionBadge = "99+"
        }
    }
}

/// 42 -> "just now", 180 -> "3 min ago", 7200 -> "2 h ago", 172800 -> "2 days ago".
public func ago(seconds: UInt64) -> String {
    switch seconds {
    case ..<60: return "just now"
    case ..<3_600: return "\(seconds / 60) min ago"
    case ..<86_400: return "\(seconds / 3_600) h ago"
    case ..<172_800: return "1 day ago"
    default: return "\(seconds / 86_400) days ago"
    }
}
