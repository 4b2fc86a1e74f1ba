import Foundation

/// A validated analyzer definition: one tokenizer and an ordered list of token filters, decoded from
/// Milvus' `analyzer_params` JSON.
///
/// Milvus' shapes (its tantivy binding, `analyzer.rs` / `build_in_analyzer.rs`):
/// - `{}` or `null`: the `standard` analyzer.
/// - `{"type": "standard" | "english", "stop_words": [...]}`: a built-in analyzer. `standard` is the
///   standard tokenizer plus `lowercase` (plus a stop filter when `stop_words` is given); `english` is
///   the standard tokenizer, `lowercase`, the Snowball English stemmer and Lucene's English stop words
///   (in that order: stop words are compared with stemmed tokens, as in Milvus), plus the user's words.
/// - `{"tokenizer": "standard" | {"type": "standard"}, "filter": ["lowercase", {"type": "stop",
///   "stop_words": [...]}, {"type": "stemmer", "language": "english"}, {"type": "length", "max": 10}]}`:
///   a custom chain, applied in the order given.
///
/// Anything else (an unknown key, tokenizer, filter or filter option, a value of the wrong type) is a
/// ``TextError`` naming the key and what Vireo accepts, never ignored.
public struct AnalyzerParams: Sendable, Equatable {
    public enum Tokenizer: Sendable, Equatable {
        /// Milvus' `standard`: maximal runs of letters and digits (see ``StandardTokenizer``).
        case standard
    }

    public enum Filter: Sendable, Equatable {
        /// Unicode lower-casing, scalar by scalar.
        case lowercase
        /// Drops tokens in the set (compared after the filters before it).
        case stop(Set<String>)
        /// Snowball stemmer of a language libstemmer knows (`english`, `french`, …).
        case stemmer(language: String)
        /// Drops tokens longer than `max` UTF-8 bytes (tantivy's `RemoveLongFilter` at `max + 1`).
        case length(max: Int)
    }

    public var tokenizer: Tokenizer
    public var filters: [Filter]

    public init(tokenizer: Tokenizer, filters: [Filter]) {
        self.tokenizer = tokenizer
        self.filters = filters
    }

    /// Milvus' default analyzer: standard tokenizer and lowercase.
    public static let standard = AnalyzerParams(tokenizer: .standard, filters: [.lowercase])

    /// Milvus' `english` analyzer.
    public static let english = AnalyzerParams(
        tokenizer: .standard,
        filters: [.lowercase, .stemmer(language: "english"), .stop(Set(StopWords.english))])

    /// Largest `analyzer_params` text accepted (it arrives from the network inside a schema).
    public static let maxJSONBytes = 1 << 20

    /// Decodes `analyzer_params` as Milvus sends it (a JSON object, as text).
    public static func decode(json: String) throws(TextError) -> AnalyzerParams {
        guard json.utf8.count <= maxJSONBytes else {
            throw .invalid("analyzer_params is \(json.utf8.count) bytes; at most \(maxJSONBytes) are accepted")
        }
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: Data(json.utf8))
        } catch {
            throw .invalid("analyzer_params is not valid JSON: write a JSON object such as {\"type\": \"english\"}")
        }
        return try decode(value)
    }

    static func decode(_ value: JSONValue) throws(TextError) -> AnalyzerParams {
        let params: [String: JSONValue]
        switch value {
        case .null: return .standard
        case .object(let o): params = o
        default: throw .invalid("analyzer_params must be a JSON object, got \(value.typeName)")
        }
        if params.isEmpty { return .standard }
        if let type = params["type"] {
            guard case .string(let name) = type else { throw .invalid("analyzer_params.type must be a string, got \(type.typeName)") }
            for key in params.keys where key != "type" && key != "stop_words" {
                throw .invalid("analyzer_params: unknown option \"\(key)\" for the built-in \"\(name)\" analyzer; it takes only \"stop_words\"")
            }
            var extra: [Filter] = []
            if let words = params["stop_words"] {
                extra.append(.stop(try StopWords.expand(try stringArray(words, "analyzer_params.stop_words"), context: "analyzer_params.stop_words")))
            }
            switch name {
            case "standard": return AnalyzerParams(tokenizer: .standard, filters: AnalyzerParams.standard.filters + extra)
            case "english": return AnalyzerParams(tokenizer: .standard, filters: AnalyzerParams.english.filters + extra)
            default: throw .invalid("analyzer_params.type \"\(name)\" is not supported; Vireo has the built-in analyzers \"standard\" and \"english\"")
            }
        }
        for key in params.keys where key != "tokenizer" && key != "filter" {
            throw .invalid("analyzer_params: unknown option \"\(key)\"; a custom analyzer has \"tokenizer\" and \"filter\" (or use \"type\" for a built-in analyzer)")
        }
        guard let tokenizerValue = params["tokenizer"] else {
            throw .invalid("analyzer_params: set \"tokenizer\" (e.g. \"standard\") or \"type\" (\"standard\" or \"english\")")
        }
        let tokenizer = try decodeTokenizer(tokenizerValue)
        var filters: [Filter] = []
        if let filterValue = params["filter"] {
            guard case .array(let list) = filterValue else {
                throw .invalid("analyzer_params.filter must be an array, got \(filterValue.typeName)")
            }
            for (i, f) in list.enumerated() { filters.append(try decodeFilter(f, at: i)) }
        }
        return AnalyzerParams(tokenizer: tokenizer, filters: filters)
    }

    private static func decodeTokenizer(_ value: JSONValue) throws(TextError) -> Tokenizer {
        let name: String
        switch value {
        case .string(let s):
            name = s
        case .object(let o):
            guard case .string(let s)? = o["type"] else {
                throw .invalid("analyzer_params.tokenizer: an object tokenizer needs a string \"type\"")
            }
            name = s
            for (key, option) in o where key != "type" {
                // Milvus' opt-in UAX #29 mode of the standard tokenizer is not implemented: refuse it
                // rather than tokenize differently from what the user asked for.
                if key == "uax29", option == .bool(false) { continue }
                throw .invalid("analyzer_params.tokenizer: option \"\(key)\" is not supported by Vireo's \"\(name)\" tokenizer")
            }
        default:
            throw .invalid("analyzer_params.tokenizer must be a string or an object, got \(value.typeName)")
        }
        guard name == "standard" else {
            throw .invalid("analyzer_params.tokenizer \"\(name)\" is not supported; Vireo has the \"standard\" tokenizer")
        }
        return .standard
    }

    private static func decodeFilter(_ value: JSONValue, at i: Int) throws(TextError) -> Filter {
        let path = "analyzer_params.filter[\(i)]"
        switch value {
        case .string(let name):
            switch name {
            case "lowercase": return .lowercase
            default:
                throw .invalid("\(path): unknown built-in filter \"\(name)\"; Vireo has \"lowercase\", or objects of type \"stop\", \"stemmer\", \"length\"")
            }
        case .object(let o):
            guard let typeValue = o["type"] else { throw .invalid("\(path): a filter object needs a \"type\"") }
            guard case .string(let type) = typeValue else { throw .invalid("\(path).type must be a string, got \(typeValue.typeName)") }
            func only(_ allowed: Set<String>) throws(TextError) {
                for key in o.keys where key != "type" && !allowed.contains(key) {
                    throw .invalid("\(path): unknown option \"\(key)\" for filter \"\(type)\"; it takes \(allowed.sorted().map { "\"\($0)\"" }.joined(separator: ", "))")
                }
            }
            switch type {
            case "lowercase":
                try only([])
                return .lowercase
            case "stop":
                try only(["stop_words"])
                guard let words = o["stop_words"] else { throw .invalid("\(path): filter \"stop\" needs \"stop_words\" (an array of words, \"_english_\" for Lucene's list)") }
                return .stop(try StopWords.expand(try stringArray(words, "\(path).stop_words"), context: "\(path).stop_words"))
            case "stemmer":
                try only(["language"])
                guard case .string(let language)? = o["language"] else { throw .invalid("\(path): filter \"stemmer\" needs a string \"language\", e.g. \"english\"") }
                let lower = language.lowercased()
                guard StemmerBox.isAvailable(lower) else { throw .invalid("\(path): stemmer language \"\(language)\" is not supported; use a Snowball language such as \"english\"") }
                return .stemmer(language: lower)
            case "length":
                try only(["max"])
                guard case .integer(let max)? = o["max"], max >= 0, max <= Int64(Int32.max) else {
                    throw .invalid("\(path): filter \"length\" needs \"max\", a non-negative integer (bytes)")
                }
                return .length(max: Int(max))
            default:
                throw .invalid("\(path): unsupported filter type \"\(type)\"; Vireo has \"lowercase\", \"stop\", \"stemmer\", \"length\"")
            }
        default:
            throw .invalid("\(path) must be a filter name or object, got \(value.typeName)")
        }
    }

    private static func stringArray(_ value: JSONValue, _ path: String) throws(TextError) -> [String] {
        guard case .array(let list) = value else { throw .invalid("\(path) must be an array of strings, got \(value.typeName)") }
        var out: [String] = []
        out.reserveCapacity(list.count)
        for (i, v) in list.enumerated() {
            guard case .string(let s) = v else { throw .invalid("\(path)[\(i)] must be a string, got \(v.typeName)") }
            out.append(s)
        }
        return out
    }
}
