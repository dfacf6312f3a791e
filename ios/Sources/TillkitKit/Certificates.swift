// A private root certificate as the core's `rootCertificatesPem` takes it (PEM), from the
// form an environment variable or a scheme setting carries easily: one line, the base64 of
// its DER (tests/mobile-server.sh writes it as DIR/ca.b64). The core checks it.
import Foundation

/// Private root certificates for `CoreConfig.rootCertificatesPem`.
public enum RootCertificates {
    /// `text` as PEM: PEM text is kept as it is; anything else is taken as the base64 DER of
    /// one certificate (whitespace ignored) and wrapped in PEM lines of 64 characters. It is
    /// not decoded here: a bad certificate is the core's typed error when the config is used.
    public static func pem(_ text: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.contains("-----BEGIN") { return trimmed + "\n" }
        var rest = Substring(trimmed.filter { !$0.isWhitespace })
        var lines: [String] = []
        while !rest.isEmpty {
            lines.append(String(rest.prefix(64)))
            rest = rest.dropFirst(64)
        }
        return "-----BEGIN CERTIFICATE-----\n" + lines.joined(separator: "\n") + "\n-----END CERTIFICATE-----\n"
    }

    /// The private roots in `texts` (each PEM or one-line base64 DER); nil or blank is none.
    public static func roots(_ texts: String?...) -> [String] {
        texts.compactMap { $0 }
            .filter { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
            .map { pem($0) }
    }
}
