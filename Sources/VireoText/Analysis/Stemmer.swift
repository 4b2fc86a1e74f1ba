import CStemmer

/// One libstemmer (Snowball) stemmer instance.
///
/// libstemmer instances keep per-call state, so one instance must not be used by two threads at once:
/// a ``StemmerBox`` belongs to one ``AnalyzerSession`` (one thread at a time), never to the shared
/// ``Analyzer``.
final class StemmerBox {
    // SAFETY: the pointer is owned by this object (created in init, deleted in deinit) and used only by
    // the session that owns the box, one call at a time.
    private let handle: OpaquePointer

    init?(language: String) {
        guard let h = sb_stemmer_new(language, "UTF_8") else { return nil }
        handle = h
    }

    deinit { sb_stemmer_delete(handle) }

    /// The stem of `word` (UTF-8 in, UTF-8 out).
    func stem(_ word: String) -> String {
        var word = word
        return word.withUTF8 { bytes -> String in
            guard let base = bytes.baseAddress else { return "" }
            // SAFETY: libstemmer reads `bytes.count` bytes from `base`, which the closure keeps alive,
            // and returns a buffer it owns until the next call on this instance; we copy it at once.
            guard let out = sb_stemmer_stem(handle, base, Int32(bytes.count)) else { return String(decoding: bytes, as: UTF8.self) }
            let length = Int(sb_stemmer_length(handle))
            return String(decoding: UnsafeBufferPointer(start: out, count: length), as: UTF8.self)
        }
    }

    /// Whether libstemmer has an algorithm for `language` (checked when parameters are decoded, so an
    /// analyzer never fails later).
    static func isAvailable(_ language: String) -> Bool {
        guard let h = sb_stemmer_new(language, "UTF_8") else { return false }
        sb_stemmer_delete(h)
        return true
    }
}
