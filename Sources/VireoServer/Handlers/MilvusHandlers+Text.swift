import Vireo
import VireoText

extension MilvusHandlers {
    /// Most texts one `RunAnalyzer` call analyses.
    static let maxAnalyzerTexts = 1_024

    /// Milvus' `RunAnalyzer`: the tokens of each text under `analyzerParams` (Milvus' JSON), or under
    /// the analyzer of `field` in `collection` when no parameters are given, or the `standard` analyzer.
    public func runAnalyzer(texts: [String], analyzerParams: String?, collection: String?, field: String?) async throws(APIError) -> [[Token]] {
        try await mapped {
            guard !texts.isEmpty else { return [] }  // as Milvus: nothing to analyse, no results
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

extension MilvusHandlers {
    /// Search by primary keys on a sparse field: the rows' stored sparse vectors (IP), or for a BM25
    /// function's output the rows' input text, analysed as any query text is (its term counts are the
    /// row's stored ones). Keys must name rows; at most ``ServerLimits/maxNQ``.
    public func sparseQueries(of ids: [PrimaryKey], in name: String, field: FieldSchema,
                              partitions: [String]? = nil) async throws(APIError) -> (sparse: [SparseVector], texts: [String]) {
        try await mapped(.byPrimaryKey) {
            let c = try loadedCollection(name)
            guard !ids.isEmpty else { throw APIError.missing("ids", "give at least one primary key to search with") }
            guard ids.count <= limits.maxNQ else {
                throw APIError.invalid("\(ids.count) primary keys in one search; at most \(limits.maxNQ) (nq) are accepted")
            }
            let function = c.schema.function(producing: field.name)
            let source = function?.inputFields.first ?? field.name
            let pk = c.schema.primaryKey.name
            let rows = try c.get(ids: ids, outputFields: [pk, source], partitions: try readPartitions(c, partitions))
            var byKey: [PrimaryKey: FieldValue] = [:]
            for row in rows {
                switch row[pk] {
                case let .int(i)?: byKey[.int(i)] = row[source] ?? .null
                case let .string(s)?: byKey[.string(s)] = row[source] ?? .null
                default: continue
                }
            }
            var sparse: [SparseVector] = []
            var texts: [String] = []
            for id in ids {
                guard let v = byKey[id] else {
                    throw APIError.invalid("primary key \(id) is not in collection '\(name)' (or not in the partitions searched): search by primary keys needs existing rows")
                }
                switch v {
                case let .string(s) where function != nil: texts.append(s)
                case .null where function != nil: texts.append("")
                case let .sparseVector(x): sparse.append(x)
                default:
                    throw APIError.invalid("primary key \(id) has no value in '\(source)' (it is null): search by primary keys needs rows whose vector is set")
                }
            }
            return (sparse, texts)
        }
    }
}
