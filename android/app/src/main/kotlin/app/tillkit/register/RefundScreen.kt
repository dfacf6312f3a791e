package app.tillkit.register

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.safeDrawingPadding
import androidx.compose.foundation.layout.width
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.text.KeyboardActions
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.material3.Button
import androidx.compose.material3.Checkbox
import androidx.compose.material3.FilterChip
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.text.input.ImeAction
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import app.tillkit.ui.MoneyFormat
import app.tillkit.ui.RefundForm
import app.tillkit.ui.RefundMethod
import app.tillkit.ui.RefundReview
import app.tillkit.ui.RefundStep
import app.tillkit.ui.RefundableLine

/**
 * A refund: type or scan the receipt number, choose the whole sale or some lines and
 * quantities, cash or card, an optional reason, confirm; then the refund receipt. Every
 * figure on the receipt is the core's.
 */
@Composable
fun RefundScreen(session: RefundSession, onClose: () -> Unit) {
    val view by session.view.collectAsStateWithLifecycle()
    Column(Modifier.fillMaxSize().safeDrawingPadding().padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        Row(verticalAlignment = Alignment.CenterVertically) {
            TextButton(onClick = onClose, enabled = !session.busy) { Text("‹ Register") }
            Text("Refund", style = MaterialTheme.typography.titleLarge)
        }
        when (val step = view.step) {
            is RefundStep.EnterReceipt -> ReceiptEntry(step, session)
            is RefundStep.LookingUp -> Text("Looking up ${step.receiptNo}…")
            is RefundStep.Choose -> Choose(step.form, view.review, view.canConfirm, session, sending = false)
            is RefundStep.Sending -> Choose(step.form, null, canConfirm = false, session, sending = true)
            is RefundStep.Interrupted -> {
                Text(
                    "The refund was interrupted before the register answered. Confirm again to finish it: " +
                        "it is sent as the same refund and never given twice.",
                    color = MaterialTheme.colorScheme.error,
                )
                Button(onClick = session::confirm, modifier = Modifier.fillMaxWidth()) { Text("Confirm again") }
            }
            is RefundStep.Done -> {
                Text("Refund complete", style = MaterialTheme.typography.headlineSmall)
                step.lines.forEach { Text(it) }
                Button(onClick = onClose, modifier = Modifier.fillMaxWidth()) { Text("Done") }
            }
        }
    }
}

@Composable
private fun ReceiptEntry(step: RefundStep.EnterReceipt, session: RefundSession) {
    // Keyboard-wedge scanners type the receipt's barcode (its receipt number) and Enter.
    OutlinedTextField(
        value = step.typed,
        onValueChange = session::receiptTyped,
        label = { Text("Receipt number") },
        singleLine = true,
        keyboardOptions = KeyboardOptions(imeAction = ImeAction.Search),
        keyboardActions = KeyboardActions(onSearch = { session.lookup() }),
        modifier = Modifier.fillMaxWidth(),
    )
    step.problem?.let { Text(it, color = MaterialTheme.colorScheme.error) }
    Button(onClick = session::lookup, modifier = Modifier.fillMaxWidth()) { Text("Find sale") }
}

@Composable
private fun Choose(form: RefundForm, review: RefundReview?, canConfirm: Boolean, session: RefundSession, sending: Boolean) {
    val money = MoneyFormat()
    Row(verticalAlignment = Alignment.CenterVertically) {
        Text(
            "Receipt ${form.sale.receiptNo} · ${money.format(form.sale.total, form.sale.currency)}",
            style = MaterialTheme.typography.titleMedium,
            modifier = Modifier.weight(1f),
        )
        TextButton(onClick = session::otherReceipt, enabled = !sending) { Text("Other receipt") }
    }
    Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
        FilterChip(selected = form.whole, onClick = { session.wholeSale(true) }, label = { Text("Whole sale") }, enabled = !sending)
        FilterChip(selected = !form.whole, onClick = { session.wholeSale(false) }, label = { Text("Some items") }, enabled = !sending)
    }
    LazyColumn(Modifier.fillMaxWidth().padding(vertical = 4.dp)) {
        items(form.sale.lines, key = { it.lineNo }) { line ->
            Line(line, form, review?.lineProblems?.get(line.lineNo), money, session, sending)
        }
    }
    Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
        FilterChip(selected = form.method == RefundMethod.Cash, onClick = { session.methodChosen(RefundMethod.Cash) }, label = { Text("Cash") }, enabled = !sending)
        FilterChip(selected = form.method == RefundMethod.Card, onClick = { session.methodChosen(RefundMethod.Card) }, label = { Text("Card") }, enabled = !sending)
    }
    if (form.method == RefundMethod.Card) {
        OutlinedTextField(
            value = form.cardReference,
            onValueChange = session::cardReferenceTyped,
            label = { Text("Card terminal reference") },
            singleLine = true,
            enabled = !sending,
            modifier = Modifier.fillMaxWidth(),
        )
    }
    OutlinedTextField(
        value = form.reason,
        onValueChange = session::reasonTyped,
        label = { Text("Reason (optional)") },
        singleLine = true,
        enabled = !sending,
        modifier = Modifier.fillMaxWidth(),
    )
    form.failure?.let { Text(it, color = MaterialTheme.colorScheme.error) }
    review?.problem?.let { Text(it, color = MaterialTheme.colorScheme.error) }
    Button(onClick = session::confirm, enabled = canConfirm, modifier = Modifier.fillMaxWidth()) {
        Text(if (sending) "Refunding…" else "Confirm refund")
    }
}

@Composable
private fun Line(line: RefundableLine, form: RefundForm, problem: String?, money: MoneyFormat, session: RefundSession, sending: Boolean) {
    Column(Modifier.fillMaxWidth().padding(vertical = 4.dp)) {
        Row(verticalAlignment = Alignment.CenterVertically) {
            Column(Modifier.weight(1f)) {
                Text(line.name, style = MaterialTheme.typography.titleMedium)
                val price = if (line.unitPrice.isEmpty()) "" else " × ${money.format(line.unitPrice, form.sale.currency)}"
                Text("${line.sold}$price sold · ${line.refunded} refunded · ${line.left} left", style = MaterialTheme.typography.bodySmall)
            }
            if (!form.whole) {
                OutlinedTextField(
                    value = form.quantities[line.lineNo].orEmpty(),
                    onValueChange = { session.quantityTyped(line.lineNo, it) },
                    label = { Text("Back") },
                    singleLine = true,
                    isError = problem != null,
                    enabled = !sending,
                    keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Decimal),
                    modifier = Modifier.width(96.dp),
                )
                TextButton(onClick = { session.allOfLine(line.lineNo) }, enabled = !sending) { Text("All") }
            }
        }
        if (line.stockTracked) {
            Row(verticalAlignment = Alignment.CenterVertically) {
                Checkbox(
                    checked = line.lineNo !in form.notRestocked,
                    onCheckedChange = { session.restockChanged(line.lineNo, it) },
                    enabled = !sending,
                )
                Text("Back to stock", style = MaterialTheme.typography.bodySmall)
            }
        }
        problem?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        HorizontalDivider(Modifier.padding(top = 4.dp))
    }
}
