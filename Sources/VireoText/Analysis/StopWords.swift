/// Stop-word lists the `stop` filter and the built-in analyzers name.
enum StopWords {
    /// Lucene's English stop set (`EnglishAnalyzer.ENGLISH_STOP_WORDS_SET`, 33 words); Milvus' `_english_`
    /// list and its `english` analyzer use exactly this set.
    static let english: [String] = [
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
        "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
        "they", "this", "to", "was", "will", "with",
    ]

    /// Expands Milvus' named lists (`"_english_"`) inside a user's `stop_words` array; any other entry
    /// is a literal word. Only the English list is shipped: other `_language_` names are refused rather
    /// than silently treated as a literal word.
    static func expand(_ words: [String], context: String) throws(TextError) -> Set<String> {
        var set = Set<String>()
        for word in words {
            if word == "_english_" {
                set.formUnion(english)
            } else if word.count > 2, word.hasPrefix("_"), word.hasSuffix("_") {
                throw .invalid("\(context): unsupported stop word list \"\(word)\"; Vireo ships \"_english_\" (or list the words themselves)")
            } else {
                set.insert(word)
            }
        }
        return set
    }
}
