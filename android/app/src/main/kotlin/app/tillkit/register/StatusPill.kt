package app.tillkit.register

import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.shape.RoundedCornerShape
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Surface
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.unit.dp
import app.tillkit.ui.PillColour
import app.tillkit.ui.StatusPill

/** Green "Online", amber "Offline · N pending", red when the register's token is refused. */
@Composable
fun StatusPill(pill: StatusPill, modifier: Modifier = Modifier) {
    val (background, content) = when (pill.colour) {
        PillColour.Green -> Color(0xFF2E7D32) to Color.White
        PillColour.Amber -> Color(0xFFFFB300) to Color(0xFF3E2723)
        PillColour.Red -> Color(0xFFC62828) to Color.White
    }
    Surface(modifier, shape = RoundedCornerShape(50), color = background, contentColor = content) {
        Column(Modifier.padding(horizontal = 12.dp, vertical = 4.dp)) {
            Text(pill.text, style = MaterialTheme.typography.labelLarge)
            pill.detail?.let { Text(it, style = MaterialTheme.typography.labelSmall) }
        }
    }
}
