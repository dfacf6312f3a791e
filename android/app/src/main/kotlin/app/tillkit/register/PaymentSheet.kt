package app.tillkit.register

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.material3.Button
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.ModalBottomSheet
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.ui.Modifier
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.unit.dp
import app.tillkit.register.RegisterViewModel.Method

/** Cash (amount tendered, change due) or card (the terminal's reference), then "Charge". */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun PaymentSheet(
    total: String,
    payment: RegisterViewModel.Payment,
    onInput: (String) -> Unit,
    onCharge: () -> Unit,
    onDismiss: () -> Unit,
) {
    ModalBottomSheet(onDismissRequest = onDismiss) {
        Column(
            Modifier.fillMaxWidth().padding(24.dp),
            verticalArrangement = Arrangement.spacedBy(12.dp),
        ) {
            Text("Total $total", style = MaterialTheme.typography.headlineSmall)
            val cash = payment.method == Method.Cash
            OutlinedTextField(
                value = payment.input,
                onValueChange = onInput,
                label = { Text(if (cash) "Cash tendered" else "Card terminal reference") },
                singleLine = true,
                keyboardOptions = KeyboardOptions(keyboardType = if (cash) KeyboardType.Decimal else KeyboardType.Text),
                modifier = Modifier.fillMaxWidth(),
            )
            payment.state.changeDue?.let { Text("Change due $it", style = MaterialTheme.typography.titleLarge) }
            payment.state.problem?.takeIf { payment.input.isNotBlank() }?.let {
                Text(it, color = MaterialTheme.colorScheme.error)
            }
            Button(onClick = onCharge, enabled = payment.state.tender != null, modifier = Modifier.fillMaxWidth()) {
                Text(if (cash) "Charge cash" else "Record card payment")
            }
        }
    }
}
