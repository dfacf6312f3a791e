// A private root certificate as the core's `rootCertificatesPem` takes it (PEM), from the
// form a build property or an instrumentation argument can carry: one line, the base64 of
// its DER (tests/mobile-server.sh writes it as DIR/ca.b64). Platform-free; the core checks it.
package app.tillkit.core

/**
 * [text] as PEM: PEM text is kept as it is; anything else is taken as the base64 DER of one
 * certificate (whitespace ignored) and wrapped in PEM lines of 64 characters. It is not
 * decoded here: a bad certificate is the core's typed error when the config is used.
 */
fun rootCertificatePem(text: String): String {
    val trimmed = text.trim()
    if (trimmed.contains("-----BEGIN")) return trimmed + "\n"
    val body = trimmed.filterNot { it.isWhitespace() }
    return "-----BEGIN CERTIFICATE-----\n" + body.chunked(64).joinToString("\n") +
        "\n-----END CERTIFICATE-----\n"
}

/** The private roots in [texts] (each PEM or one-line base64 DER); blank entries are none. */
fun rootCertificatesPem(vararg texts: String?): List<String> =
    texts.filterNotNull().filter { it.isNotBlank() }.map(::rootCertificatePem)
