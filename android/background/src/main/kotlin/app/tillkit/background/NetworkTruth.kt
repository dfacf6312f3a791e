// Which network the register counts as usable, from what Android says about it. The OS only
// says "worth trying": the core's health probe of the server decides Online (green).
package app.tillkit.background

import java.net.URI

/**
 * True for a network that offers internet, is not blocked for this app (data saver,
 * background restrictions) and that Android validated (`NET_CAPABILITY_VALIDATED`: it reached
 * the internet through it, so a captive portal's Wi-Fi does not count). Android validates
 * against Google's servers, not ours: a shop LAN whose sync server is inside but whose
 * internet line is down never validates, so when the server is on the local network
 * ([serverOnLocalNetwork]) an unvalidated network counts too. Whether the sync server
 * answers is the core's health probe to find out.
 */
fun networkUsable(
    hasInternet: Boolean,
    validated: Boolean,
    blocked: Boolean,
    serverOnLocalNetwork: Boolean,
): Boolean = hasInternet && !blocked && (validated || serverOnLocalNetwork)

/**
 * True when [serverUrl]'s host can only be on the local network: loopback, a private IPv4
 * address (10/8, 172.16/12, 192.168/16), link-local (169.254/16, fe80::/10), an IPv6
 * unique-local address (fc00::/7), or a name with no dot or ending in `.local`. Decided from
 * the URL alone: no name is looked up. A URL that does not parse is not local.
 */
fun serverOnLocalNetwork(serverUrl: String): Boolean {
    val host = runCatching { URI(serverUrl.trim()).host }.getOrNull()
        ?.removePrefix("[")?.removeSuffix("]")?.lowercase()
        ?: return false
    if (host.isEmpty()) return false
    val ipv4 = host.split('.').takeIf { it.size == 4 }?.map { it.toIntOrNull() }
    if (ipv4 != null && ipv4.all { it != null && it in 0..255 }) {
        val (a, b) = ipv4[0]!! to ipv4[1]!!
        return a == 10 || a == 127 || (a == 172 && b in 16..31) || (a == 192 && b == 168) ||
            (a == 169 && b == 254)
    }
    if (':' in host) {
        val first = host.substringBefore(':').ifEmpty { "0" }.toIntOrNull(16) ?: return false
        return host == "::1" || (first and 0xfe00) == 0xfc00 || (first and 0xffc0) == 0xfe80
    }
    return '.' !in host || host.endsWith(".local")
}
