// The pairing screen's state and what typing, pasting and scanning do to it: plain Kotlin,
// tested on the host JVM. The screen (app's PairingScreen.kt) calls the core.
package app.tillkit.ui

/**
 * The code being typed, whether the exchange is under way, and why the last one failed.
 * `scannedServer` is the server a scanned pairing link named (null when typed, pasted or a
 * bare code was scanned): pairing sends it to the core, which refuses one that is not this
 * register's server, with words saying so.
 */
data class PairingUiState(
    val code: String = "",
    val busy: Boolean = false,
    val error: String? = null,
    val scannedServer: String? = null,
) {
    val canPair: Boolean get() = !busy && code.isNotBlank()

    /** A typed code is for this register's server: a scanned link's server is dropped. */
    fun typed(code: String) = copy(code = code, error = null, scannedServer = null)

    /** What a scan (or a pasted link) held, as the core read it: its code and its server. */
    fun scanned(code: String, server: String?) = copy(code = code, error = null, scannedServer = server)

    /** The server to pair with: the one a scanned link named, else the register's own. */
    fun server(own: String): String = scannedServer ?: own
}

/** Pasted text that is a pairing link is read as a scan would be; anything else is typed. */
fun isPairingLink(text: String): Boolean = text.trim().startsWith("tillkit:", ignoreCase = true)

/** Shown when the code scanner cannot run (no Google Play services, its module missing). */
const val SCAN_UNAVAILABLE = "Scanning is not available here: type the code"
