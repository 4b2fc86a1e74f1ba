import Vireo
import VireoText

extension MilvusHandlers {
    /// Most texts one `RunAnalyzer` call analyses.
    static let maxAnalyzerTexts = 1_024

    /// Milvus' `RunAnalyzer`: the tokens of each text under `analyzerParams` (Milvus' JSON), or under
    /// the analyzer of `field` in `collection` when no parameters are given, or the `standard` analyzer.
    public func runAnalyzer(texts: [String], analyzerParams: String?, collection: String?, field: String?) async throws(APIError) -> [[Token]] {
        try await mapped {
            guard !texts.isEmpty else { throw APIError.missing("placeholder", "give at least one text to analyse") }
            guard texts.count <= Self.maxAnalyzerTexts else {
                throw APIError.invalid("\(texts.count) texts in one call; at most \(Self.maxAnalyzerTexts) are analysed per request")
            }
            let analyzer: Analyzer
            if let analyzerParams, !analyzerParams.isEmpty {
                do {
                    analyzer = try Analyzer(json: analyzerParams)
                } catch let e as TextError {
                    throw APIError.invalid("invalid analyzer_params: \(e.message)")
                }
            } else if let collection, !collection.isEmpty, let field, !field.isEmpty {
                let schema = try self.collection(collection).schema
                guard let f = schema.field(named: field) else {
                    throw APIError.invalid("field '\(field)' is not in collection '\(collection)'")
                }
                guard let a = try f.analyzer() else {
                    throw APIError.invalid("field '\(field)' has no analyzer: it is not a VarChar field with enable_analyzer")
                }
                analyzer = a
            } else {
                analyzer = Analyzer(.standard)
            }
            let session = analyzer.makeSession()
            return texts.map { session.analyze($0) }
        }
    }
}
