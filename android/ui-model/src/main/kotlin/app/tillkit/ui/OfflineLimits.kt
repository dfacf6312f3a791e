// What the cashier sees of the store's offline limits: the banner while a limit is near or
// reached, the payment sheet's check before "Charge", and the words for the core's refusal.
// Wording only: the core counts the window and decides; nothing here adds up sales.
package app.tillkit.ui


/** Which limit (mapped by `:tillkit` from `OfflineLimitKind`). */
enum class OfflineLimit(val card: Boolean, val time: Boolean) {
    CardOfflineTime(card = true, time = true),
    CardSale(card = true, time = false),
    CardTotal(card = true, time = false),
    CashOfflineTime(card = false, time = true),
    CashSale(card = false, time = false),
    CashTotal(card = false, time = false),
}

/** A limit near or reached, as the core's status carries it. */
data class OfflineLimitWarning(
    val limit: OfflineLimit,
    /** Used, in whole percent of the limit. */
    val percent: Int,
    /** Nothing more of that tender can be sold until the queue has drained. */
    val reached: Boolean,
    /** For a time limit: seconds used and allowed. */
    val usedSecs: Long? = null,
    val maxSecs: Long? = null,
    /** For an amount limit: core decimal strings. */
    val usedAmount: String? = null,
    val maxAmount: String? = null,
)

/** The offline limits part of the status: warnings (reached first) and headroom. */
data class OfflineLimitsState(
    val warnings: List<OfflineLimitWarning> = emptyList(),
    /** Largest card amount an offline sale may take now; null: no limit. */
    val cardHeadroom: String? = null,
    /** Largest cash amount an offline sale may take now; null: no limit. */
    val cashHeadroom: String? = null,
    /** An offline window is open (sales wait for the server). */
    val windowOpen: Boolean = false,
)

/** How loud the banner is. */
enum class BannerLevel { Warning, Stop }

/** The banner above the cart. */
data class LimitBanner(val level: BannerLevel, val text: String)

private fun tender(limit: OfflineLimit) = if (limit.card) "Card" else "Cash"

/** 5400 -> "1 h 30 min", 600 -> "10 min", 42 -> "42 s". */
fun duration(seconds: Long): String = when {
    seconds >= 3_600 -> {
        val m = (seconds % 3_600) / 60
        if (m == 0L) "${seconds / 3_600} h" else "${seconds / 3_600} h $m min"
    }
    seconds >= 60 -> "${seconds / 60} min"
    else -> "$seconds s"
}

/** What one limit's figures say: "£80.00 of £100.00" or "50 min of 1 h". */
private fun figures(w: OfflineLimitWarning, money: MoneyFormat, currency: String): String =
    if (w.limit.time) {
        "${duration(w.usedSecs ?: 0)} of ${duration(w.maxSecs ?: 0)}"
    } else {
        "${money.format(w.usedAmount ?: "0", currency)} of ${money.format(w.maxAmount ?: "0", currency)}"
    }

/** The banner for the most pressing warning, or null when no limit is near. */
fun offlineLimitBanner(state: OfflineLimitsState, money: MoneyFormat, currency: String): LimitBanner? {
    val w = state.warnings.firstOrNull() ?: return null
    val what = if (w.limit.time) "${tender(w.limit)} offline for ${figures(w, money, currency)}" else
        "${tender(w.limit)} sales offline: ${figures(w, money, currency)}"
    return if (w.reached) {
        val other = if (w.limit.card) "take cash" else "take card"
        LimitBanner(BannerLevel.Stop, "${tender(w.limit)} limit reached ($what): $other or reconnect to sync")
    } else {
        LimitBanner(BannerLevel.Warning, "$what (${w.percent}%): reconnect soon")
    }
}

/**
 * The payment sheet's check before "Charge": null when the tender's offline headroom covers
 * `amount` (or there is no limit, or the register is online with no window open), else why
 * not. The core checks again when the sale completes; this only spares the cashier a refusal.
 */
fun offlineLimitProblem(
    state: OfflineLimitsState,
    online: Boolean,
    card: Boolean,
    amount: String,
    money: MoneyFormat,
    currency: String,
): String? {
    if (online && !state.windowOpen) return null
    val headroom = (if (card) state.cardHeadroom else state.cashHeadroom) ?: return null
    val room = parseDecimalOrNull(headroom) ?: return null
    val wanted = parseDecimalOrNull(amount) ?: return null
    if (wanted <= room) return null
    val name = if (card) "Card" else "Cash"
    return if (room.signum() == 0) {
        "$name is not taken offline any more: ${if (card) "take cash" else "take card"} or reconnect"
    } else {
        "$name offline is limited to ${money.format(room, currency)} for this sale"
    }
}

/** The core refused a sale at an offline limit (`TillkitException.OfflineLimitReached`). */
data class OfflineRefusal(val limit: OfflineLimit, val attempted: String, val max: String)

/** The sentence for a refused sale; nothing was saved, so the cart stays as it was. */
fun offlineRefusalMessage(r: OfflineRefusal, money: MoneyFormat, currency: String): String {
    val name = tender(r.limit)
    val other = if (r.limit.card) "Take cash" else "Take card"
    return when (r.limit) {
        OfflineLimit.CardOfflineTime, OfflineLimit.CashOfflineTime ->
            "$name is not taken after ${duration(r.max.toLongOrNull() ?: 0)} offline. $other, or reconnect to sync."
        OfflineLimit.CardSale, OfflineLimit.CashSale ->
            "$name offline is limited to ${money.format(r.max, currency)} per sale. $other for the rest, or reconnect."
        OfflineLimit.CardTotal, OfflineLimit.CashTotal ->
            "$name sales offline would pass ${money.format(r.max, currency)} in all. $other, or reconnect to sync."
    }
}
