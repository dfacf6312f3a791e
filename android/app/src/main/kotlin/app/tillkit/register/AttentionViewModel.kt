// The needs-attention list: sales the server set aside, reloaded when the core's count moves.
package app.tillkit.register

import androidx.lifecycle.ViewModel
import androidx.lifecycle.viewModelScope
import app.tillkit.ffi.TillkitAndroid
import app.tillkit.ffi.TillkitException
import app.tillkit.ui.AttentionItem
import app.tillkit.ui.MoneyFormat
import app.tillkit.ui.attentionItems
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.distinctUntilChanged
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.stateIn

class AttentionViewModel(
    private val till: TillkitAndroid,
    private val money: MoneyFormat = MoneyFormat(),
    private val nowMs: () -> Long = System::currentTimeMillis,
) : ViewModel() {

    /** Null while loading or when the core could not be read. */
    val items: StateFlow<List<AttentionItem>?> = till.status
        .map { it.attention }
        .distinctUntilChanged()
        .map { load() }
        .stateIn(viewModelScope, SharingStarted.WhileSubscribed(5_000), null)

    private suspend fun load(): List<AttentionItem>? =
        try {
            attentionItems(till.attentionSales(), nowMs(), money)
        } catch (_: TillkitException) {
            null
        }
}
