// What the cashier sees of sync: the status pill, its detail line and the attention badge.
// It only words the core's status; it never decides connectivity or counts sales itself.
package app.tillkit.ui

/** The core's sync status (mapped by `:tillkit` from `SyncStatusRecord`). */
data class RegisterStatus(
    /** The server answered recently. */
    val online: Boolean,
    /** An upload is in progress. */
    val syncing: Boolean = false,
    /** Sales waiting for upload. */
    val pending: Long = 0,
    /** Age of the oldest pending sale, whole seconds. */
    val oldestPendingAgeSecs: Long? = null,
    /** Sales the server set aside, plus 1 while the register's token is refused. */
    val attention: Long = 0,
    /** The server refuses this register's token. */
    val authFailed: Boolean = false,
    /** A store with unsent sales has no token or a refused one: show the pairing screen. */
    val needsPairing: Boolean = false,
    /** The last sync error, readable. */
    val lastError: String? = null,
    /** Stores whose sales cannot upload now (no token, or the token refused). */
    val blockedStores: List<BlockedStore> = emptyList(),
    /** The server and this app speak no common sync protocol version. */
    val protocolMismatch: ProtocolProblem? = null,
    /** The store's offline limits: warnings and headroom (see OfflineLimits.kt). */
    val offlineLimits: OfflineLimitsState = OfflineLimitsState(),
)

/** A store whose sales cannot upload now, and how many wait. */
data class BlockedStore(val storeId: String, val pending: Long, val tokenRefused: Boolean)

/** Which side of a protocol mismatch must be updated. */
enum class ProtocolProblem { ServerTooOld, AppTooOld }

/** Pill colours, named for what they mean rather than their shade. */
enum class PillColour { Green, Amber, Red }

/** The status pill: colour and text, a detail line, and the needs-attention badge. */
data class StatusPill(
    val colour: PillColour,
    val text: String,
    /** e.g. "oldest 3 min ago"; null when nothing is waiting. */
    val detail: String?,
    /** Count shown on the needs-attention button; null when there is nothing to look at. */
    val attentionBadge: String?,
)

/** Maps the core's status to the pill. */
fun statusPill(status: RegisterStatus): StatusPill {
    val pending = if (status.pending > 0) " · ${status.pending} pending" else ""
    val (colour, text) = when {
        // Sales are kept; none will upload until the server (or the app) is updated.
        status.protocolMismatch == ProtocolProblem.ServerTooOld -> PillColour.Red to "Server too old for this app$pending"
        status.protocolMismatch == ProtocolProblem.AppTooOld -> PillColour.Red to "Update the app to sync$pending"
        // Sales keep being taken, but none will upload until the register is paired again.
        status.authFailed -> PillColour.Red to "Register not authorised$pending"
        status.online -> PillColour.Green to "Online$pending"
        else -> PillColour.Amber to "Offline$pending"
    }
    val blocked = status.blockedStores.firstOrNull()
    val detail = when {
        status.protocolMismatch != null -> "Sales are kept on this register; call support"
        status.authFailed -> "Ask a manager for a pairing code"
        blocked != null -> "${blocked.pending} sales of store ${blocked.storeId} wait for its register token"
        status.pending > 0 && status.oldestPendingAgeSecs != null -> "oldest ${ago(status.oldestPendingAgeSecs)}"
        else -> null
    }
    val badge = status.attention.takeIf { it > 0 }?.let { if (it > 99) "99+" else it.toString() }
    return StatusPill(colour, text, detail, badge)
}

/** 42 -> "just now", 180 -> "3 min ago", 7200 -> "2 h ago", 172800 -> "2 days ago". */
fun ago(seconds: Long): String = when {
    seconds < 60 -> "just now"
    seconds < 3_600 -> "${seconds / 60} min ago"
    seconds < 86_400 -> "${seconds / 3_600} h ago"
    seconds < 2 * 86_400 -> "1 day ago"
    else -> "${seconds / 86_400} days ago"
}
