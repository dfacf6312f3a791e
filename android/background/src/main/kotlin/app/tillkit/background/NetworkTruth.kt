// Which network the register counts as usable, from what Android says about it. The OS only
// says "worth trying": the core's health probe of the server decides Online (green).
package app.tillkit.background

/**
 * True for a network that offers internet and is not blocked for this app (data saver,
 * background restrictions). Android's validation is not asked for: it probes Google's servers,
 * not ours, so a shop LAN whose sync server is local but whose internet line is down never
 * validates, and a register that waited for it would never upload. Whether the sync server
 * answers (a captive portal's page, a dead line) is the core's health probe to find out.
 */
fun networkUsable(hasInternet: Boolean, blocked: Boolean): Boolean = hasInternet && !blocked
