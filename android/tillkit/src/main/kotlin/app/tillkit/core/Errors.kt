// What the cashier reads when the core refuses something. Wording only: the core decided.
package app.tillkit.core

import app.tillkit.ffi.TillkitException
import app.tillkit.ui.MoneyFormat
import app.tillkit.ui.OfflineRefusal
import app.tillkit.ui.RefundProblem
import app.tillkit.ui.offlineRefusalMessage
import app.tillkit.ui.StartupFailure
import app.tillkit.ui.StartupProblem
import app.tillkit.ui.startupFailure

/** A short sentence for the cashier; `currency` formats amounts when known. */
fun TillkitException.cashierMessage(money: MoneyFormat, currency: String?): String {
    fun amount(a: String) = if (currency == null) a else money.format(a, currency)
    return when (this) {
        is TillkitException.Underpaid -> "Payments of ${amount(paid)} do not cover ${amount(due)}"
        is TillkitException.NotFound -> "Not found: $what"
        is TillkitException.ProductInactive -> "This product is not for sale"
        is TillkitException.EmptyCart -> "The cart is empty"
        is TillkitException.InvalidInput -> reason
        is TillkitException.NeedsConnection -> "$what needs a connection to the server"
        // The core's answer: this register never printed it, or the store's server has no such sale.
        is TillkitException.UnknownReceipt -> "No sale has receipt number $receipt: check the number on the receipt"
        // Nothing was written: the cashier can ask for at most sold - refunded.
        is TillkitException.OverRefund ->
            "Line $lineNo: $refunded of $sold already refunded; $requested cannot come back"
        // Nothing was written: at most paid by card - already refunded to card can go back to it.
        is TillkitException.RefundExceedsCard -> {
            val left = java.math.BigDecimal(paidByCard).subtract(java.math.BigDecimal(refundedToCard)).max(java.math.BigDecimal.ZERO)
            "At most ${amount(left.toPlainString())} can go back to the card (${amount(paidByCard)} paid by card, " +
                "${amount(refundedToCard)} already refunded to it), not ${amount(requested)}: refund the rest in cash"
        }
        // Nothing was saved: the cart stays, another tender may still be taken.
        is TillkitException.OfflineLimitReached ->
            offlineRefusalMessage(OfflineRefusal(limit.toOfflineLimit(), attempted, max), money, currency ?: "")
        // Nothing new was written: the first try already did it (a retry with other figures).
        is TillkitException.SaleAlreadyCompleted ->
            "This sale was already completed as receipt $receiptNo: start a new sale for the next customer"
        is TillkitException.RefundAlreadyGiven ->
            "This refund was already given as receipt $receiptNo: start a new refund for anything more"
        is TillkitException.NoCatalog -> "Waiting for the catalogue to arrive"
        is TillkitException.NoSession -> "No cashier is signed in"
        is TillkitException.StorageFull -> "The device storage is full: nothing was saved"
        is TillkitException.NeedsRecovery -> "The register's database is damaged: restart the app to recover the sales"
        is TillkitException.NewerSchema -> "This register's data was written by a newer app version: update the app"
        is TillkitException.Busy -> "The register's database is in use by another copy of the app: try again in a moment"
        // Key, corruption, storage and keychain failures: the register cannot go on by itself.
        else -> "The register needs attention (${this::class.simpleName}): call support"
    }
}

/** A refusal of `refundable` or `refund`, for the refund screen to word (`RefundFlow`). */
fun TillkitException.toRefundProblem(money: MoneyFormat, currency: String?): RefundProblem = when (this) {
    is TillkitException.OverRefund -> RefundProblem.OverRefund(lineNo.toLong(), requested, sold, refunded)
    is TillkitException.NeedsConnection -> RefundProblem.NeedsConnection(what)
    is TillkitException.UnknownReceipt -> RefundProblem.UnknownReceipt(receipt)
    is TillkitException.RefundAlreadyGiven -> RefundProblem.AlreadyGiven(receiptNo)
    is TillkitException.NotFound -> RefundProblem.NotFound(what)
    is TillkitException.InvalidInput -> RefundProblem.InvalidInput(reason)
    else -> RefundProblem.Other(cashierMessage(money, currency))
}

/** The failure screen for a typed refusal while the register opens. */
fun TillkitException.startupFailure(): StartupFailure {
    val problem = when (this) {
        is TillkitException.KeyMissing -> StartupProblem.KeyMissing
        is TillkitException.KeyMismatch -> StartupProblem.KeyMismatch
        is TillkitException.KeyUnreadable -> StartupProblem.KeyUnreadable
        // The app shows the recovery screen for this one; the failure screen is the fallback.
        is TillkitException.NeedsRecovery -> StartupProblem.NeedsRecovery
        is TillkitException.NewerSchema -> StartupProblem.NewerSchema
        is TillkitException.WalMissing -> StartupProblem.WalMissing
        is TillkitException.Busy -> StartupProblem.Busy
        is TillkitException.StorageFull -> StartupProblem.StorageFull
        is TillkitException.Keychain -> StartupProblem.Keychain
        is TillkitException.Storage -> StartupProblem.Storage
        // At open, only the configuration can be invalid input (server URL, roots, pins).
        is TillkitException.InvalidInput -> StartupProblem.Configuration
        else -> StartupProblem.Unexpected
    }
    return startupFailure(problem, "${this::class.simpleName}: $message")
}

/** What the pairing screen says when the core refused or could not finish a pairing. */
fun TillkitException.pairingMessage(): String = when (this) {
    is TillkitException.PairingRefused ->
        "This code was not accepted: it may have expired, been used already or been mistyped. Ask a manager for a new one."
    is TillkitException.InvalidInput -> reason
    is TillkitException.Sync ->
        "The server could not be reached: check the network and try again. The code stays valid until it expires."
    else -> "Pairing failed (${this::class.simpleName}): call support"
}

/** A refusal of `exportJournal`, `verifyJournal` or `verifyJournalExport`, for the journal screen. */
fun TillkitException.toJournalRefusal(money: MoneyFormat): app.tillkit.ui.JournalRefusal = when (this) {
    is TillkitException.InvalidJournalExport -> app.tillkit.ui.JournalRefusal.NotAnExport(reason)
    is TillkitException.NoSession -> app.tillkit.ui.JournalRefusal.NoSession
    else -> app.tillkit.ui.JournalRefusal.Other(cashierMessage(money, null))
}
