import Foundation
import Vireo

/// Limits a server enforces on requests (beyond the engine's own checks).
public struct ServerLimits: Sendable {
    /// Largest `limit` (top-k) of a search, and of `limit + offset` (Milvus: 16,384).
    public var maxTopK = 16_384
    /// Most query vectors in one search.
    public var maxNQ = 16_384
    /// Most hits one search may produce before fusion or paging: nq × (limit + offset), summed over
    /// the searches of a hybrid search. Each hit costs memory in the top-k heaps, the result rows and
    /// the encoded reply, so the product is refused up front (Milvus bounds topK and nq separately;
    /// 16,384 × 16,384 would be 268 M hits, several GB).
    public var maxSearchHits = 1 << 20
    /// Bytes (about: keys and values) of the rows a search or query returns with their output fields;
    /// past it the request fails with code 1100 and a hint to page (256 MiB).
    public var maxResultBytes = 256 << 20
    /// Most rows in one insert or upsert.
    public var maxInsertRows = 100_000
    /// Largest `limit + offset` of a query (Milvus' query window: 16,384).
    public var maxQueryWindow = 16_384
    /// Largest request body in bytes (64 MiB, Milvus' default).
    public var maxBodyBytes = 64 << 20
    /// Bytes of REST request bodies being received and handled at once, across all connections
    /// (1 GiB); a request whose body would pass it is answered 429 with `Retry-After`.
    public var maxInFlightBodyBytes = 1 << 30
    /// Default request deadline when the client sends no `Request-Timeout` (seconds).
    public var defaultTimeoutSeconds: Double = 30
    /// Most connections open at once on the public port (REST and gRPC together); more are closed
    /// as soon as they are accepted.
    public var maxConnections = 4096
    /// A connection with no traffic (no read, no completed write) for this long is closed (seconds).
    public var idleTimeoutSeconds: Double = 300
    /// A new connection must show whether it speaks HTTP/1.1 or HTTP/2 within this time (seconds).
    public var prefaceTimeoutSeconds: Double = 10
    /// gRPC connections older than this are closed gracefully (GOAWAY; calls in flight finish), so
    /// clients rebalance across replicas; nil: never (seconds).
    public var maxConnectionAgeSeconds: Double?

    public init() {}
}

/// Search parameters as Milvus spells them (`searchParams.params`).
public struct SearchOptions: Sendable, Hashable {
    public var ef: Int?
    public var nprobe: Int?
    public var refineK: Int?
    /// Vireo extension: `"exact": true` searches exactly even where an index exists.
    public var exact: Bool
    public var metric: Metric?
    /// Range search bounds (`radius`, `range_filter` in the search params).
    public var range: ScoreRange?
    /// Milvus' `ignoreGrowing` (REST) / `ignore_growing` (gRPC): search sealed segments only.
    public var ignoreGrowing: Bool
    /// Sparse searches: `drop_ratio_search`.
    public var dropRatio: Double?

    public init(ef: Int? = nil, nprobe: Int? = nil, refineK: Int? = nil, exact: Bool = false, metric: Metric? = nil, ignoreGrowing: Bool = false) {
        self.ef = ef
        self.nprobe = nprobe
        self.refineK = refineK
        self.exact = exact
        self.metric = metric
        self.ignoreGrowing = ignoreGrowing
    }
}

/// A search (Milvus `entities/search`).
public struct SearchCall: Sendable {
    public var collection: String
    public var vectors: [[Float]]
    /// Queries of a sparse vector field (metric IP).
    public var sparseVectors: [SparseVector] = []
    /// Query text of a BM25 function's output field.
    public var texts: [String] = []
    /// The number of queries (nq), whatever their kind.
    public var queryCount: Int { vectors.count + sparseVectors.count + texts.count }
    public var annsField: String?
    public var filter: String?
    public var limit: Int
    public var offset: Int
    public var outputFields: [String]
    public var partitions: [String]?
    public var options: SearchOptions
    /// Grouping search (`group_by_field`, `group_size`, `strict_group_size`; REST `groupingField`,
    /// `groupSize`, `strictGroupSize`).
    public var grouping: SearchGrouping?
    /// A search iterator's next page: only hits strictly beyond this score (see ``SearchRequest/scoreBeyond``).
    public var iteratorBound: Float?

    public init(collection: String, vectors: [[Float]], annsField: String? = nil, filter: String? = nil, limit: Int = 100, offset: Int = 0,
                outputFields: [String] = [], partitions: [String]? = nil, options: SearchOptions = SearchOptions()) {
        self.collection = collection
        self.vectors = vectors
        self.annsField = annsField
        self.filter = filter
        self.limit = limit
        self.offset = offset
        self.outputFields = outputFields
        self.partitions = partitions
        self.options = options
    }
}

/// How `hybrid_search` fuses the result lists of its searches: the engine's rankers.
public typealias Rerank = HybridRanker

/// A hybrid search (Milvus `entities/hybrid_search`): several searches, usually on different vector
/// fields, fused into one ranking.
public struct HybridSearchCall: Sendable {
    public var collection: String
    public var searches: [SearchCall]
    public var rerank: Rerank
    public var limit: Int
    public var offset: Int
    public var outputFields: [String]
    public var partitions: [String]?

    public init(collection: String, searches: [SearchCall], rerank: Rerank, limit: Int = 100, offset: Int = 0,
                outputFields: [String] = [], partitions: [String]? = nil) {
        self.collection = collection
        self.searches = searches
        self.rerank = rerank
        self.limit = limit
        self.offset = offset
        self.outputFields = outputFields
        self.partitions = partitions
    }
}

/// A query (Milvus `entities/query`).
public struct QueryCall: Sendable {
    public var collection: String
    public var filter: String?
    /// `["count(*)"]` asks for the number of matching rows.
    public var outputFields: [String]
    public var limit: Int
    public var offset: Int
    public var partitions: [String]?
    /// Milvus' `ignoreGrowing` (REST) / `ignore_growing` (gRPC query param): sealed segments only.
    public var ignoreGrowing: Bool

    public init(collection: String, filter: String? = nil, outputFields: [String] = ["*"], limit: Int = 100, offset: Int = 0, partitions: [String]? = nil,
                ignoreGrowing: Bool = false) {
        self.ignoreGrowing = ignoreGrowing
        self.collection = collection
        self.filter = filter
        self.outputFields = outputFields
        self.limit = limit
        self.offset = offset
        self.partitions = partitions
    }
}

/// What a query returns: rows, or the count for `count(*)`.
public enum QueryOutcome: Sendable {
    case rows([Row])
    case count(Int)
}

/// One index to create (Milvus `indexParams` entry).
public struct IndexRequest: Sendable, Hashable {
    public var fieldName: String
    public var indexName: String?
    public var metric: Metric?
    public var indexType: String
    public var params: [String: Int]
    /// String parameters: a JSON path index's `json_path`, `json_cast_type`, `json_cast_function`.
    public var textParams: [String: String]
    /// The parameters as the client sent them (gRPC `extra_params`), echoed by `DescribeIndex`.
    public var requestParams: [IndexSpec.RequestParam]?

    public init(fieldName: String, indexName: String? = nil, metric: Metric? = nil, indexType: String = "AUTOINDEX", params: [String: Int] = [:],
                textParams: [String: String] = [:]) {
        self.textParams = textParams
        self.fieldName = fieldName
        self.indexName = indexName
        self.metric = metric
        self.indexType = indexType
        self.params = params
    }
}

/// An index as `describe` reports it.
public struct IndexDescription: Sendable, Hashable {
    public var indexName: String
    public var fieldName: String
    public var indexType: String
    /// Nil for scalar indexes.
    public var metric: Metric?
    public var params: [String: Int]
    public var totalRows: Int
    public var indexedRows: Int
    public var pendingRows: Int
    public var finished: Bool
    /// Properties set by `alter_index_properties` (`mmap.enabled`).
    public var properties: [String: String] = [:]
    /// String parameters (a JSON path index's `json_path`, `json_cast_type`, `json_cast_function`).
    public var textParams: [String: String] = [:]
    /// The parameters as the client created the index with, when it did so over gRPC (``IndexSpec/requestParams``).
    public var requestParams: [IndexSpec.RequestParam]? = nil
}

/// A collection as `describe` reports it.
public struct CollectionDescription: Sendable {
    public var schema: CollectionSchema
    public var indexes: [IndexDescription]
    public var loadState: LoadState
    public var partitionCount: Int
    /// The catalog id and creation time (Milvus' `collectionID` and `created_utc_timestamp`).
    public var id: UInt64
    public var createdAt: Date
    /// The database holding it and its aliases there (a collection described by an alias is
    /// reported under its own name, as Milvus does).
    public var database: String
    public var aliases: [String]
    /// Milvus' collection properties (`collection.ttl.seconds`, `mmap.enabled`, …).
    public var properties: [String: String] = [:]
}

/// Creating a collection: the schema, the indexes to build, and whether to load it (quick setup and
/// a custom schema with index params load; a custom schema without them stays released).
public struct CreateCollectionCall: Sendable {
    public var schema: CollectionSchema
    public var indexes: [IndexRequest]
    public var load: Bool
    /// Collection properties set at creation (`collection.ttl.seconds`, …).
    public var properties: [String: String]

    public init(schema: CollectionSchema, indexes: [IndexRequest], load: Bool, properties: [String: String] = [:]) {
        self.properties = properties
        self.schema = schema
        self.indexes = indexes
        self.load = load
    }
}

extension Int {
    /// `self + other`, clamped to `Int.min...Int.max` (request values may be anything; the sum is then
    /// refused by the window checks instead of trapping).
    func addingSaturated(_ other: Int) -> Int {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }
}
