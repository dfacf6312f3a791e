// Which network the register counts as usable, from what Android says about it. The OS only
// says "worth trying": the core's health probe of the server decides Online (green).
package app.tillkit.background

/**
 * True for a network with internet that Android has validated and that is not blocked for
 * this app. A captive-portal Wi-Fi (internet, not validated) or a network blocked by data
 * saver or background restrictions does not count.
 */
fun networkUsable(hasInternet: Boolean, validated: Boolean, blocked: Boolean): Boolean =
    hasInternet && validated && !blocked
