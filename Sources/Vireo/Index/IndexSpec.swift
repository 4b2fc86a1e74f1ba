@_exported import struct VireoIndex.HNSWConfiguration
@_exported import struct VireoIndex.IVFConfiguration
import VireoIndex
import VireoText

/// An index on a vector field, or a scalar index on a scalar field, with Milvus' index type names
/// and parameters.
///
/// Scalar indexes (`INVERTED`, `STL_SORT`, `TRIE`, `BITMAP`) are one sorted structure per sealed
/// segment: the field's values in order with their rows. Equality, `in`, ranges and prefix `like`
/// become binary searches instead of a pass over the column. They are built from the segment's
/// stored column the first time a filter needs them and kept in memory (not stored: a sort of one
/// segment's column costs milliseconds, less than reading a stored copy would save).
///
/// Indexes are built for sealed segments, off the write path; growing segments (the newest rows)
/// are searched exactly until they seal. A collection without an index on a field, or a segment
/// whose index is still building, is searched exactly — results are never missing rows.
public struct IndexSpec: Sendable, Hashable, Codable {
    /// Milvus' index types that Vireo builds.
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// Exact search, no structure.
        case flat = "FLAT"
        /// Hierarchical navigable small world graph (Malkov & Yashunin).
        case hnsw = "HNSW"
        /// Inverted lists of full vectors.
        case ivfFlat = "IVF_FLAT"
        /// Inverted lists of product-quantised residuals (Jégou et al.).
        case ivfPQ = "IVF_PQ"
        /// Inverted lists of 8-bit scalar-quantised residuals (one byte per coordinate).
        case ivfSQ8 = "IVF_SQ8"
        /// HNSW whose searches read 8-bit scalar-quantised codes (`sq_type` SQ8), optionally
        /// re-ranking with the float vectors (`refine`, `refine_k`).
        case hnswSQ = "HNSW_SQ"
        /// Binary vectors: exact search (Milvus' `BIN_FLAT`).
        case binFlat = "BIN_FLAT"
        /// Binary vectors: inverted lists of full vectors (Milvus' `BIN_IVF_FLAT`). The coarse
        /// centroids are k-means means of the 0/1-widened bits; vectors go to the list of the nearest
        /// mean by L2 (for HAMMING and JACCARD alike) and the probed lists are scanned exactly by the
        /// index's metric.
        case binIvfFlat = "BIN_IVF_FLAT"
        /// Scalar: value → rows (Int, Float, Double, Bool, VarChar fields).
        case inverted = "INVERTED"
        /// Scalar: sorted values (numeric fields).
        case stlSort = "STL_SORT"
        /// Scalar: sorted strings, for equality and prefix `like` (VarChar fields).
        case trie = "TRIE"
        /// Scalar: value → rows for low-cardinality fields (Bool, Int, VarChar).
        case bitmap = "BITMAP"
        /// Sparse vectors: per sealed segment, compressed posting lists with block-max bounds,
        /// searched by TAAT, block-max WAND or MaxScore (``IndexSpec/sparse``).
        case sparseInvertedIndex = "SPARSE_INVERTED_INDEX"
        /// Milvus' older name for a sparse inverted index searched by WAND (same structure here).
        case sparseWAND = "SPARSE_WAND"

        /// Whether this kind indexes a scalar field.
        public var isScalar: Bool {
            switch self {
            case .inverted, .stlSort, .trie, .bitmap: return true
            case .flat, .hnsw, .hnswSQ, .ivfFlat, .ivfPQ, .ivfSQ8, .binFlat, .binIvfFlat, .sparseInvertedIndex, .sparseWAND: return false
            }
        }

        /// Whether this kind searches quantised codes (and keeps no float copy of the vectors).
        public var isQuantized: Bool { self == .ivfSQ8 || self == .hnswSQ }
        /// Whether an index of this kind over COSINE vectors stored as inserted keeps a normalised copy of
        /// them to read; the others read the vectors as stored and divide by each row's norm.
        var keepsNormalizedCopy: Bool { !isQuantized && self != .ivfFlat }

        /// Whether this kind indexes a sparse vector field.
        public var isSparse: Bool { self == .sparseInvertedIndex || self == .sparseWAND }

        /// Whether this kind can index a field of type `t`.
        public func supports(_ t: DataType) -> Bool {
            switch self {
            // As Milvus: FLAT and HNSW on every dense non-binary type; IVF on float32/float16/
            // bfloat16 (not INT8, which Milvus indexes with HNSW); BIN_* on binary only.
            case .flat, .hnsw: return t.isVector && !t.isBinaryVector
            case .ivfFlat, .ivfPQ, .ivfSQ8, .hnswSQ: return [.floatVector, .float16Vector, .bfloat16Vector].contains(t)
            case .binFlat, .binIvfFlat: return t.isBinaryVector
            case .inverted: return [.bool, .int8, .int16, .int32, .int64, .float, .double, .varChar].contains(t)
            case .stlSort: return [.int8, .int16, .int32, .int64, .float, .double].contains(t)
            case .trie: return t == .varChar
            case .bitmap: return [.bool, .int8, .int16, .int32, .int64, .varChar].contains(t)
            case .sparseInvertedIndex, .sparseWAND: return t.isSparseVector
            }
        }
    }

    /// The field indexed.
    public var field: String
    public var kind: Kind
    /// The metric of a vector index (Milvus keeps the metric on the index, not the field): searches
    /// of the field rank with it, and a search that names another metric is refused. `nil` in a spec
    /// passed to ``Collection/createIndex(_:)`` keeps the field's current metric (COSINE when it has
    /// none, Milvus' default); a stored vector spec always has one. Scalar indexes have none.
    public var metric: Metric?
    /// The index's name (Milvus `index_name`); nil means the field's name, Milvus' default.
    public var name: String?
    /// HNSW build parameters (`M`, `efConstruction`).
    public var hnsw: HNSWConfiguration
    /// IVF build parameters (`nlist`; `m`, `nbits` for IVF_PQ).
    public var ivf: IVFConfiguration
    /// Whether the index was asked for as Milvus' `AUTOINDEX` (Vireo picks the kind: HNSW with
    /// defaults for a vector field); describes report `AUTOINDEX`, as Milvus does. Nil (false) in
    /// catalogs written before this was kept.
    public var isAutoIndex: Bool?
    /// Index properties that are not build parameters (Milvus' `alter_index_properties`:
    /// `mmap.enabled`); nil when none were set. Changing them never rebuilds the index.
    public var properties: [String: String]?

    /// A JSON path index (Milvus 2.6: `INVERTED` on a JSON field with `json_path` and
    /// `json_cast_type`): the values at one path of the field's documents, cast to one type. Nil
    /// for every other index. A JSON field may have several, one per index name.
    public var jsonPath: JSONPathIndex?
    /// The index parameters exactly as the client sent them (gRPC `CreateIndex.extra_params`), in
    /// order: Milvus keeps them as the index's "user index params" and `DescribeIndex` answers with
    /// them, so a client reads back the shape it wrote (pymilvus' `MilvusClient` sends flat pairs,
    /// its ORM one JSON `params` pair). Nil for indexes created another way (REST, the Swift API) or
    /// before this was kept; describes then list the parameters Vireo resolved. Not part of what
    /// makes a repeated create the same index.
    public var requestParams: [RequestParam]?
    /// A sparse index's parameters (`inverted_index_algo`, `bm25_k1`, `bm25_b`); nil for other kinds.
    public var sparse: SparseIndexConfiguration?

    /// One key/value pair of ``requestParams``.
    public struct RequestParam: Sendable, Hashable, Codable {
        public var key: String
        public var value: String
        public init(key: String, value: String) { self.key = key; self.value = value }
    }

    /// The index type as Milvus reports it: `AUTOINDEX` when asked for so, else the kind.
    public var milvusIndexType: String { isAutoIndex == true ? "AUTOINDEX" : kind.rawValue }

    /// The index's slot in a collection's catalog: the field for every index but JSON path
    /// indexes, which are keyed by their index name (a JSON field can have several).
    var registryKey: String { jsonPath == nil ? field : "\u{0}json\u{0}" + indexName }

    public init(field: String, kind: Kind, metric: Metric? = nil, hnsw: HNSWConfiguration = HNSWConfiguration(),
                ivf: IVFConfiguration = IVFConfiguration(), name: String? = nil) {
        self.field = field
        self.kind = kind
        self.metric = kind.isScalar ? nil : metric
        self.name = name
        self.hnsw = hnsw
        var ivf = ivf
        if kind == .ivfPQ { ivf.encoding = .pq }
        if kind == .ivfSQ8 { ivf.encoding = .sq8 }
        if kind == .ivfFlat || kind == .binIvfFlat { ivf.encoding = .flat }
        self.ivf = ivf
    }

    /// Exact search with `metric` (no structure; Milvus' `FLAT`).
    public static func flat(field: String, metric: Metric? = nil) -> IndexSpec {
        IndexSpec(field: field, kind: .flat, metric: metric)
    }

    /// An IVF_FLAT index with `nlist` lists.
    public static func ivfFlat(field: String, nlist: Int = 128, metric: Metric? = nil) -> IndexSpec {
        IndexSpec(field: field, kind: .ivfFlat, metric: metric, ivf: IVFConfiguration(nlist: nlist, encoding: .flat))
    }

    /// An IVF_PQ index: `nlist` lists, `m` sub-quantisers of `nbits` bits.
    public static func ivfPQ(field: String, nlist: Int = 128, m: Int, nbits: Int = 8, metric: Metric? = nil) -> IndexSpec {
        IndexSpec(field: field, kind: .ivfPQ, metric: metric, ivf: IVFConfiguration(nlist: nlist, encoding: .pq, m: m, nbits: nbits))
    }

    /// An IVF_SQ8 index with `nlist` lists (8-bit scalar-quantised residuals).
    public static func ivfSQ8(field: String, nlist: Int = 128, metric: Metric? = nil) -> IndexSpec {
        IndexSpec(field: field, kind: .ivfSQ8, metric: metric, ivf: IVFConfiguration(nlist: nlist, encoding: .sq8))
    }

    /// An HNSW_SQ index (SQ8 codes; `refine` re-ranks with the float vectors).
    public static func hnswSQ(field: String, M: Int = 16, efConstruction: Int = 200, refine: Bool = false, metric: Metric? = nil) -> IndexSpec {
        var c = HNSWConfiguration(M: M, efConstruction: efConstruction)
        c.sqType = "SQ8"
        c.refine = refine
        return IndexSpec(field: field, kind: .hnswSQ, metric: metric, hnsw: c)
    }

    /// An HNSW index with Milvus' defaults (`M` 16, `efConstruction` 200).
    public static func hnsw(field: String, M: Int = 16, efConstruction: Int = 200, metric: Metric? = nil) -> IndexSpec {
        IndexSpec(field: field, kind: .hnsw, metric: metric, hnsw: HNSWConfiguration(M: M, efConstruction: efConstruction))
    }

    /// Parses Milvus' `index_type` and integer `params` (`AUTOINDEX` means HNSW with defaults).
    ///
    /// - Throws: ``VireoError`` naming the valid types or the parameter and its range.
    public init(field: String, milvusIndexType: String, params: [String: Int] = [:], metric: Metric? = nil, name: String? = nil) throws {
        let type = milvusIndexType.uppercased()
        switch type {
        case "FLAT": self.init(field: field, kind: .flat, metric: metric, name: name)
        case "BIN_FLAT": self.init(field: field, kind: .binFlat, metric: metric, name: name)
        case "BIN_IVF_FLAT":
            self.init(field: field, kind: .binIvfFlat, metric: metric, ivf: IVFConfiguration(nlist: params["nlist"] ?? 128, encoding: .flat), name: name)
        case "HNSW", "AUTOINDEX":
            let c = HNSWConfiguration(M: params["M"] ?? 16, efConstruction: params["efConstruction"] ?? 200)
            self.init(field: field, kind: .hnsw, metric: metric, hnsw: c, name: name)
            if type == "AUTOINDEX" { isAutoIndex = true }
        case "IVF_FLAT":
            self.init(field: field, kind: .ivfFlat, metric: metric, ivf: IVFConfiguration(nlist: params["nlist"] ?? 128, encoding: .flat), name: name)
        case "IVF_SQ8":
            self.init(field: field, kind: .ivfSQ8, metric: metric, ivf: IVFConfiguration(nlist: params["nlist"] ?? 128, encoding: .sq8), name: name)
        case "HNSW_SQ":
            // sq_type / refine / refine_type are text: see ``applyQuantizationParams(_:)``.
            var c = HNSWConfiguration(M: params["M"] ?? 16, efConstruction: params["efConstruction"] ?? 200)
            c.sqType = "SQ8"
            self.init(field: field, kind: .hnswSQ, metric: metric, hnsw: c, name: name)
        case "IVF_PQ":
            guard let m = params["m"] else {
                throw VireoError.invalid(.invalidArgument, "IVF_PQ needs the parameter m (sub-quantisers; it must divide the dimension)")
            }
            self.init(field: field, kind: .ivfPQ, metric: metric,
                      ivf: IVFConfiguration(nlist: params["nlist"] ?? 128, encoding: .pq, m: m, nbits: params["nbits"] ?? 8), name: name)
        case "INVERTED", "STL_SORT", "TRIE", "BITMAP":
            self.init(field: field, kind: Kind(rawValue: type)!, name: name)
        case "SPARSE_INVERTED_INDEX", "SPARSE_WAND":
            self.init(field: field, kind: Kind(rawValue: type)!, metric: metric, name: name)
            sparse = SparseIndexConfiguration(algorithm: type == "SPARSE_WAND" ? "DAAT_WAND" : "DAAT_MAXSCORE")
        default:
            throw VireoError.invalid(.invalidArgument, "index type '\(milvusIndexType)' is not supported; use one of \(Kind.allCases.map(\.rawValue).joined(separator: ", ")) or AUTOINDEX")
        }
    }

    /// Applies HNSW_SQ's text parameters as Milvus spells them: `sq_type` (SQ8; default SQ8),
    /// `refine` (true/false), `refine_type` (SQ6, SQ8, BF16, FP16, FP32).
    public mutating func applyQuantizationParams(_ params: [String: String]) throws {
        guard kind == .hnswSQ else { return }
        if let t = params["sq_type"] { hnsw.sqType = t.uppercased() }
        if let r = params["refine"] {
            switch r.lowercased() {
            case "true", "1": hnsw.refine = true
            case "false", "0": hnsw.refine = false
            default: throw VireoError.invalid(.invalidArgument, "refine is \"\(r.prefix(40))\"; it must be true or false")
            }
        }
        if let t = params["refine_type"] { hnsw.refineType = t.uppercased() }
    }

    /// This spec made fit for a field of type `t`: `AUTOINDEX` (parsed as HNSW) on a binary field
    /// becomes `BIN_IVF_FLAT` (Milvus' AUTOINDEX for binary vectors).
    public func resolved(for t: DataType) -> IndexSpec {
        var s = self
        if isAutoIndex == true, t.isBinaryVector, kind == .hnsw {
            s.kind = .binIvfFlat
            s.ivf = IVFConfiguration(nlist: 128, encoding: .flat)
        }
        if isAutoIndex == true, t.isSparseVector, kind == .hnsw {
            s.kind = .sparseInvertedIndex
        }
        if s.kind.isSparse, s.sparse == nil { s.sparse = SparseIndexConfiguration() }
        return s
    }

    /// Checks the index type and metric against the field's type, with Milvus' messages.
    public func validate(for field: FieldSchema) throws {
        guard kind.supports(field.dataType) else {
            throw VireoError.invalid(.invalidArgument, "data type \(field.dataType.rawValue) can't build with this index \(kind.rawValue): field '\(field.name)' takes \(Kind.allCases.filter { $0.supports(field.dataType) }.map(\.rawValue).joined(separator: ", ")) or AUTOINDEX")
        }
        if let metric, field.dataType.isAnyVector {
            let allowed = field.dataType.metrics
            guard allowed.contains(metric) else {
                // Milvus 2.6's proxy check for binary indexes, then knowhere's wording (both are matched on).
                let proxy = field.dataType == .binaryVector ? "binary vector index does not support metric type: \(metric.rawValue); " : ""
                throw VireoError.invalid(.invalidArgument, proxy + "metric type \(metric.rawValue) not found or not supported, supported: [\(allowed.map(\.rawValue).joined(separator: " "))]: field '\(field.name)' is \(field.dataType.rawValue)")
            }
        }
    }

    /// Checks the parameters against the field's dimension.
    public func validate(dimension: Int) throws {
        if kind.isSparse { return try (sparse ?? SparseIndexConfiguration()).validate() }
        do {
            switch kind {
            case .flat, .binFlat, .inverted, .stlSort, .trie, .bitmap: break
            case .sparseInvertedIndex, .sparseWAND: break
            case .hnsw, .hnswSQ: try hnsw.validate()
            case .ivfFlat, .ivfPQ, .ivfSQ8, .binIvfFlat: try ivf.validate(dimension: dimension)
            }
        } catch {
            throw VireoError.invalid(.invalidArgument, "index on '\(field)': \(error.message)")
        }
    }
}

// Catalog records written before the metric and name moved onto the index decode without them
// (``Database`` migrates such records when it opens them).
extension IndexSpec {
    private enum CodingKeys: String, CodingKey { case field, kind, metric, name, hnsw, ivf, isAutoIndex, properties, jsonPath, requestParams, sparse }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(field: try c.decode(String.self, forKey: .field), kind: try c.decode(Kind.self, forKey: .kind),
                  metric: try c.decodeIfPresent(Metric.self, forKey: .metric),
                  hnsw: try c.decodeIfPresent(HNSWConfiguration.self, forKey: .hnsw) ?? HNSWConfiguration(),
                  ivf: try c.decodeIfPresent(IVFConfiguration.self, forKey: .ivf) ?? IVFConfiguration(),
                  name: try c.decodeIfPresent(String.self, forKey: .name))
        properties = try c.decodeIfPresent([String: String].self, forKey: .properties)
        isAutoIndex = try c.decodeIfPresent(Bool.self, forKey: .isAutoIndex)
        jsonPath = try c.decodeIfPresent(JSONPathIndex.self, forKey: .jsonPath)
        requestParams = try c.decodeIfPresent([RequestParam].self, forKey: .requestParams)
        sparse = try c.decodeIfPresent(SparseIndexConfiguration.self, forKey: .sparse)
    }

    /// The name clients see: the given one, else the field's.
    public var indexName: String { name ?? field }
}

/// Search-time index parameters (per call, never stored on the index), with Milvus' names.
public struct SearchParameters: Sendable, Hashable {
    /// HNSW candidate list size; at least `limit` is used. Default: max(64, limit).
    public var ef: Int?
    /// IVF lists probed per query, 1…65,536. Default 8.
    public var nprobe: Int?
    /// IVF_PQ: re-rank the best `limit × refineK` candidates with exact distances on the stored
    /// vectors (Milvus' `refine_k`); nil or 0 = no re-ranking, results carry PQ distances.
    public var refineK: Int?
    /// Force exact search even where an index exists.
    public var exact: Bool
    /// Search sealed segments only, skipping the newest rows of each shard's growing segment
    /// (Milvus' `ignore_growing`: faster, at the price of not seeing recent writes until they seal).
    public var ignoreGrowing: Bool
    /// Sparse searches: Milvus' `drop_ratio_search`, the fraction of the query's lightest terms
    /// ignored, in [0, 1) (default 0: exact).
    public var dropRatio: Double?

    public init(ef: Int? = nil, nprobe: Int? = nil, refineK: Int? = nil, exact: Bool = false, ignoreGrowing: Bool = false) {
        self.ef = ef
        self.nprobe = nprobe
        self.refineK = refineK
        self.exact = exact
        self.ignoreGrowing = ignoreGrowing
    }
}

/// Where an index build stands for one field of a collection (Milvus' `describe_index` numbers).
public struct IndexStatus: Sendable, Hashable {
    public var field: String
    public var kind: IndexSpec.Kind
    /// Rows in sealed segments (the ones an index covers).
    public var totalRows: Int
    /// Rows of sealed segments whose index is ready.
    public var indexedRows: Int
    /// Rows of the growing segments (searched exactly until they seal).
    public var growingRows: Int
    /// Rows inserted so far by the build in progress, if any.
    public var buildingRowsDone: Int
    public var isFinished: Bool { indexedRows == totalRows }
}

/// Build parameters of a sparse inverted index (Milvus' names). The posting lists do not depend on
/// them (block-max bounds hold for any k1, b), so changing them never rebuilds a segment's index.
public struct SparseIndexConfiguration: Sendable, Hashable, Codable {
    /// `inverted_index_algo`: `TAAT_NAIVE`, `DAAT_WAND` or `DAAT_MAXSCORE` (Milvus' default).
    public var algorithm: String
    /// `bm25_k1` in [0, 3] (default 1.2) and `bm25_b` in [0, 1] (default 0.75): BM25 indexes only.
    public var bm25K1: Double
    public var bm25B: Double

    public init(algorithm: String = "DAAT_MAXSCORE", bm25K1: Double = 1.2, bm25B: Double = 0.75) {
        self.algorithm = algorithm
        self.bm25K1 = bm25K1
        self.bm25B = bm25B
    }

    /// Reads Milvus' string parameters (`inverted_index_algo`, `bm25_k1`, `bm25_b`,
    /// `drop_ratio_build`), validated.
    public init(params: [String: String], kind: IndexSpec.Kind) throws {
        self.init(algorithm: kind == .sparseWAND ? "DAAT_WAND" : "DAAT_MAXSCORE")
        for (k, v) in params {
            switch k {
            case "inverted_index_algo": algorithm = v.uppercased()
            case "bm25_k1", "bm25_b", "drop_ratio_build":
                guard let x = Double(v), x.isFinite else {
                    throw VireoError.invalid(.invalidArgument, "index parameter \(k) is \"\(v.prefix(40))\"; it must be a number")
                }
                if k == "bm25_k1" { bm25K1 = x } else if k == "bm25_b" { bm25B = x } else {
                    guard x >= 0, x < 1 else { throw VireoError.invalid(.invalidArgument, "drop_ratio_build is \(x); it must be in [0, 1)") }
                }
            default:
                throw VireoError.invalid(.invalidArgument, "\(k) is not a parameter of a sparse index; use inverted_index_algo, bm25_k1, bm25_b")
            }
        }
        try validate()
    }

    public func validate() throws {
        do {
            _ = try InvertedIndexAlgorithm.named(algorithm)
            _ = try BM25Parameters.validated(k1: bm25K1, b: bm25B)
        } catch {
            throw VireoError.invalid(.invalidArgument, error.message)
        }
    }
}
