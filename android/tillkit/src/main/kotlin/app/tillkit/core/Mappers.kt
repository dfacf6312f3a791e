// Converts the bindings' records to :ui-model's plain types and back, field by field.
// The one place that knows both; no value is computed or rounded here.
package app.tillkit.core

import app.tillkit.background.DrainResult
import app.tillkit.ffi.CartHandle
import app.tillkit.ffi.CartLineRecord
import app.tillkit.ffi.Connectivity
import app.tillkit.ffi.DrainOutcome
import app.tillkit.ffi.OfflineLimitKind
import app.tillkit.ffi.OfflineStatusRecord
import app.tillkit.ffi.PaymentMethod
import app.tillkit.ffi.PaymentRecord
import app.tillkit.ffi.ProtocolMismatch
import app.tillkit.ffi.QueueState
import app.tillkit.ffi.QueuedSaleRecord
import app.tillkit.ffi.RecoveryReportRecord
import app.tillkit.ffi.RefundItemRecord
import app.tillkit.ffi.RefundLinesRecord
import app.tillkit.ffi.RefundReceipt
import app.tillkit.ffi.RefundRequestRecord
import app.tillkit.ffi.RefundTenderRecord
import app.tillkit.ffi.RefundableSale
import app.tillkit.ffi.SaleReceipt
import app.tillkit.ffi.SaleRefRecord
import app.tillkit.ffi.StoreBlock
import app.tillkit.ffi.SyncStatusRecord
import app.tillkit.ffi.TaxLineRecord
import app.tillkit.ffi.TotalsRecord
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
import app.tillkit.ui.RefundDone
import app.tillkit.ui.RefundOrder
import app.tillkit.ui.RefundPick
import app.tillkit.ui.RefundTender
import app.tillkit.ui.RefundableLine
import app.tillkit.ui.RefundableSaleInfo
import app.tillkit.ui.RefundedLine
import app.tillkit.ui.RegisterStatus
import app.tillkit.ui.TaxAmount
import app.tillkit.ui.Tender

/** A cart's lines and totals, read together. */
data class CartSnapshot(val lines: List<CartLine>, val totals: CartTotals)

/** The cart's lines and the core's live totals (both in memory: no disk, returns at once). */
fun CartHandle.snapshot() = CartSnapshot(lines().map { it.toCartLine() }, totals().toCartTotals())

fun SyncStatusRecord.toRegisterStatus() = RegisterStatus(
    online = connectivity == Connectivity.ONLINE,
    syncing = syncing,
    pending = pending.toLong(),
    oldestPendingAgeSecs = oldestPendingAgeSecs?.toLong(),
    attention = attention.toLong(),
    authFailed = authFailed,
    needsPairing = needsPairing,
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

/** The sale `refundable` found, with each line's unit price from the sale's own receipt line. */
fun RefundableSale.toRefundableSaleInfo() = RefundableSaleInfo(
    saleId = sale.saleId,
    receiptNo = sale.receiptNo,
    currency = sale.currency,
    total = sale.total,
    createdAtMs = sale.createdAtMs,
    lines = lines.map { l ->
        RefundableLine(
            lineNo = l.lineNo.toLong(),
            name = l.name,
            unitPrice = sale.lines.firstOrNull { it.lineNo == l.lineNo }?.unitPrice ?: "",
            sold = l.sold,
            refunded = l.refunded,
            left = l.left,
            stockTracked = l.stockTracked,
        )
    },
    paidByCard = sale.payments.any { it.method == PaymentMethod.CARD },
)

/** The refund as `refund` takes it: under its refund id, by the sale's id as `refundable` found it. */
fun RefundOrder.toRefundRequestRecord() = RefundRequestRecord(
    // The same on every try of this refund: the core returns the refund already written.
    refundId = refundId,
    sale = SaleRefRecord.SaleId(saleId),
    lines = when (val p = pick) {
        is RefundPick.Everything -> RefundLinesRecord.Everything(p.restock)
        is RefundPick.Lines -> RefundLinesRecord.Items(p.items.map { RefundItemRecord(it.lineNo.toUInt(), it.quantity, it.restock) })
    },
    tender = when (val t = tender) {
        RefundTender.Cash -> RefundTenderRecord.Cash
        is RefundTender.Card -> RefundTenderRecord.Card(t.reference)
    },
    reason = reason,
)

fun RefundReceipt.toRefundDone(): RefundDone {
    val card = payments.firstOrNull { it.method == PaymentMethod.CARD }
    return RefundDone(
        refundId = refundId,
        receiptNo = receiptNo,
        refundOfReceipt = refundOfReceipt,
        currency = currency,
        total = total,
        amountPaid = amountPaid,
        lines = lines.map { RefundedLine(it.name, it.quantity, it.gross, it.restock) },
        card = card != null,
        cardReference = card?.reference,
        reason = reason,
    )
}

private fun app.tillkit.ffi.JournalRecordRef.toJournalRecord() =
    app.tillkit.ui.JournalRecord(seq.toLong(), kind, recordId, receiptNo)

private fun app.tillkit.ffi.JournalSeqRange.toRange() = first.toLong()..last.toLong()

fun app.tillkit.ffi.JournalReport.toJournalVerdict() = app.tillkit.ui.JournalVerdict(
    storeId = storeId,
    registerId = registerId,
    exportedAtMs = exportedAtMs,
    records = records.toLong(),
    firstSeq = firstSeq?.toLong(),
    lastSeq = lastSeq?.toLong(),
    intact = intact,
    findings = problems.map { p ->
        when (p) {
            is app.tillkit.ffi.JournalProblem.Gap -> app.tillkit.ui.JournalFinding.Gap(p.firstSeq.toLong(), p.lastSeq.toLong())
            is app.tillkit.ffi.JournalProblem.Fork ->
                app.tillkit.ui.JournalFinding.Fork(p.prevSeq.toLong(), p.records.map { it.toJournalRecord() })
            is app.tillkit.ffi.JournalProblem.ChainBreak -> app.tillkit.ui.JournalFinding.Broken(
                when (p.kind) {
                    app.tillkit.ffi.JournalBreakKind.LINK_MISMATCH -> app.tillkit.ui.JournalBreak.LinkMismatch
                    app.tillkit.ffi.JournalBreakKind.GENESIS -> app.tillkit.ui.JournalBreak.Genesis
                    app.tillkit.ffi.JournalBreakKind.AFTER_MISMATCH -> app.tillkit.ui.JournalBreak.AfterMismatch
                    app.tillkit.ffi.JournalBreakKind.ALTERED -> app.tillkit.ui.JournalBreak.Altered
                    app.tillkit.ffi.JournalBreakKind.BAD_LINK -> app.tillkit.ui.JournalBreak.BadLink
                    app.tillkit.ffi.JournalBreakKind.SKIP_MISMATCH -> app.tillkit.ui.JournalBreak.SkipMismatch
                },
                p.record.toJournalRecord(),
                p.predecessor?.toJournalRecord(),
                p.detail,
            )
            is app.tillkit.ffi.JournalProblem.ReusedNumber -> app.tillkit.ui.JournalFinding.ReusedNumber(p.seq.toLong())
        }
    },
    named = namedRecords.map { it.toJournalRecord() },
    skips = skips.map { it.toRange() },
    unchained = unchained.map { it.toRange() },
    restarts = restarts.map { r ->
        app.tillkit.ui.JournalRestartInfo(
            when (r.reason) {
                app.tillkit.ffi.JournalSegmentReason.NEW_REGISTER -> app.tillkit.ui.JournalRestartReason.NewRegister
                app.tillkit.ffi.JournalSegmentReason.JOURNAL_STARTED -> app.tillkit.ui.JournalRestartReason.JournalStarted
                app.tillkit.ffi.JournalSegmentReason.FRESH_START -> app.tillkit.ui.JournalRestartReason.FreshStart
                app.tillkit.ffi.JournalSegmentReason.RECOVERED -> app.tillkit.ui.JournalRestartReason.Recovered
            },
            r.start.toJournalRecord(),
            r.note,
        )
    },
)
