@_exported import enum VireoKernels.Metric
@_exported import struct VireoText.SparseVector
import VireoText

/// Milvus' field data types (the names match Milvus' `DataType` spelling).
public enum DataType: String, Sendable, Hashable, Codable, CaseIterable {
    case bool = "Bool"
    case int8 = "Int8"
    case int16 = "Int16"
    case int32 = "Int32"
    case int64 = "Int64"
    case float = "Float"
    case double = "Double"
    case varChar = "VarChar"
    case json = "JSON"
    case array = "Array"
    case floatVector = "FloatVector"
    /// IEEE half-precision elements (2 bytes per dimension).
    case float16Vector = "Float16Vector"
    /// bfloat16 elements (2 bytes per dimension).
    case bfloat16Vector = "BFloat16Vector"
    /// Signed 8-bit integer elements (1 byte per dimension).
    case int8Vector = "Int8Vector"
    /// Bits (dimension/8 bytes; the dimension is a multiple of 8), searched by HAMMING or JACCARD.
    case binaryVector = "BinaryVector"
    /// Sparse float vectors (`{index: weight}` rows), searched by IP, or by BM25 when a BM25 function
    /// fills the field from a text field. Stored with the row's scalar part (its width varies per row),
    /// never a dense matrix: ``isVector`` is false for it, ``isSparseVector`` true.
    case sparseFloatVector = "SparseFloatVector"

    /// Parses Milvus' spelling, case-insensitively (`"Int64"`, `"VARCHAR"`, `"FloatVector"`).
    public init?(milvusName: String) {
        guard let t = DataType.allCases.first(where: { $0.rawValue.lowercased() == milvusName.lowercased() }) else { return nil }
        self = t
    }

    public var isVector: Bool {
        switch self {
        case .floatVector, .float16Vector, .bfloat16Vector, .int8Vector, .binaryVector: return true
        default: return false
        }
    }

    /// Whether values are sparse vectors (a vector field for Milvus; stored like a scalar column).
    public var isSparseVector: Bool { self == .sparseFloatVector }

    /// Whether the field is a vector field of either kind (dense or sparse): what a collection needs
    /// one of, and what Milvus' vector-field limit counts.
    public var isAnyVector: Bool { isVector || isSparseVector }

    /// The metrics a vector field of this type can be searched by (Milvus' rules).
    public var metrics: [Metric] {
        if isSparseVector { return [.ip, .bm25] }
        return isBinaryVector ? [.hamming, .jaccard] : [.l2, .ip, .cosine]
    }

    /// The metric an index or search gets when none is named: COSINE for dense vectors (Milvus'
    /// default), HAMMING for binary ones.
    public var defaultMetric: Metric { isSparseVector ? .ip : isBinaryVector ? .hamming : .cosine }

    /// Whether the elements are bits (searched by HAMMING/JACCARD, not L2/IP/COSINE).
    public var isBinaryVector: Bool { self == .binaryVector }

    /// Types allowed as array elements.
    public var isArrayElement: Bool {
        switch self {
        case .bool, .int8, .int16, .int32, .int64, .float, .double, .varChar: return true
        default: return false
        }
    }

    var integerRange: ClosedRange<Int64>? {
        switch self {
        case .int8: return Int64(Int8.min)...Int64(Int8.max)
        case .int16: return Int64(Int16.min)...Int64(Int16.max)
        case .int32: return Int64(Int32.min)...Int64(Int32.max)
        case .int64: return Int64.min...Int64.max
        default: return nil
        }
    }
}

/// One field of a collection.
public struct FieldSchema: Sendable, Hashable, Codable {
    public var name: String
    public var dataType: DataType
    public var isPrimaryKey: Bool
    /// Primary key only: Vireo assigns int64 ids (increasing; unique across restarts).
    public var autoID: Bool
    /// `FloatVector` only: number of dimensions, 1…32,768.
    public var dimension: Int?
    /// `VarChar` (and `Array` of `VarChar`): maximum length in UTF-8 bytes, 1…65,535.
    public var maxLength: Int?
    /// `Array` only: element type.
    public var elementType: DataType?
    /// `Array` only: maximum number of elements, 1…4,096.
    public var maxCapacity: Int?
    /// `FloatVector` only, at creation: a convenience for the Swift API. ``Database/createCollection(_:)``
    /// turns it into the field's initial ``IndexSpec`` (a `FLAT` index with this metric) and stores the
    /// schema without it: the metric belongs to the index (Milvus' model). Stored schemas have nil.
    public var metric: Metric?
    /// `FloatVector` only: the field's vectors were stored unit-normalised at insert (collections of
    /// Vireo ≤ 0.2 with a COSINE field, migrated in place). New rows of such a field are normalised
    /// too, so the field keeps answering as before; `get`/`query` return the normalised vectors, and
    /// an L2/IP index ranks them. New collections store vectors exactly as inserted.
    public var storesNormalizedVectors: Bool
    /// How servers show ``storesNormalizedVectors`` in a described field's type parameters.
    public static let storesNormalizedVectorsParam = "vireo.stores_normalized_vectors"
    /// Whether the field may be null or absent.
    public var nullable: Bool
    /// Value stored when a row omits the field or gives null (Milvus' `default_value`); scalar fields
    /// other than JSON only.
    public var defaultValue: JSONValue?
    /// Milvus' partition key: rows are routed to one of the collection's ``CollectionSchema/numPartitions``
    /// partitions by a stable hash of this field (Int64 or VarChar), and a filter that pins the field
    /// (`key == v`, `key in [...]`) searches only the partitions those values hash to.
    public var isPartitionKey: Bool
    public var description: String
    /// Milvus' field `mmap.enabled` (nil: not set). Vireo's storage is always memory-mapped through
    /// LMDB, so it is validated, stored and reported, and changes nothing.
    public var mmapEnabled: Bool?
    /// The field was added to the collection after it was created (``Collection/addField(_:)``):
    /// it is nullable, rows stored before it read its default value (or null), and it is stored
    /// after the collection's original fields (see `RowCodec`).
    public var addedLater: Bool = false
    /// `VarChar` only: the text is analysed (Milvus' `enable_analyzer`), so a BM25 function can read it
    /// and `text_match` can match it (with ``enableMatch``).
    public var enableAnalyzer: Bool = false
    /// `VarChar` only: `text_match(field, '...')` filters may use the field (Milvus' `enable_match`;
    /// needs ``enableAnalyzer``).
    public var enableMatch: Bool = false
    /// `VarChar` only: Milvus' `analyzer_params` as JSON text (`{"type": "english"}`, or a tokenizer
    /// with filters); nil means the `standard` analyzer. Validated when the schema is.
    public var analyzerParams: String?

    /// The analyzer of an analysed VarChar field (``enableAnalyzer``); nil otherwise.
    ///
    /// - Throws: ``VireoError`` (invalid schema) when ``analyzerParams`` are not valid.
    public func analyzer() throws -> Analyzer? {
        guard dataType == .varChar, enableAnalyzer || enableMatch else { return nil }
        guard let analyzerParams else { return Analyzer(.standard) }
        do {
            return try Analyzer(json: analyzerParams)
        } catch {
            throw VireoError.invalid(.invalidSchema, "invalid analyzer_params of field '\(name)': \(error.message)")
        }
    }

    public init(
        name: String, dataType: DataType, isPrimaryKey: Bool = false, autoID: Bool = false,
        dimension: Int? = nil, maxLength: Int? = nil, elementType: DataType? = nil, maxCapacity: Int? = nil,
        metric: Metric? = nil, nullable: Bool = false, defaultValue: JSONValue? = nil, isPartitionKey: Bool = false,
        description: String = "", storesNormalizedVectors: Bool = false
    ) {
        self.storesNormalizedVectors = storesNormalizedVectors
        self.defaultValue = defaultValue
        self.isPartitionKey = isPartitionKey
        self.name = name
        self.dataType = dataType
        self.isPrimaryKey = isPrimaryKey
        self.autoID = autoID
        self.dimension = dimension
        self.maxLength = maxLength
        self.elementType = elementType
        self.maxCapacity = maxCapacity
        self.metric = metric
        self.nullable = nullable
        self.description = description
    }

    /// An int64 primary key.
    public static func int64PrimaryKey(_ name: String = "id", autoID: Bool = false) -> FieldSchema {
        FieldSchema(name: name, dataType: .int64, isPrimaryKey: true, autoID: autoID)
    }

    /// A varchar primary key.
    public static func varCharPrimaryKey(_ name: String = "id", maxLength: Int = 256) -> FieldSchema {
        FieldSchema(name: name, dataType: .varChar, isPrimaryKey: true, maxLength: maxLength)
    }

    /// A float vector field; `metric` (when given) becomes its initial `FLAT` index (see ``metric``).
    public static func floatVector(_ name: String, dimension: Int, metric: Metric? = nil) -> FieldSchema {
        FieldSchema(name: name, dataType: .floatVector, dimension: dimension, metric: metric)
    }
}

/// A schema function (Milvus' `FunctionSchema`): fields the engine computes from other fields at
/// insert. Vireo runs Milvus' `BM25` function: the analysed text of one VarChar input field becomes the
/// term counts (a sparse vector) stored in one SparseFloatVector output field; BM25 searches of that
/// field pass raw query text.
public struct FunctionSchema: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        case bm25 = "BM25"

        /// Milvus' `FunctionType` enum value (`Unknown` 0, `BM25` 1, `TextEmbedding` 2, `Rerank` 3).
        public var milvusValue: Int { 1 }

        /// Parses Milvus' spelling, case-insensitively.
        public init?(milvusName: String) {
            guard milvusName.uppercased() == "BM25" else { return nil }
            self = .bm25
        }
    }

    public var name: String
    public var kind: Kind
    public var inputFields: [String]
    public var outputFields: [String]
    /// Function parameters as Milvus carries them (BM25 takes none).
    public var params: [String: String]
    public var description: String

    public init(name: String, kind: Kind = .bm25, inputFields: [String], outputFields: [String], params: [String: String] = [:],
                description: String = "") {
        self.name = name
        self.kind = kind
        self.inputFields = inputFields
        self.outputFields = outputFields
        self.params = params
        self.description = description
    }

    /// A BM25 function from `input` (an analysed VarChar field) to `output` (a SparseFloatVector field).
    public static func bm25(name: String, input: String, output: String) -> FunctionSchema {
        FunctionSchema(name: name, inputFields: [input], outputFields: [output])
    }
}

/// A collection's schema and layout.
public struct CollectionSchema: Sendable, Hashable, Codable {
    public var name: String
    public var fields: [FieldSchema]
    public var description: String
    /// Keys of a row that are not schema fields are kept in the dynamic field `$meta` (JSON).
    public var enableDynamicField: Bool
    /// Number of shards (`hash(pk) mod shardsNum`), 1…16 (Milvus' proxy.maxShardNum).
    public var shardsNum: Int
    /// With a partition-key field: how many partitions its hash spreads rows over (Milvus'
    /// `num_partitions`, default 16), 1…1,024. Ignored without a partition key.
    public var numPartitions: Int
    /// The consistency level the collection was created with (Milvus' `Strong`, `Session`,
    /// `Bounded`, `Eventually`), recorded and reported as Milvus does. Vireo's reads are strongly
    /// consistent whatever it says: a write is visible to every read once it is acknowledged.
    public var consistencyLevel: String = "Strong"
    /// Fields computed from other fields at insert (Milvus 2.5's BM25 function).
    public var functions: [FunctionSchema] = []

    /// Milvus' consistency levels, in the order of its `ConsistencyLevel` enum (0…4).
    public static let consistencyLevels = ["Strong", "Session", "Bounded", "Eventually", "Customized"]

    public init(name: String, fields: [FieldSchema], description: String = "", enableDynamicField: Bool = false, shardsNum: Int = 1,
                numPartitions: Int = 16) {
        self.numPartitions = numPartitions
        self.name = name
        self.fields = fields
        self.description = description
        self.enableDynamicField = enableDynamicField
        self.shardsNum = shardsNum
    }

    /// Limits, as Milvus sets them.
    public static let maxVectorFields = 10  // Milvus 2.6: proxy.maxVectorFieldNum
    public static let maxDimension = 32_768
    public static let maxShards = 16
    public static let maxVarCharLength = 65_535
    /// The longest VarChar primary key, in UTF-8 bytes, as in Milvus (keys past LMDB's 511-byte key
    /// limit are stored under a digest; see `PrimaryKeyIndex`).
    public static let maxPrimaryKeyLength = 65_535
    public static let maxArrayCapacity = 4_096
    public static let dynamicFieldName = "$meta"
    /// Partitions per collection, as Milvus limits them.
    public static let maxPartitions = 1_024
    /// The partition every collection without a partition key has.
    public static let defaultPartitionName = "_default"

    public var primaryKey: FieldSchema { fields.first(where: \.isPrimaryKey)! }
    public var vectorFields: [FieldSchema] { fields.filter { $0.dataType.isVector } }
    /// SparseFloatVector fields (stored with the scalar columns, searched by their own path).
    public var sparseFields: [FieldSchema] { fields.filter { $0.dataType.isSparseVector } }
    /// The function that fills field `name`, if it is a function's output.
    public func function(producing name: String) -> FunctionSchema? { functions.first { $0.outputFields.contains(name) } }
    /// Whether `name` is filled by a function (clients must not give it, and `*` does not return it).
    public func isFunctionOutput(_ name: String) -> Bool { function(producing: name) != nil }
    /// Non-primary-key, non-vector fields, in schema order (the stored scalar columns; sparse vector
    /// fields are among them).
    public var scalarFields: [FieldSchema] { fields.filter { !$0.isPrimaryKey && !$0.dataType.isVector } }

    public func field(named name: String) -> FieldSchema? { fields.first { $0.name == name } }
    /// The partition-key field, if any.
    public var partitionKey: FieldSchema? { fields.first(where: \.isPartitionKey) }

    /// Checks names, types and limits.
    ///
    /// - Throws: ``VireoError`` with code ``VireoError/Code/invalidSchema`` naming the problem.
    public func validate() throws {
        func bad(_ m: String) -> VireoError { .invalid(.invalidSchema, "collection '\(name)': \(m)") }
        try Self.validateName(name, what: "collection name")
        guard !fields.isEmpty else { throw bad("a schema needs a primary key field and a vector field") }
        var seen = Set<String>()
        for f in fields {
            try Self.validateFieldName(f.name)
            guard seen.insert(f.name).inserted else { throw bad("duplicated field name: field '\(f.name)' is defined twice; field names must be unique") }
        }
        let pks = fields.filter(\.isPrimaryKey)
        guard pks.count == 1 else { throw bad("exactly one field must be the primary key, found \(pks.count)") }
        let pk = pks[0]
        switch pk.dataType {
        case .int64: break
        case .varChar:
            guard !pk.autoID else { throw bad("autoID needs an Int64 primary key; '\(pk.name)' is VarChar") }
            guard let m = pk.maxLength, (1...Self.maxPrimaryKeyLength).contains(m) else {
                throw bad("VarChar primary key '\(pk.name)' needs maxLength in 1...\(Self.maxPrimaryKeyLength)")
            }
        default:
            throw bad("primary key '\(pk.name)' must be Int64 or VarChar, not \(pk.dataType.rawValue)")
        }
        guard !pk.nullable else { throw bad("primary field not support null: primary key '\(pk.name)' cannot be nullable") }
        let vectors = vectorFields
        let allVectors = fields.filter(\.dataType.isAnyVector)
        guard !allVectors.isEmpty else { throw bad("schema does not contain vector field: add a vector field (FloatVector, Float16Vector, BFloat16Vector, Int8Vector, BinaryVector or SparseFloatVector; a collection needs one to search)") }
        guard allVectors.count <= Self.maxVectorFields else {
            throw bad("\(allVectors.count) vector fields; at most \(Self.maxVectorFields) are allowed")
        }
        try validateText()
        for f in fields where !f.isPrimaryKey && f.autoID {
            throw bad("autoID is only valid on the primary key, not on '\(f.name)'")
        }
        for v in vectors {
            // Milvus' bounds and messages (proxy validateDimension): at least 2, at most maxDimension.
            guard let d = v.dimension else {
                throw bad("dimension is not defined in field type params of vector field '\(v.name)'; give it `dim` (2 ~ \(Self.maxDimension))")
            }
            guard d >= 2 else { throw bad("invalid dimension: \(d). should be in range 2 ~ \(Self.maxDimension)") }
            guard d <= Self.maxDimension else {
                throw bad("invalid dimension: \(d) of field \(v.name). \(v.dataType == .binaryVector ? "binary" : "float") vector dimension should be in range 2 ~ \(Self.maxDimension)")
            }
            if v.dataType == .binaryVector, d % 8 != 0 {
                throw bad("BinaryVector field '\(v.name)' has dimension \(d), which is not a multiple of 8; a binary vector is stored as dimension/8 bytes")
            }
            // Milvus 2.6: a nullable vector field lets a row have no vector (never found by that
            // field's search); a vector field has no default value.
            guard v.defaultValue == nil else {
                throw bad("type not support default_value: vector field '\(v.name)' cannot have a default value; make it nullable to let rows omit their vector")
            }
        }
        for f in fields where f.dataType == .varChar {
            guard let m = f.maxLength, (1...Self.maxVarCharLength).contains(m) else {
                throw bad("VarChar field '\(f.name)' needs maxLength in 1...\(Self.maxVarCharLength)")
            }
        }
        for f in fields where f.dataType == .array {
            guard let e = f.elementType, e.isArrayElement else {
                throw bad("Array field '\(f.name)' needs an elementType among Bool, Int8, Int16, Int32, Int64, Float, Double, VarChar")
            }
            guard let c = f.maxCapacity, (1...Self.maxArrayCapacity).contains(c) else {
                throw bad("the maximum capacity specified for a Array should be in (0, \(Self.maxArrayCapacity)]: Array field '\(f.name)' needs max_capacity in 1...\(Self.maxArrayCapacity)")
            }
            if e == .varChar {
                guard let m = f.maxLength, (1...Self.maxVarCharLength).contains(m) else {
                    throw bad("Array of VarChar '\(f.name)' needs maxLength in 1...\(Self.maxVarCharLength)")
                }
            }
        }
        for f in fields where f.defaultValue != nil {
            // Milvus' messages (its proxy's schema checks), then what to do.
            guard !f.isPrimaryKey else {
                throw bad("primary field not support default_value: field '\(f.name)' is the primary key; defaults apply to Bool, integer, Float, Double and VarChar fields")
            }
            guard !f.dataType.isAnyVector, f.dataType != .json, f.dataType != .array else {
                throw bad("convert defaultValue fail: field '\(f.name)' is \(f.dataType.rawValue), which cannot have a default value; defaults apply to Bool, integer, Float, Double and VarChar fields")
            }
            let probe = CollectionSchema(name: name, fields: [.int64PrimaryKey("__pk"), .floatVector("__v", dimension: 2), FieldSchema(name: f.name, dataType: f.dataType,
                                         maxLength: f.maxLength, elementType: f.elementType, maxCapacity: f.maxCapacity)])
            let row = try probe.row(fromJSON: .object(["__pk": .int(0), "__v": .array([.double(1), .double(0)]), f.name: f.defaultValue!]))
            do {
                _ = try RowCodec(schema: probe).prepare(row, index: 0, autoID: nil)
            } catch let e as VireoError {
                throw bad("invalid defaultValue of field '\(f.name)': it does not fit the field: \(e.message)")
            }
        }
        for f in fields where f.metric != nil && !f.dataType.isAnyVector {
            throw bad("metric is only valid on vector fields, not on '\(f.name)'")
        }
        for f in allVectors {
            if let m = f.metric, !f.dataType.metrics.contains(m) {
                throw bad("metric type \(m.rawValue) not found or not supported, supported: [\(f.dataType.metrics.map(\.rawValue).joined(separator: " "))]: field '\(f.name)' is \(f.dataType.rawValue)")
            }
        }
        let keys = fields.filter(\.isPartitionKey)
        guard keys.count <= 1 else { throw bad("\(keys.count) partition-key fields; at most one is allowed") }
        if let key = keys.first {
            guard !key.isPrimaryKey, key.dataType == .int64 || key.dataType == .varChar else {
                throw bad("partition key '\(key.name)' must be an Int64 or VarChar field other than the primary key")
            }
            guard !key.nullable else { throw bad("partition key field not support nullable: partition key '\(key.name)' cannot be nullable") }
            guard (1...Self.maxPartitions).contains(numPartitions) else {
                throw bad("numPartitions must be in 1...\(Self.maxPartitions), got \(numPartitions)")
            }
        }
        guard (1...Self.maxShards).contains(shardsNum) else { throw bad("maximum shards's number should be limited to \(Self.maxShards): shardsNum must be in 1...\(Self.maxShards), got \(shardsNum)") }
        if enableDynamicField, fields.contains(where: { $0.name == Self.dynamicFieldName }) {
            throw bad("'\(Self.dynamicFieldName)' is reserved for the dynamic field")
        }
    }

    /// Words of the filter language, which Milvus refuses as field names (any case): a field named
    /// `like` or `json_contains` could not be filtered on.
    static let filterKeywords: Set<String> = [
        "like", "and", "or", "not", "in", "exists", "true", "false",
        "json_contains", "json_contains_all", "json_contains_any",
        "array_contains", "array_contains_all", "array_contains_any", "array_length",
        "text_match", "phrase_match", "random_sample",
    ]

    /// A field name: Milvus' naming rule, and not a filter keyword.
    public static func validateFieldName(_ name: String) throws {
        try validateName(name, what: "field name")
        guard !filterKeywords.contains(name.lowercased()) else {
            throw VireoError.invalid(.invalidSchema, "Invalid field name: \(name). '\(name)' is a keyword of the filter language; choose another name")
        }
    }

    /// Milvus' naming rule: starts with a letter or underscore, then letters, digits or underscores,
    /// at most 255 characters.
    public static func validateName(_ name: String, what: String) throws {
        // Milvus' proxy messages (clients and Milvus' tests match on them).
        func bad(_ reason: String) -> VireoError {
            VireoError.invalid(.invalidSchema, "Invalid \(what): \(name). \(reason)")
        }
        guard let first = name.first else { throw VireoError.invalid(.invalidSchema, "\(what) should not be empty") }
        guard name.count <= 255 else { throw bad("the length of a \(what) must be less than 255 characters") }
        guard first.isASCII && (first.isLetter || first == "_") else {
            throw bad("the first character of a \(what) must be an underscore or letter")
        }
        guard name.allSatisfy({ ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "_" }) else {
            throw bad("\(what) can only contain numbers, letters and underscores")
        }
    }

}

// Catalog records written before a key existed decode with its default.
extension FieldSchema {
    private enum CodingKeys: String, CodingKey {
        case name, dataType, isPrimaryKey, autoID, dimension, maxLength, elementType, maxCapacity, metric, nullable
        case defaultValue, isPartitionKey, description, storesNormalizedVectors, mmapEnabled, addedLater
        case enableAnalyzer, enableMatch, analyzerParams
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: try c.decode(String.self, forKey: .name), dataType: try c.decode(DataType.self, forKey: .dataType),
                  isPrimaryKey: try c.decode(Bool.self, forKey: .isPrimaryKey), autoID: try c.decode(Bool.self, forKey: .autoID),
                  dimension: try c.decodeIfPresent(Int.self, forKey: .dimension), maxLength: try c.decodeIfPresent(Int.self, forKey: .maxLength),
                  elementType: try c.decodeIfPresent(DataType.self, forKey: .elementType),
                  maxCapacity: try c.decodeIfPresent(Int.self, forKey: .maxCapacity), metric: try c.decodeIfPresent(Metric.self, forKey: .metric),
                  nullable: try c.decodeIfPresent(Bool.self, forKey: .nullable) ?? false,
                  defaultValue: try c.decodeIfPresent(JSONValue.self, forKey: .defaultValue),
                  isPartitionKey: try c.decodeIfPresent(Bool.self, forKey: .isPartitionKey) ?? false,
                  description: try c.decodeIfPresent(String.self, forKey: .description) ?? "",
                  storesNormalizedVectors: try c.decodeIfPresent(Bool.self, forKey: .storesNormalizedVectors) ?? false)
        mmapEnabled = try c.decodeIfPresent(Bool.self, forKey: .mmapEnabled)
        addedLater = try c.decodeIfPresent(Bool.self, forKey: .addedLater) ?? false
        enableAnalyzer = try c.decodeIfPresent(Bool.self, forKey: .enableAnalyzer) ?? false
        enableMatch = try c.decodeIfPresent(Bool.self, forKey: .enableMatch) ?? false
        analyzerParams = try c.decodeIfPresent(String.self, forKey: .analyzerParams)
    }
}

extension CollectionSchema {
    private enum CodingKeys: String, CodingKey {
        case name, fields, description, enableDynamicField, shardsNum, numPartitions, consistencyLevel, functions
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: try c.decode(String.self, forKey: .name), fields: try c.decode([FieldSchema].self, forKey: .fields),
                  description: try c.decodeIfPresent(String.self, forKey: .description) ?? "",
                  enableDynamicField: try c.decodeIfPresent(Bool.self, forKey: .enableDynamicField) ?? false,
                  shardsNum: try c.decodeIfPresent(Int.self, forKey: .shardsNum) ?? 1,
                  numPartitions: try c.decodeIfPresent(Int.self, forKey: .numPartitions) ?? 16)
        consistencyLevel = try c.decodeIfPresent(String.self, forKey: .consistencyLevel) ?? "Strong"
        functions = try c.decodeIfPresent([FunctionSchema].self, forKey: .functions) ?? []
    }
}
