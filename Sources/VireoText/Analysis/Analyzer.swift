/// One token out of an analyzer: its text after the filters, its position among the tokenizer's
/// tokens (filters that drop tokens leave gaps, as in tantivy, so phrase matching can use them), and
/// the UTF-8 byte range of the original text it came from.
public struct Token: Sendable, Equatable {
    public var text: String
    public var position: Int
    public var byteRange: Range<Int>

    public init(text: String, position: Int, byteRange: Range<Int>) {
        self.text = text
        self.position = position
        self.byteRange = byteRange
    }
}

/// A compiled analyzer: ``AnalyzerParams`` ready to run. Immutable and `Sendable`; each call gets its
/// own ``AnalyzerSession`` (stemmers keep state per instance), and batch callers keep one session per
/// thread with ``makeSession()``.
public struct Analyzer: Sendable {
    public let params: AnalyzerParams

    public init(_ params: AnalyzerParams) { self.params = params }

    /// Decodes Milvus' `analyzer_params` JSON (see ``AnalyzerParams/decode(json:)``).
    public init(json: String) throws(TextError) { self.params = try AnalyzerParams.decode(json: json) }

    /// The tokens of `text`.
    public func analyze(_ text: String) -> [Token] {
        makeSession().analyze(text)
    }

    /// The token texts only (what BM25 and text_match consume).
    public func terms(_ text: String) -> [String] {
        makeSession().analyze(text).map(\.text)
    }

    public func makeSession() -> AnalyzerSession { AnalyzerSession(params) }
}

/// An analyzer with its per-instance state (stemmers). Use from one thread at a time.
public final class AnalyzerSession {
    private enum Step {
        case lowercase
        case stop(Set<String>)
        case stem(StemmerBox)
        case length(Int)
    }

    private let steps: [Step]
    private var ranges: [Range<Int>] = []

    init(_ params: AnalyzerParams) {
        var steps: [Step] = []
        for f in params.filters {
            switch f {
            case .lowercase: steps.append(.lowercase)
            case .stop(let s): steps.append(.stop(s))
            case .stemmer(let language):
                // Languages are checked when params are decoded, so this only fails if libstemmer's
                // allocation does.
                guard let box = StemmerBox(language: language) else { preconditionFailure("libstemmer has no \(language) stemmer") }
                steps.append(.stem(box))
            case .length(let max): steps.append(.length(max))
            }
        }
        self.steps = steps
    }

    public func analyze(_ text: String) -> [Token] {
        var text = text
        var tokens: [Token] = []
        text.withUTF8 { utf8 in
            ranges.removeAll(keepingCapacity: true)
            StandardTokenizer.ranges(utf8, into: &ranges)
            tokens.reserveCapacity(ranges.count)
            for (position, r) in ranges.enumerated() {
                // SAFETY: `r` lies inside `utf8` (the tokenizer produced it from this buffer).
                let slice = UnsafeBufferPointer(rebasing: utf8[r])
                tokens.append(Token(text: String(decoding: slice, as: UTF8.self), position: position, byteRange: r))
            }
        }
        for step in steps {
            switch step {
            case .lowercase:
                for i in tokens.indices { tokens[i].text = Self.lowercase(tokens[i].text) }
            case .stop(let words):
                tokens.removeAll { words.contains($0.text) }
            case .stem(let stemmer):
                for i in tokens.indices { tokens[i].text = stemmer.stem(tokens[i].text) }
            case .length(let max):
                tokens.removeAll { $0.text.utf8.count > max }
            }
        }
        return tokens
    }

    /// tantivy's `LowerCaser`: ASCII by bytes, otherwise each scalar's full lowercase mapping
    /// (UCD `SpecialCasing`/`UnicodeData`, so `İ` → `i̇`), with no context-dependent rules (a final Σ
    /// becomes σ, not ς).
    static func lowercase(_ s: String) -> String {
        var ascii = true
        var upper = false
        for b in s.utf8 {
            if b >= 0x80 { ascii = false; break }
            if b &- 0x41 < 26 { upper = true }
        }
        if ascii {
            if !upper { return s }
            return String(decoding: s.utf8.map { $0 &- 0x41 < 26 ? $0 | 0x20 : $0 }, as: UTF8.self)
        }
        var out = String.UnicodeScalarView()
        for scalar in s.unicodeScalars {
            let p = scalar.properties
            if p.changesWhenLowercased {
                out.append(contentsOf: p.lowercaseMapping.unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }
}
