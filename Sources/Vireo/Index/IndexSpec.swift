@_exported import struct VireoIndex.HNSWConfiguration
import VireoIndex

/// An index on a vector field, with Milvus' index type names and parameters.
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
    }

    /// The vector field indexed.
    public var field: String
    public var kind: Kind
    /// HNSW build parameters (`M`, `efConstruction`).
    public var hnsw: HNSWConfiguration

    public init(field: String, kind: Kind, hnsw: HNSWConfiguration = HNSWConfiguration()) {
        self.field = field
        self.kind = kind
        self.hnsw = hnsw
    }

    /// An HNSW index with Milvus' defaults (`M` 16, `efConstruction` 200).
    public static func hnsw(field: String, M: Int = 16, efConstruction: Int = 200) -> IndexSpec {
        IndexSpec(field: field, kind: .hnsw, hnsw: HNSWConfiguration(M: M, efConstruction: efConstruction))
    }

    /// Parses Milvus' `index_type` and integer `params` (`AUTOINDEX` means HNSW with defaults).
    ///
    /// - Throws: ``VireoError`` naming the valid types or the parameter and its range.
    public init(field: String, milvusIndexType: String, params: [String: Int] = [:]) throws {
        let type = milvusIndexType.uppercased()
        switch type {
        case "FLAT": self.init(field: field, kind: .flat)
        case "HNSW", "AUTOINDEX":
            let c = HNSWConfiguration(M: params["M"] ?? 16, efConstruction: params["efConstruction"] ?? 200)
            self.init(field: field, kind: .hnsw, hnsw: c)
        default:
            throw VireoError.invalid(.invalidArgument, "index type '\(milvusIndexType)' is not supported; use one of \(Kind.allCases.map(\.rawValue).joined(separator: ", ")) or AUTOINDEX")
        }
        try validate()
    }

    /// Checks the parameters.
    public func validate() throws {
        if kind == .hnsw {
            do { try hnsw.validate() } catch { throw VireoError.invalid(.invalidArgument, "index on '\(field)': \(error.message)") }
        }
    }
}

/// Search-time index parameters (per call, never stored on the index).
public struct SearchParameters: Sendable, Hashable {
    /// HNSW candidate list size; at least `limit` is used. Default: max(64, limit).
    public var ef: Int?
    /// Force exact search even where an index exists.
    public var exact: Bool

    public init(ef: Int? = nil, exact: Bool = false) {
        self.ef = ef
        self.exact = exact
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
