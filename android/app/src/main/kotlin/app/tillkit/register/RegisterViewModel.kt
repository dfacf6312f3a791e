// The register screen's state: search, the cart being rung up, payment, the status pill.
// It calls the core and words its answers through :ui-model; it never prices or taxes.
package app.tillkit.register

import androidx.lifecycle.ViewModel
import androidx.lifecycle.viewModelScope
import app.tillkit.core.TillkitAndroid
import app.tillkit.core.cashierMessage
import app.tillkit.core.snapshot
import app.tillkit.core.toCompletedSale
import app.tillkit.core.toPaymentRecord
import app.tillkit.ffi.CartHandle
import app.tillkit.ffi.ProductRecord
import app.tillkit.ffi.TillkitException
import app.tillkit.ui.CartTotals
import app.tillkit.ui.CartView
import app.tillkit.ui.LimitBanner
import app.tillkit.ui.MoneyFormat
import app.tillkit.ui.PaymentState
import app.tillkit.ui.StatusPill
import app.tillkit.ui.cardPayment
import app.tillkit.ui.cartView
import app.tillkit.ui.cashPayment
import app.tillkit.ui.completedSaleBanner
import app.tillkit.ui.offlineLimitBanner
import app.tillkit.ui.offlineLimitProblem
import app.tillkit.ui.statusPill
import kotlinx.coroutines.Job
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.stateIn
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock

/** Waits this long after the last keystroke before searching. */
private const val SEARCH_DEBOUNCE_MS = 150L

class RegisterViewModel(
    private val till: TillkitAndroid,
    private val money: MoneyFormat = MoneyFormat(),
) : ViewModel() {

    enum class Method { Cash, Card }

    /** A search result row. */
    data class ProductRow(val id: String, val name: String, val detail: String)

    /** The open payment sheet: the method, what was typed (cash tendered or card reference). */
    data class Payment(val method: Method, val input: String, val state: PaymentState)

    data class UiState(
        val query: String = "",
        val barcode: String = "",
        val results: List<ProductRow> = emptyList(),
        val cart: CartView = CartView.EMPTY,
        val payment: Payment? = null,
        /** The last completed sale, or why the core refused the last action. */
        val banner: String? = null,
    )

    private val mutableState = MutableStateFlow(UiState())
    val state: StateFlow<UiState> = mutableState.asStateFlow()

    val pill: StateFlow<StatusPill> = till.status
        .map(::statusPill)
        .stateIn(viewModelScope, SharingStarted.WhileSubscribed(5_000), statusPill(till.status.value))

    /** The offline limit near or reached, above the cart (the core's status says which and how close). */
    val limitBanner: StateFlow<LimitBanner?> = till.status
        .map { offlineLimitBanner(it.offlineLimits, money, totals?.currency ?: "") }
        .stateIn(viewModelScope, SharingStarted.WhileSubscribed(5_000), null)

    // Cart calls run one at a time, so a slow snapshot never overwrites a newer one.
    private val cartLock = Mutex()
    private var cart: CartHandle? = null
    private var totals: CartTotals? = null
    private var searchJob: Job? = null

    init {
        // Opens the first cart, which tells the currency (or that the catalogue is not here yet).
        cartCall { }
    }

    fun onQueryChange(query: String) {
        mutableState.update { it.copy(query = query) }
        searchJob?.cancel()
        if (query.isBlank()) {
            mutableState.update { it.copy(results = emptyList()) }
            return
        }
        searchJob = viewModelScope.launch {
            delay(SEARCH_DEBOUNCE_MS)
            val products = attempt { till.core.search(query) } ?: return@launch
            mutableState.update { it.copy(results = products.map(::row)) }
        }
    }

    fun onBarcodeChange(code: String) = mutableState.update { it.copy(barcode = code) }

    /** The barcode field's Enter: typed by hand or by a keyboard-wedge scanner. */
    fun onBarcodeEntered() {
        val code = state.value.barcode.trim()
        if (code.isEmpty()) return
        mutableState.update { it.copy(barcode = "") }
        cartCall { it.addBarcode(code, "1") }
    }

    fun onAddProduct(productId: String) = cartCall { it.addProduct(productId, "1") }

    fun onSetQuantity(lineId: Long, quantity: String) = cartCall { it.setQuantity(lineId.toULong(), quantity) }

    fun onRemove(lineId: Long) = cartCall { it.remove(lineId.toULong()) }

    fun onStartPayment(method: Method) {
        if (totals == null || state.value.cart.isEmpty) return
        mutableState.update { it.copy(payment = Payment(method, "", evaluate(method, ""))) }
    }

    fun onPaymentInput(input: String) = mutableState.update { s ->
        s.copy(payment = s.payment?.let { it.copy(input = input, state = evaluate(it.method, input)) })
    }

    fun onDismissPayment() = mutableState.update { it.copy(payment = null) }

    fun onDismissBanner() = mutableState.update { it.copy(banner = null) }

    fun onCharge() {
        val tender = state.value.payment?.state?.tender ?: return
        viewModelScope.launch {
            cartLock.withLock {
                val current = cart ?: return@withLock
                val receipt = attempt { till.core.completeSale(current, listOf(tender.toPaymentRecord())) } ?: return@withLock
                // The sale is durable; the next customer gets a new cart.
                current.close()
                cart = null
                mutableState.update { it.copy(payment = null, banner = completedSaleBanner(receipt.toCompletedSale(), money)) }
                openAndRefresh()
            }
        }
    }

    private fun evaluate(method: Method, input: String): PaymentState {
        val t = totals ?: return PaymentState(tender = null, problem = "The total is not known yet", changeDue = null)
        val sheet = when (method) {
            Method.Cash -> cashPayment(t.cashDue, t.currency, input, money)
            Method.Card -> cardPayment(t.total, input)
        }
        // Spare the cashier a refusal the core would give: the tender's offline headroom.
        val status = till.status.value
        val amount = if (method == Method.Card) t.total else t.cashDue
        val limit = offlineLimitProblem(status.offlineLimits, status.online, method == Method.Card, amount, money, t.currency)
        return if (sheet.tender != null && limit != null) PaymentState(tender = null, problem = limit, changeDue = null) else sheet
    }

    private fun cartCall(call: suspend (CartHandle) -> Unit) {
        viewModelScope.launch {
            cartLock.withLock {
                val current = cart ?: openAndRefresh() ?: return@withLock
                attempt { call(current) } ?: return@withLock
                refresh(current)
            }
        }
    }

    private suspend fun openAndRefresh(): CartHandle? {
        val opened = attempt { till.core.newCart() } ?: return null
        cart = opened
        refresh(opened)
        return opened
    }

    private suspend fun refresh(current: CartHandle) {
        val snapshot = attempt { current.snapshot() } ?: return
        totals = snapshot.totals
        mutableState.update { it.copy(cart = cartView(snapshot.lines, snapshot.totals, money)) }
    }

    private fun row(p: ProductRecord): ProductRow {
        val price = totals?.let { money.format(p.price, it.currency) } ?: p.price
        return ProductRow(p.id, p.name, "${p.sku} · $price")
    }

    /** Runs a core call; a refusal becomes the banner and `null`. */
    private suspend fun <T> attempt(call: suspend () -> T): T? =
        try {
            call()
        } catch (e: TillkitException) {
            mutableState.update { it.copy(banner = e.cashierMessage(money, totals?.currency)) }
            null
        }

    override fun onCleared() {
        cart?.close()
    }
}
