// The needs-attention list: sales the server set aside or the path parked, reloaded when the
// core's count moves, with Retry (one sale or all). The core decides; this only asks.
package app.tillkit.register

import androidx.lifecycle.ViewModel
import androidx.lifecycle.viewModelScope
import app.tillkit.core.TillkitAndroid
import app.tillkit.core.toQueuedSale
import app.tillkit.ffi.TillkitException
import app.tillkit.ui.AttentionItem
import app.tillkit.ui.MoneyFormat
import app.tillkit.ui.attentionItems
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.combine
import kotlinx.coroutines.flow.distinctUntilChanged
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.stateIn
import kotlinx.coroutines.launch

class AttentionViewModel(
    private val till: TillkitAndroid,
    private val money: MoneyFormat = MoneyFormat(),
    private val nowMs: () -> Long = System::currentTimeMillis,
) : ViewModel() {

    // Bumped by each retry, so the list reloads even when the count has not moved yet.
    private val retries = MutableStateFlow(0)

    /** Why the last retry failed, if it did. */
    private val mutableRetryError = MutableStateFlow<String?>(null)
    val retryError: StateFlow<String?> = mutableRetryError.asStateFlow()

    /** Null while loading or when the core could not be read. */
    val items: StateFlow<List<AttentionItem>?> = till.status
        .map { it.attention }
        .distinctUntilChanged()
        .combine(retries) { _, _ -> }
        .map { load() }
        .stateIn(viewModelScope, SharingStarted.WhileSubscribed(5_000), null)

    /**
     * Sends one sale again now, or with `null` every sale that needs attention on this device:
     * the list shows the current store's, but the core retries those of every store. Set-aside
     * sales go back to pending, parked ones become due at once; the core starts a round.
     */
    fun retry(saleId: String?) {
        viewModelScope.launch {
            mutableRetryError.value = try {
                till.core.retryAttentionSales(saleId?.let { listOf(it) })
                null
            } catch (e: TillkitException) {
                e.message ?: "The sale could not be put back in line"
            }
            retries.value += 1
        }
    }

    private suspend fun load(): List<AttentionItem>? =
        try {
            attentionItems(till.core.attentionSales(100u).map { it.toQueuedSale() }, nowMs(), money)
        } catch (_: TillkitException) {
            null
        }
}
