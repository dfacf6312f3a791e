// Converts the bindings' records to :ui-model's plain types and back, field by field.
// The one place that knows both; no value is computed or rounded here.
package app.tillkit.ffi

import app.tillkit.background.DrainResult
import app.tillkit.ui.BlockedStore
import app.tillkit.ui.CartLine
import app.tillkit.ui.CartTotals
import app.tillkit.ui.CompletedSale
import app.tillkit.ui.LineTotals
import app.tillkit.ui.OfflineLimit
import app.tillkit.ui.OfflineLimitsState
import app.tillkit.ui.ProtocolProblem
import app.tillkit.ui.QueuedSale
import app.tillkit.ui.RecoveryOutcome
import app.tillkit.ui.RegisterStatus
import app.tillkit.ui.TaxAmount
import app.tillkit.ui.Tender

/** A cart's lines and totals, read together. */
data class CartSnapshot(val lines: List<CartLine>, val totals: CartTotals)

fun SyncStatusRecord.toRegisterStatus() = RegisterStatus(
    online = connectivity == Connectivity.ONLINE,
    syncing = syncing,
    pending = pending.toLong(),
    oldestPendingAgeSecs = oldestPendingAgeSecs?.toLong(),
    attention = attention.toLong(),
    authFailed = authFailed,
    lastError = lastError,
    blockedStores = stores.mapNotNull { store ->
        store.blocked?.let { BlockedStore(store.storeId, store.pending.toLong(), it == StoreBlock.TOKEN_REFUSED) }
    },
    protocolMismatch = when (protocolMismatch) {
        is ProtocolMismatch.ServerTooOld -> ProtocolProblem.ServerTooOld
        is ProtocolMismatch.AppTooOld -> ProtocolProblem.AppTooOld
        null -> null
    },
    offlineLimits = offline?.toOfflineLimitsState() ?: OfflineLimitsState(),
)

fun OfflineStatusRecord.toOfflineLimitsState() = OfflineLimitsState(
    warnings = warnings.map { w ->
        app.tillkit.ui.OfflineLimitWarning(
            limit = w.limit.toOfflineLimit(),
            percent = w.percent.toInt(),
            reached = w.reached,
            usedSecs = w.usedSecs?.toLong(),
            maxSecs = w.maxSecs?.toLong(),
            usedAmount = w.usedAmount,
            maxAmount = w.maxAmount,
        )
    },
    cardHeadroom = cardHeadroom,
    cashHeadroom = cashHeadroom,
    windowOpen = window != null,
)

fun OfflineLimitKind.toOfflineLimit() = when (this) {
    OfflineLimitKind.CARD_OFFLINE_TIME -> OfflineLimit.CardOfflineTime
    OfflineLimitKind.CARD_SALE -> OfflineLimit.CardSale
    OfflineLimitKind.CARD_TOTAL -> OfflineLimit.CardTotal
    OfflineLimitKind.CASH_OFFLINE_TIME -> OfflineLimit.CashOfflineTime
    OfflineLimitKind.CASH_SALE -> OfflineLimit.CashSale
    OfflineLimitKind.CASH_TOTAL -> OfflineLimit.CashTotal
}

fun CartLineRecord.toCartLine() = CartLine(
    lineId = lineId.toLong(),
    name = name,
    unitPrice = unitPrice,
    quantity = quantity,
    discountLabel = discount?.label,
)

fun TotalsRecord.toCartTotals() = CartTotals(
    currency = currency,
    lines = lines.map { line ->
        LineTotals(line.lineId.toLong(), line.amount, line.lineDiscount, line.tax, line.taxes.map { it.toTaxAmount() })
    },
    subtotal = subtotal,
    discountTotal = discountTotal,
    taxTotal = taxTotal,
    total = total,
    taxes = breakdown.map { it.toTaxAmount() },
    cashDue = cashDue,
)

private fun TaxLineRecord.toTaxAmount() = TaxAmount(label, tax)

fun QueuedSaleRecord.toQueuedSale() = QueuedSale(
    saleId = saleId,
    receiptNo = receiptNo,
    total = total,
    currency = currency,
    enqueuedAtMs = enqueuedAtMs,
    reason = reason,
    lastError = lastError,
    parked = state == QueueState.PARKED,
)

fun SaleReceipt.toCompletedSale() = CompletedSale(receiptNo, currency, amountDue, changeDue)

fun Tender.toPaymentRecord(): PaymentRecord = when (this) {
    is Tender.Cash -> PaymentRecord(PaymentMethod.CASH, amount, reference = null)
    is Tender.Card -> PaymentRecord(PaymentMethod.CARD, amount, reference)
}

fun RecoveryReportRecord.toRecoveryOutcome() = RecoveryOutcome(
    complete = complete,
    salesRecovered = salesRecovered.toLong(),
    queued = queued.toLong(),
    salesUnreadable = salesUnreadable.toLong(),
    queuedLost = queuedLost.toLong(),
    receiptsMissing = receiptsMissing,
    unreadable = unreadable,
    keptFiles = keptFiles,
)

fun DrainOutcome.toDrainResult() = when (this) {
    DrainOutcome.DRAINED -> DrainResult.Drained
    DrainOutcome.NEEDS_ATTENTION -> DrainResult.NeedsAttention
    DrainOutcome.TIMED_OUT -> DrainResult.TimedOut
}
