import VireoText

/// Full-text parts of a schema: analysed VarChar fields, sparse vector fields and BM25 functions,
/// checked with Milvus' rules (and, where clients match on them, its words).
extension CollectionSchema {
    /// Most functions one collection may have (Milvus allows one per output field; this bounds a
    /// hostile schema).
    public static let maxFunctions = 10

    func validateText() throws {
        func bad(_ m: String) -> VireoError { .invalid(.invalidSchema, "collection '\(name)': \(m)") }
        for f in fields {
            if f.dataType != .varChar {
                guard !f.enableAnalyzer, !f.enableMatch, f.analyzerParams == nil else {
                    throw bad("enable_analyzer, enable_match and analyzer_params apply to VarChar fields only; field '\(f.name)' is \(f.dataType.rawValue)")
                }
            }
            if f.enableMatch, !f.enableAnalyzer {
                throw bad("field \(f.name) is set to enable match but not enable analyzer: text_match needs the field's text analysed; set enable_analyzer too")
            }
            if f.dataType == .varChar, f.analyzerParams != nil, !f.enableAnalyzer {
                throw bad("field '\(f.name)' has analyzer_params but enable_analyzer is not set; set enable_analyzer to use them")
            }
            _ = try f.analyzer()  // validates analyzer_params
            if f.dataType.isSparseVector {
                guard !f.isPrimaryKey, !f.isPartitionKey else { throw bad("sparse vector field '\(f.name)' cannot be the primary key or the partition key") }
                guard f.dimension == nil else { throw bad("sparse vector field '\(f.name)' takes no dim: its rows give their own indices") }
                guard f.defaultValue == nil else { throw bad("type not support default_value: vector field '\(f.name)' cannot have a default value") }
            }
        }
        guard functions.count <= Self.maxFunctions else { throw bad("\(functions.count) functions; at most \(Self.maxFunctions) are allowed") }
        var names = Set<String>()
        var outputs = Set<String>()
        for fn in functions {
            try Self.validateName(fn.name, what: "function name")
            guard names.insert(fn.name).inserted else { throw bad("duplicate function name: \(fn.name); function names must be unique") }
            guard fn.inputFields.count == 1 else {
                throw bad("BM25 function \(fn.name) needs exactly one input field (an analysed VarChar field), got \(fn.inputFields.count)")
            }
            guard fn.outputFields.count == 1 else {
                throw bad("BM25 function \(fn.name) needs exactly one output field (a SparseFloatVector field), got \(fn.outputFields.count)")
            }
            guard fn.params.isEmpty else {
                throw bad("BM25 function \(fn.name) takes no params (got \(fn.params.keys.sorted().joined(separator: ", "))); set bm25_k1 and bm25_b on the index")
            }
            let inName = fn.inputFields[0], outName = fn.outputFields[0]
            guard let input = field(named: inName) else { throw bad("function input field not found: \(inName) (function \(fn.name))") }
            guard let output = field(named: outName) else { throw bad("function output field not found: \(outName) (function \(fn.name))") }
            guard inName != outName else { throw bad("function \(fn.name) reads and writes the same field \(inName)") }
            guard input.dataType == .varChar else {
                throw bad("BM25 function input field must be VARCHAR: '\(inName)' is \(input.dataType.rawValue)")
            }
            guard input.enableAnalyzer else {
                throw bad("BM25 function input field must set enable_analyzer to true: set enable_analyzer on field '\(inName)'")
            }
            guard output.dataType.isSparseVector else {
                throw bad("BM25 function output field must be a SparseFloatVector field: '\(outName)' is \(output.dataType.rawValue)")
            }
            guard !output.nullable else { throw bad("function output field cannot be nullable: '\(outName)' is filled by \(fn.name)") }
            guard outputs.insert(outName).inserted else { throw bad("field '\(outName)' is the output of two functions; each output field has one function") }
        }
    }
}

extension FieldSchema {
    /// A sparse vector for this field from its accepted forms (a ``FieldValue/sparseVector(_:)`` or
    /// Milvus' JSON `{"index": weight, …}`), validated: what servers use for sparse query vectors.
    ///
    /// - Throws: ``VireoError`` naming what is wrong.
    public func sparseVector(from value: FieldValue, what: String) throws -> SparseVector {
        try RowCodec.sparse(value, field: self, what: what)
    }
}
