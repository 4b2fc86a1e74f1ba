import Dispatch
import Foundation
import Synchronization
import Vireo

/// The index a run builds, with Milvus' type names and parameters.
public struct IndexPlan: Sendable, Hashable {
    public enum Kind: String, Sendable, CaseIterable {
        case flat, hnsw, ivfFlat = "ivf_flat", ivfPQ = "ivf_pq", hnswSQ = "hnsw_sq", ivfSQ8 = "ivf_sq8"

        /// Milvus' `index_type`.
        public var milvusName: String {
            switch self {
            case .flat: return "FLAT"
            case .hnsw: return "HNSW"
            case .ivfFlat: return "IVF_FLAT"
            case .ivfPQ: return "IVF_PQ"
            case .hnswSQ: return "HNSW_SQ"
            case .ivfSQ8: return "IVF_SQ8"
            }
        }
    }

    public var kind: Kind
    public var metric: Metric
    public var M: Int = 16
    public var efConstruction: Int = 200
    /// IVF lists; 0 means round(4·√N), the peers' choice.
    public var nlist: Int = 0
    public var m: Int = 48
    public var nbits: Int = 8
    /// HNSW_SQ: built with `refine` (re-ranks `limit × refine_k` candidates with the float vectors).
    public var sqRefine = false

    public init(kind: Kind, metric: Metric) {
        self.kind = kind
        self.metric = metric
    }

    /// `nlist`, resolved for `rows` rows.
    public func lists(rows: Int) -> Int { nlist > 0 ? nlist : max(1, Int((4 * Double(rows).squareRoot()).rounded())) }

    /// Milvus' integer index params for `rows` rows.
    public func milvusParams(rows: Int) -> [String: Int] {
        switch kind {
        case .flat: return [:]
        case .hnsw, .hnswSQ: return ["M": M, "efConstruction": efConstruction]
        case .ivfFlat, .ivfSQ8: return ["nlist": lists(rows: rows)]
        case .ivfPQ: return ["nlist": lists(rows: rows), "m": m, "nbits": nbits]
        }
    }

    /// Milvus' text index params (HNSW_SQ's `sq_type`, `refine`).
    public var milvusTextParams: [String: String] {
        kind == .hnswSQ ? ["sq_type": "SQ8", "refine": sqRefine ? "true" : "false"] : [:]
    }

    /// Build parameters for reports, in a stable order.
    public func buildParams(rows: Int) -> [Param] {
        switch kind {
        case .flat: return []
        case .hnsw: return [Param("M", M), Param("efConstruction", efConstruction)]
        case .hnswSQ: return [Param("M", M), Param("efConstruction", efConstruction), Param("refine", sqRefine ? 1 : 0)]
        case .ivfFlat, .ivfSQ8: return [Param("nlist", lists(rows: rows))]
        case .ivfPQ: return [Param("nlist", lists(rows: rows)), Param("m", m), Param("nbits", nbits)]
        }
    }

    /// The engine's index spec (through Milvus' names, as a REST or gRPC client would send them).
    public func spec(field: String, rows: Int) throws -> IndexSpec {
        var s = try IndexSpec(field: field, milvusIndexType: kind.milvusName, params: milvusParams(rows: rows))
        try s.applyQuantizationParams(milvusTextParams)
        return s
    }
}

/// One search setting of a sweep.
public struct SearchPoint: Sendable, Hashable {
    public var parameters: SearchParameters
    /// The setting for reports (`ef=64`, `refine_k=4 nprobe=32`).
    public var params: [Param]

    public init(parameters: SearchParameters, params: [Param]) {
        self.parameters = parameters
        self.params = params
    }

    /// The sweep of an index: `ef` values for HNSW, `nprobe` × `refine` for IVF (refine 0 = none),
    /// one exact point for FLAT.
    public static func sweep(_ kind: IndexPlan.Kind, ef: [Int], nprobe: [Int], refine: [Int]) -> [SearchPoint] {
        switch kind {
        case .flat: return [SearchPoint(parameters: SearchParameters(), params: [])]
        case .hnsw: return ef.map { SearchPoint(parameters: SearchParameters(ef: $0), params: [Param("ef", $0, swept: true)]) }
        case .hnswSQ:
            return (refine.isEmpty ? [0] : refine).flatMap { r in
                ef.map { e in
                    SearchPoint(parameters: SearchParameters(ef: e, refineK: r > 0 ? r : nil),
                                params: (r > 0 ? [Param("refine_k", r)] : []) + [Param("ef", e, swept: true)])
                }
            }
        case .ivfFlat: return nprobe.map { SearchPoint(parameters: SearchParameters(nprobe: $0), params: [Param("nprobe", $0, swept: true)]) }
        case .ivfPQ, .ivfSQ8:
            return (refine.isEmpty ? [0] : refine).flatMap { r in
                nprobe.map { p in
                    SearchPoint(parameters: SearchParameters(nprobe: p, refineK: r > 0 ? r : nil),
                                params: (r > 0 ? [Param("refine_k", r)] : []) + [Param("nprobe", p, swept: true)])
                }
            }
        }
    }
}

/// What loading and indexing the data cost.
public struct BuildReport: Sendable, Hashable {
    public var rows: Int
    /// Durable inserts, batches of ``SearchTarget`` batch size.
    public var ingestSeconds: Double
    /// Sealing the inserted rows (Milvus `flush`).
    public var sealSeconds: Double
    /// `createIndex` until every sealed segment's index is attached: train + add + store.
    public var buildSeconds: Double
    /// IVF only, one sealed segment: until the coarse quantiser was trained and every row assigned
    /// (the build's first progress report); nil otherwise.
    public var trainSeconds: Double?
    public var sealedSegments: Int

    public var ingestRowsPerSecond: Double { Double(rows) / max(ingestSeconds, 1e-9) }

    public init(rows: Int, ingestSeconds: Double, sealSeconds: Double, buildSeconds: Double, trainSeconds: Double?, sealedSegments: Int) {
        self.rows = rows
        self.ingestSeconds = ingestSeconds
        self.sealSeconds = sealSeconds
        self.buildSeconds = buildSeconds
        self.trainSeconds = trainSeconds
        self.sealedSegments = sealedSegments
    }
}

/// A system the runner measures: loads the data, builds the index, answers searches. The runner
/// times calls from outside, so the same measurement works in-process (``InProcessTarget``) and
/// as a client of a running `vireo serve` (a REST target, see ``RESTTarget``), where latency is
/// what the client sees.
public protocol SearchTarget: Sendable {
    /// `vireo` in-process, `vireo-rest` over REST, ...
    var system: String { get }

    /// Creates the collection (`id` int64 primary key = base row number, `vec`, and `bucket` when
    /// `buckets` is given), inserts `data.base` in batches, seals, builds `plan` and waits until it
    /// is attached.
    func prepare(_ data: BenchData, plan: IndexPlan, buckets: [Int64]?, progress: ProgressBar) async throws -> BuildReport

    /// The primary keys of the top `limit` hits of each query, best first.
    func search(_ queries: [[Float]], limit: Int, parameters: SearchParameters, filter: String?) async throws -> [[Int64]]

    /// Bytes the collection occupies in storage; nil when the target cannot tell.
    func storageBytes() async throws -> Int?

    /// Removes what ``prepare(_:plan:buckets:progress:)`` created.
    func cleanup() async
}

/// The engine in this process, through the public Swift API (`Database`, `Collection`).
public final class InProcessTarget: SearchTarget {
    public let system = "vireo"
    public let directory: String
    private let configuration: Configuration
    private let insertBatch: Int
    private let state = Mutex<(db: Database?, collection: Vireo.Collection?)>((nil, nil))

    /// - Parameters:
    ///   - directory: scratch directory for the database (emptied first, removed by ``cleanup()``).
    ///   - searchThreads: threads one batch search call uses.
    ///   - buildThreads: threads an index build uses.
    ///   - sealRows: rows per sealed segment (nil: the engine's default).
    public init(directory: String, searchThreads: Int, buildThreads: Int, sealRows: Int? = nil, insertBatch: Int = 1000) {
        self.directory = directory
        var c = Configuration()
        c.searchThreads = searchThreads
        c.indexBuildThreads = buildThreads
        if let sealRows { c.sealRows = sealRows }
        self.configuration = c
        self.insertBatch = insertBatch
    }

    public func prepare(_ data: BenchData, plan: IndexPlan, buckets: [Int64]?, progress: ProgressBar) async throws -> BuildReport {
        try? FileManager.default.removeItem(atPath: directory)
        let n = data.base.count
        let report: BuildReport
        do {
            let db = try Database.open(at: directory, configuration: configuration)
            var fields: [FieldSchema] = [.int64PrimaryKey("id"), .floatVector("vec", dimension: data.dimension, metric: plan.metric)]
            if buckets != nil { fields.append(FieldSchema(name: "bucket", dataType: .int64)) }
            let c = try db.createCollection(CollectionSchema(name: "bench", fields: fields))
            progress.start("ingest", total: n)
            let t0 = DispatchTime.now().uptimeNanoseconds
            for start in stride(from: 0, to: n, by: insertBatch) {
                let rows: [Row] = (start..<min(n, start + insertBatch)).map { i in
                    var r: Row = ["id": .int(Int64(i)), "vec": .floatVector(data.base[i])]
                    if let buckets { r["bucket"] = .int(buckets[i]) }
                    return r
                }
                try await c.insert(rows)
                progress.advance(rows.count)
            }
            let ingest = seconds(since: t0)
            progress.finish(String(format: "%.0f rows/s (durable, batches of %d)", Double(n) / ingest, insertBatch))
            logMemory("ingest", progress)
            let t1 = DispatchTime.now().uptimeNanoseconds
            try await c.flush()
            let seal = seconds(since: t1)
            logMemory("seal", progress)
            let segments = c.statistics().reduce(0) { $0 + $1.sealedSegments }
            // Build: createIndex schedules one background build per sealed segment; follow them.
            progress.start("build \(plan.kind.milvusName)", total: n)
            let t2 = DispatchTime.now().uptimeNanoseconds
            try await c.createIndex(try plan.spec(field: "vec", rows: n))
            var train: Double?
            while true {
                let s = try c.indexStatus(field: "vec")
                if s.isFinished { break }
                if train == nil, segments == 1, plan.kind == .ivfFlat || plan.kind == .ivfPQ, s.buildingRowsDone > 0 {
                    train = seconds(since: t2)
                }
                progress.set(s.indexedRows + s.buildingRowsDone)
                try await Task.sleep(nanoseconds: 20_000_000)
            }
            await c.waitForIndexBuilds()
            let build = seconds(since: t2)
            progress.finish(String(format: "%.2f s", build))
            logMemory("index build", progress)
            report = BuildReport(rows: n, ingestSeconds: ingest, sealSeconds: seal, buildSeconds: build, trainSeconds: train, sealedSegments: segments)
        }
        // Search a fresh open, as a restarted process would: sealed vectors and indexes used in place.
        var reopen = configuration
        reopen.verifyChecksumsOnOpen = false
        let db = try Database.open(at: directory, configuration: reopen)
        let c = try db.collection("bench")
        state.withLock { $0 = (db, c) }
        logMemory("reopen", progress)
        return report
    }

    public func search(_ queries: [[Float]], limit: Int, parameters: SearchParameters, filter: String?) async throws -> [[Int64]] {
        guard let c = state.withLock({ $0.collection }) else { throw BenchError("search before prepare") }
        let hits = try await c.search(SearchRequest(vectors: queries, limit: limit, params: parameters, filter: filter))
        return hits.map { row in
            row.map { hit in
                if case let .int(v) = hit.id { return v }
                return -1
            }
        }
    }

    public func storageBytes() async throws -> Int? {
        state.withLock { $0.collection }?.statistics().reduce(0) { $0 + $1.storageBytes }
    }

    public func cleanup() async {
        state.withLock { $0 = (nil, nil) }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// The process' resident memory after a stage (where the benchmark's peak RSS comes from).
func logMemory(_ stage: String, _ progress: ProgressBar) {
    let m = ProcessMemory.current()
    let s = ProcessMemory.status(["RssAnon:", "RssFile:"])
    progress.log(String(format: "memory after %@: RSS %.0f MiB (anonymous %.0f, file-backed %.0f), peak %.0f MiB", stage, m.rss, s[0], s[1], m.peak))
}

func seconds(since start: UInt64) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}
