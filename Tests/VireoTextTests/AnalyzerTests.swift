import Testing
import VireoKernels
@testable import VireoText

/// Expected tokens below are derived by hand from the rules in `StandardTokenizer`'s doc (Rust's
/// `char::is_alphanumeric` = Unicode Alphabetic or Nd/Nl/No), the Unicode lowercase mappings, the
/// Snowball English (Porter2) rules and Lucene's English stop set, not by running another engine.
@Suite("Analyzer")
struct AnalyzerTests {
    let standard = Analyzer(.standard)
    let english = Analyzer(.english)

    @Test("standard: punctuation, underscore and apostrophe split; emoji vanish; lowercased")
    func punctuation() {
        #expect(standard.terms("The 2 QUICK Brown-Foxes dog's 32.3 👩‍🔬 snake_case O'Reilly, e-mail!")
            == ["the", "2", "quick", "brown", "foxes", "dog", "s", "32", "3", "snake", "case", "o", "reilly", "e", "mail"])
        #expect(standard.terms("") == [])
        #expect(standard.terms("  ...  🎉🎉 ∑ $ € ") == [])
    }

    @Test("standard: accents, precomposed vs decomposed, German, Greek")
    func accents() {
        #expect(standard.terms("Éclair Straße naïve CAFÉ") == ["éclair", "straße", "naïve", "café"])
        // U+0301 COMBINING ACUTE ACCENT is Mn, not Alphabetic: it separates (and is dropped).
        #expect(standard.terms("cafe\u{301}s") == ["cafe", "s"])
        // Per-scalar lowercase: a final capital sigma becomes σ, not ς.
        #expect(standard.terms("ΟΔΟΣ Ελληνικά") == ["οδοσ", "ελληνικά"])
        // U+0130 İ lowercases to i + U+0307 (full mapping).
        #expect(standard.terms("İstanbul") == ["i\u{307}stanbul"])
    }

    @Test("standard: CJK runs are single tokens, hangul and kana too")
    func cjk() {
        #expect(standard.terms("中文分词，東京タワー。한국어 テスト") == ["中文分词", "東京タワー", "한국어", "テスト"])
        #expect(standard.terms("GPT4模型 v2版本") == ["gpt4模型", "v2版本"])
    }

    @Test("standard: numbers of every numeric category are token characters")
    func numbers() {
        // ² ½ are No, Ⅻ is Nl (lowercases to ⅻ), ٣ is Arabic-Indic digit three (Nd).
        #expect(standard.terms("v1.2.3 x²½ Ⅻ ٣٤ 42nd 3,000") == ["v1", "2", "3", "x²½", "ⅻ", "٣٤", "42nd", "3", "000"])
    }

    @Test("positions and byte offsets survive filters")
    func positions() {
        let tokens = english.analyze("The runners were running quickly to their homes")
        #expect(tokens.map(\.text) == ["runner", "were", "run", "quick", "home"])
        #expect(tokens.map(\.position) == [1, 2, 3, 4, 7])
        let text = "The runners were running quickly to their homes"
        let utf8 = Array(text.utf8)
        #expect(String(decoding: utf8[tokens[0].byteRange], as: UTF8.self) == "runners")
        #expect(String(decoding: utf8[tokens[4].byteRange], as: UTF8.self) == "homes")
    }

    @Test("english: stemming (Porter2) then Lucene's stop words on the stems")
    func englishAnalyzer() {
        #expect(english.terms("Connections connected connecting") == ["connect", "connect", "connect"])
        #expect(english.terms("This is not such a thing, and there will be no other") == ["thing", "other"])
        #expect(english.terms("happiness") == ["happi"])
    }

    @Test("custom chain: stop words (with _english_), length, stemmer language")
    func customChain() throws {
        let a = try Analyzer(json: #"{"tokenizer": "standard", "filter": ["lowercase", {"type": "stop", "stop_words": ["_english_", "foo"]}, {"type": "length", "max": 5}]}"#)
        #expect(a.terms("The foo BAR is extraordinary but short") == ["bar", "short"])
        let noLower = try Analyzer(json: #"{"tokenizer": {"type": "standard"}}"#)
        #expect(noLower.terms("Hello World") == ["Hello", "World"])
        let french = try Analyzer(json: #"{"tokenizer": "standard", "filter": ["lowercase", {"type": "stemmer", "language": "French"}]}"#)
        #expect(french.params.filters == [.lowercase, .stemmer(language: "french")])
        // length counts UTF-8 bytes: "été" is 5 bytes.
        let short = try Analyzer(json: #"{"tokenizer": "standard", "filter": [{"type": "length", "max": 4}]}"#)
        #expect(short.terms("été ete") == ["ete"])
    }

    @Test("built-in analyzers decode from Milvus' JSON")
    func builtIns() throws {
        #expect(try AnalyzerParams.decode(json: "{}") == .standard)
        #expect(try AnalyzerParams.decode(json: "null") == .standard)
        #expect(try AnalyzerParams.decode(json: #"{"type": "english"}"#) == .english)
        #expect(try AnalyzerParams.decode(json: #"{"type": "standard"}"#) == .standard)
        let withStops = try Analyzer(json: #"{"type": "standard", "stop_words": ["of", "the"]}"#)
        #expect(withStops.terms("The Lord of the Rings") == ["lord", "rings"])
    }

    @Test("bad analyzer_params are refused with a message naming what to fix",
          arguments: [
              (#"{"type": "jieba"}"#, "jieba"),
              (#"{"type": 3}"#, "type"),
              (#"{"type": "english", "language": "en"}"#, "language"),
              (#"{"tokenizer": "whitespace"}"#, "whitespace"),
              (#"{"tokenizer": {"type": "standard", "uax29": true}}"#, "uax29"),
              (#"{"tokenizer": "standard", "filter": ["asciifolding"]}"#, "asciifolding"),
              (#"{"tokenizer": "standard", "filter": [{"type": "stop"}]}"#, "stop_words"),
              (#"{"tokenizer": "standard", "filter": [{"type": "stop", "stop_words": "the"}]}"#, "stop_words"),
              (#"{"tokenizer": "standard", "filter": [{"type": "stop", "stop_words": ["_klingon_"]}]}"#, "_klingon_"),
              (#"{"tokenizer": "standard", "filter": [{"type": "stemmer", "language": "klingon"}]}"#, "klingon"),
              (#"{"tokenizer": "standard", "filter": [{"type": "length", "max": "10"}]}"#, "max"),
              (#"{"tokenizer": "standard", "filter": [{"type": "length", "max": -1}]}"#, "max"),
              (#"{"tokenizer": "standard", "filter": [{"type": "length", "max": 3, "min": 1}]}"#, "min"),
              (#"{"tokenizer": "standard", "filter": "lowercase"}"#, "filter"),
              (#"{"filter": ["lowercase"]}"#, "tokenizer"),
              (#"{"tokenizer": "standard", "analyzer": 1}"#, "analyzer"),
              (#"[1, 2]"#, "object"),
              (#"{"type": "english""#, "JSON"),
          ])
    func refused(json: String, mentions: String) {
        do {
            _ = try AnalyzerParams.decode(json: json)
            Issue.record("accepted \(json)")
        } catch {
            #expect(error.kind == .invalidParameter)
            #expect(error.message.contains(mentions), "\(error.message)")
        }
    }

    @Test("random Unicode text: tokens are exactly the maximal alphanumeric runs, in order, with true offsets")
    func randomText() {
        var rng = SplitMix64(seed: 2026)
        // Scalars from several blocks: ASCII, Latin-1, combining marks, Greek, CJK, hangul, emoji, ZWJ,
        // digits of other scripts, symbols.
        let pools: [ClosedRange<UInt32>] = [0x20...0x7E, 0xA0...0xFF, 0x300...0x36F, 0x391...0x3C9, 0x4E00...0x4E3F,
                                            0xAC00...0xAC3F, 0x1F600...0x1F64F, 0x200D...0x200D, 0x660...0x669, 0x2200...0x22FF]
        for _ in 0..<300 {
            var scalars = String.UnicodeScalarView()
            for _ in 0..<Int.random(in: 0...80, using: &rng) {
                let pool = pools[Int.random(in: 0..<pools.count, using: &rng)]
                if let u = Unicode.Scalar(UInt32.random(in: pool, using: &rng)) { scalars.append(u) }
            }
            let text = String(scalars)
            // The oracle: split the scalar sequence at every non-alphanumeric scalar.
            var runs: [String] = []
            var current = String.UnicodeScalarView()
            for u in text.unicodeScalars {
                if StandardTokenizer.isAlphanumeric(u) { current.append(u) } else if !current.isEmpty {
                    runs.append(String(current)); current = String.UnicodeScalarView()
                }
            }
            if !current.isEmpty { runs.append(String(current)) }
            let tokens = Analyzer(AnalyzerParams(tokenizer: .standard, filters: [])).analyze(text)
            #expect(tokens.map(\.text) == runs)
            #expect(tokens.map(\.position) == Array(tokens.indices))
            let utf8 = Array(text.utf8)
            for t in tokens { #expect(String(decoding: utf8[t.byteRange], as: UTF8.self) == t.text) }
            // lowercase never changes the token count, and is idempotent.
            let lower = standard.terms(text)
            #expect(lower.count == runs.count)
            #expect(lower.map { AnalyzerSession.lowercase($0) } == lower)
        }
    }

    @Test("term ids are Milvus' CRC-32/IEEE hash")
    func termIds() {
        // The CRC-32/IEEE check value of "123456789" (the standard test vector) is 0xCBF43926.
        #expect(TermHash.id("123456789") == 0xCBF4_3926)
        #expect(TermHash.id("") == 0)
        // Only the first 100 bytes count.
        let long = String(repeating: "a", count: 100)
        #expect(TermHash.id(long) == TermHash.id(long + "tail"))
        let counts = TermHash.termCounts(["run", "fast", "run"])
        #expect(counts[TermHash.id("run")] == 2)
        #expect(counts[TermHash.id("fast")] == 1)
        #expect(counts.count == 2)
    }
}
