package app.tillkit.register

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.ListItem
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle

/**
 * Sales of the current store the server set aside (each with its reason) or the network path
 * parked. Retry sends one again once the cause is fixed; Retry all sends every such sale of
 * every store on this device. Only the server's verdict sets a sale aside again.
 */
@Composable
fun AttentionScreen(viewModel: AttentionViewModel, onBack: () -> Unit) {
    val items by viewModel.items.collectAsStateWithLifecycle()
    val retryError by viewModel.retryError.collectAsStateWithLifecycle()
    Column(Modifier.fillMaxSize().padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        Row(verticalAlignment = Alignment.CenterVertically) {
            TextButton(onClick = onBack) { Text("‹ Register") }
            Text("Needs attention", style = MaterialTheme.typography.titleLarge)
            if (!items.isNullOrEmpty()) {
                TextButton(onClick = { viewModel.retry(null) }) { Text("Retry all") }
            }
        }
        retryError?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        val list = items
        when {
            list == null -> Text("Loading…")
            list.isEmpty() -> Text("Nothing needs attention.")
            else -> LazyColumn(Modifier.fillMaxWidth()) {
                items(list, key = { it.saleId }) { item ->
                    ListItem(
                        headlineContent = { Text("${item.receiptNo} · ${item.total}") },
                        supportingContent = {
                            Column {
                                Text(item.reason)
                                Text(item.age, style = MaterialTheme.typography.labelSmall)
                            }
                        },
                        trailingContent = { TextButton(onClick = { viewModel.retry(item.saleId) }) { Text("Retry") } },
                    )
                }
            }
        }
    }
}
