package app.tillkit.register

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.Spacer
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.heightIn
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.safeDrawingPadding
import androidx.compose.foundation.layout.width
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.text.KeyboardActions
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.material3.Badge
import androidx.compose.material3.BadgedBox
import androidx.compose.material3.Button
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.ListItem
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Surface
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.text.font.FontWeight
import androidx.compose.ui.text.input.ImeAction
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import app.tillkit.register.RegisterViewModel.Method
import app.tillkit.ui.CartLineView
import app.tillkit.ui.BannerLevel
import app.tillkit.ui.CartView
import app.tillkit.ui.LimitBanner
import app.tillkit.ui.StatusPill as PillState

@Composable
fun RegisterScreen(
    viewModel: RegisterViewModel,
    onOpenAttention: () -> Unit,
    onOpenRefund: () -> Unit,
    onOpenJournal: () -> Unit,
) {
    val state by viewModel.state.collectAsStateWithLifecycle()
    val pill by viewModel.pill.collectAsStateWithLifecycle()
    val limit by viewModel.limitBanner.collectAsStateWithLifecycle()

    Column(Modifier.fillMaxSize().safeDrawingPadding().padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        Header(pill, onOpenAttention, onOpenRefund, onOpenJournal)
        limit?.let { LimitBannerRow(it) }
        state.banner?.let { Banner(it, onDismiss = viewModel::onDismissBanner) }
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            OutlinedTextField(
                value = state.query,
                onValueChange = viewModel::onQueryChange,
                label = { Text("Search products") },
                singleLine = true,
                modifier = Modifier.weight(1f),
            )
            OutlinedTextField(
                value = state.barcode,
                onValueChange = viewModel::onBarcodeChange,
                label = { Text("Barcode") },
                singleLine = true,
                keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Number, imeAction = ImeAction.Done),
                keyboardActions = KeyboardActions(onDone = { viewModel.onBarcodeEntered() }),
                modifier = Modifier.weight(1f),
            )
        }
        if (state.results.isNotEmpty()) {
            LazyColumn(Modifier.fillMaxWidth().heightIn(max = 220.dp)) {
                items(state.results, key = { it.id }) { product ->
                    ListItem(
                        headlineContent = { Text(product.name) },
                        supportingContent = { Text(product.detail) },
                        modifier = Modifier.clickable { viewModel.onAddProduct(product.id) },
                    )
                }
            }
            HorizontalDivider()
        }
        LazyColumn(Modifier.weight(1f).fillMaxWidth()) {
            items(state.cart.lines, key = { it.lineId }) { line ->
                CartLine(
                    line,
                    onQuantity = { viewModel.onSetQuantity(line.lineId, it) },
                    onRemove = { viewModel.onRemove(line.lineId) },
                )
            }
        }
        Totals(state.cart)
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            val canPay = !state.cart.isEmpty
            Button(onClick = { viewModel.onStartPayment(Method.Cash) }, enabled = canPay, modifier = Modifier.weight(1f)) {
                Text("Cash")
            }
            Button(onClick = { viewModel.onStartPayment(Method.Card) }, enabled = canPay, modifier = Modifier.weight(1f)) {
                Text("Card")
            }
        }
    }

    state.payment?.let { payment ->
        PaymentSheet(
            total = state.cart.total,
            payment = payment,
            onInput = viewModel::onPaymentInput,
            onCharge = viewModel::onCharge,
            onDismiss = viewModel::onDismissPayment,
        )
    }
}

@Composable
private fun Header(pill: PillState, onOpenAttention: () -> Unit, onOpenRefund: () -> Unit, onOpenJournal: () -> Unit) {
    Row(Modifier.fillMaxWidth(), verticalAlignment = Alignment.CenterVertically) {
        Text("Register", style = MaterialTheme.typography.titleLarge, modifier = Modifier.weight(1f))
        StatusPill(pill)
        TextButton(onClick = onOpenRefund) { Text("Refund") }
        TextButton(onClick = onOpenJournal) { Text("Journal") }
        TextButton(onClick = onOpenAttention) {
            BadgedBox(badge = { pill.attentionBadge?.let { Badge { Text(it) } } }) {
                Text("Attention")
            }
        }
    }
}

/** An offline limit near (amber) or reached (red); it stays until the status clears it. */
@Composable
private fun LimitBannerRow(banner: LimitBanner) {
    val colour = when (banner.level) {
        BannerLevel.Warning -> MaterialTheme.colorScheme.tertiaryContainer
        BannerLevel.Stop -> MaterialTheme.colorScheme.errorContainer
    }
    Surface(color = colour, shape = MaterialTheme.shapes.small) {
        Text(banner.text, modifier = Modifier.fillMaxWidth().padding(12.dp))
    }
}

@Composable
private fun Banner(text: String, onDismiss: () -> Unit) {
    Surface(color = MaterialTheme.colorScheme.secondaryContainer, shape = MaterialTheme.shapes.small) {
        Row(Modifier.fillMaxWidth().padding(start = 12.dp), verticalAlignment = Alignment.CenterVertically) {
            Text(text, modifier = Modifier.weight(1f))
            TextButton(onClick = onDismiss) { Text("OK") }
        }
    }
}

@Composable
private fun CartLine(line: CartLineView, onQuantity: (String) -> Unit, onRemove: () -> Unit) {
    Column(Modifier.fillMaxWidth().padding(vertical = 6.dp)) {
        Row(verticalAlignment = Alignment.CenterVertically) {
            Text(line.name, style = MaterialTheme.typography.titleMedium, modifier = Modifier.weight(1f))
            Text(line.amount, style = MaterialTheme.typography.titleMedium)
        }
        Row(verticalAlignment = Alignment.CenterVertically) {
            Column(Modifier.weight(1f)) {
                Text(line.quantityAndPrice, style = MaterialTheme.typography.bodyMedium)
                line.discount?.let { Text(it, style = MaterialTheme.typography.bodySmall) }
                Text(line.tax, style = MaterialTheme.typography.bodySmall)
            }
            // Weighed lines and a quantity of one have no "−": the cashier removes the line.
            val minus = line.minusQuantity
            if (minus != null) {
                OutlinedButton(onClick = { onQuantity(minus) }) { Text("−") }
            } else {
                TextButton(onClick = onRemove) { Text("Remove") }
            }
            line.plusQuantity?.let { plus ->
                Spacer(Modifier.width(4.dp))
                OutlinedButton(onClick = { onQuantity(plus) }) { Text("+") }
            }
        }
        HorizontalDivider(Modifier.padding(top = 6.dp))
    }
}

@Composable
private fun Totals(cart: CartView) {
    if (cart.isEmpty) return
    Column(Modifier.fillMaxWidth()) {
        TotalRow("Subtotal", cart.subtotal)
        cart.discounts?.let { TotalRow("Discounts", it) }
        cart.taxes.forEach { (label, amount) -> TotalRow(label, amount) }
        TotalRow("Total", cart.total, bold = true)
    }
}

@Composable
private fun TotalRow(label: String, amount: String, bold: Boolean = false) {
    val weight = if (bold) FontWeight.Bold else FontWeight.Normal
    Row(Modifier.fillMaxWidth()) {
        Text(label, fontWeight = weight, modifier = Modifier.weight(1f))
        Text(amount, fontWeight = weight)
    }
}
