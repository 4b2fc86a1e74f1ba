import Foundation

/// Who may call the API: a set of accepted credentials.
///
/// A credential is Milvus' `user:password` token or an API key (any other string); both arrive as
/// `Authorization: Bearer <token>`, and `user:password` also as HTTP Basic. With no credentials
/// configured, authentication is off (and the server binds loopback only unless told otherwise).
public struct Authenticator: Sendable {
    public let credentials: Set<String>

    public init(credentials: some Sequence<String>) {
        self.credentials = Set(credentials.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty })
    }

    public var isEnabled: Bool { !credentials.isEmpty }

    /// Whether an `Authorization` header value carries an accepted credential.
    public func accepts(authorization header: String?) -> Bool {
        guard isEnabled else { return true }
        guard let header else { return false }
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        let token: String
        if let r = trimmed.range(of: "Bearer ", options: [.caseInsensitive, .anchored]) {
            token = String(trimmed[r.upperBound...]).trimmingCharacters(in: .whitespaces)
        } else if let r = trimmed.range(of: "Basic ", options: [.caseInsensitive, .anchored]) {
            guard let data = Data(base64Encoded: String(trimmed[r.upperBound...]).trimmingCharacters(in: .whitespaces)),
                  let decoded = String(data: data, encoding: .utf8) else { return false }
            token = decoded
        } else {
            return false
        }
        // Compare against every credential without stopping early, in time independent of where
        // the strings differ.
        var found = false
        for c in credentials where Self.constantTimeEqual(c, token) { found = true }
        return found
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        // The length difference is folded in whole (a truncated one let the password followed by 256
        // NUL bytes pass), and every byte of the longer input is compared.
        var diff = UInt64(truncatingIfNeeded: x.count ^ y.count)
        for i in 0..<max(x.count, y.count) {
            diff |= UInt64((i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0))
        }
        return diff == 0
    }

    /// Credentials from `--token` values, a tokens file (one per line; `#` comments) and the
    /// `VIREO_TOKENS` environment variable (comma-separated).
    public static func load(tokens: [String], file: String?, environment: [String: String]) throws -> Authenticator {
        var all = tokens
        if let file {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw ServerSetupError("cannot read the tokens file '\(file)'")
            }
            all += text.split(whereSeparator: \.isNewline).map { String($0).trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        }
        if let env = environment["VIREO_TOKENS"] {
            all += env.split(separator: ",").map(String.init)
        }
        return Authenticator(credentials: all)
    }
}

/// A configuration mistake found when the server starts.
public struct ServerSetupError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}
