import Dispatch
import Foundation
import Synchronization
import Vireo
import VireoKernels

/// Where a dataset's files are: base vectors, queries, and (optionally) exact ground truth.
///
/// Two layouts are recognised in a directory:
/// - `../shared/data/*`: `base.fvecs`, `query.fvecs`, `groundtruth.ivecs`;
/// - TEXMEX (corpus-texmex.irisa.fr): `NAME_base.fvecs|bvecs`, `NAME_query.fvecs|bvecs`,
///   `NAME_groundtruth.ivecs` (SIFT, GIST), or BIGANN's `gnd/idx_*.ivecs`.
public struct DatasetFiles: Sendable, Hashable {
    public var name: String
    public var directory: String
    public var base: String
    public var query: String
    /// Ground truth shipped with the dataset, if any.
    public var truth: String?

    public init(name: String, directory: String, base: String, query: String, truth: String?) {
        self.name = name
        self.directory = directory
        self.base = base
        self.query = query
        self.truth = truth
    }

    /// Finds the files of the dataset in `directory`.
    ///
    /// - Throws: ``BenchError`` naming what is missing or ambiguous.
    public static func locate(_ directory: String) throws -> DatasetFiles {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw BenchError("dataset directory \(directory) does not exist; pass --dataset DIR holding base/query .fvecs (or .bvecs) files")
        }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        func pick(_ role: String, _ exts: [String]) throws -> String? {
            let hits = names.filter { n in
                exts.contains { n == "\(role).\($0)" || n.hasSuffix("_\(role).\($0)") }
            }
            guard hits.count <= 1 else {
                throw BenchError("dataset directory \(directory) has several \(role) files (\(hits.joined(separator: ", "))); keep one")
            }
            return hits.first.map { "\(directory)/\($0)" }
        }
        guard let base = try pick("base", ["fvecs", "bvecs"]) else {
            throw BenchError("no base vectors in \(directory): expected base.fvecs, NAME_base.fvecs or NAME_base.bvecs (found: \(names.prefix(12).joined(separator: ", ")))")
        }
        guard let query = try pick("query", ["fvecs", "bvecs"]) else {
            throw BenchError("no query vectors in \(directory): expected query.fvecs, NAME_query.fvecs or NAME_query.bvecs")
        }
        var truth = try pick("groundtruth", ["ivecs"])
        if truth == nil, names.contains("gnd") {
            let gnd = ((try? FileManager.default.contentsOfDirectory(atPath: "\(directory)/gnd")) ?? []).filter { $0.hasSuffix(".ivecs") }.sorted()
            if gnd.count == 1 { truth = "\(directory)/gnd/\(gnd[0])" }
        }
        let name = URL(fileURLWithPath: directory).standardizedFileURL.lastPathComponent
        return DatasetFiles(name: name, directory: directory, base: base, query: query, truth: truth)
    }
}

/// Rows of one dimension in a single row-major array: a dataset's base set held as the peers hold
/// theirs (one numpy array), with no per-row allocation. `table[i]` is a copy of row `i`.
public struct VectorTable: RandomAccessCollection, Sendable {
    public let dimension: Int
    /// `count × dimension` values, row after row.
    public let values: [Float]

    public init(dimension: Int, values: [Float]) {
        precondition(dimension > 0 ? values.count % dimension == 0 : values.isEmpty, "values must be whole rows")
        self.dimension = dimension
        self.values = values
    }

    /// The rows of `rows` (all of one dimension), copied into one array.
    public init(_ rows: [[Float]]) {
        let d = rows.first?.count ?? 0
        precondition(rows.allSatisfy { $0.count == d }, "rows of different dimensions")
        self.init(dimension: d, values: rows.flatMap { $0 })
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { dimension == 0 ? 0 : values.count / dimension }
    public subscript(i: Int) -> [Float] { Array(values[i * dimension..<(i + 1) * dimension]) }
}

/// A loaded dataset: base rows, queries and exact ground truth (row numbers of `base`, best first).
public struct BenchData: Sendable {
    public var name: String
    public var base: VectorTable
    public var queries: [[Float]]
    public var truth: [[Int32]]
    public var dimension: Int { base.dimension }

    public init(name: String, base: VectorTable, queries: [[Float]], truth: [[Int32]]) {
        self.name = name
        self.base = base
        self.queries = queries
        self.truth = truth
    }

    public init(name: String, base: [[Float]], queries: [[Float]], truth: [[Int32]]) {
        self.init(name: name, base: VectorTable(base), queries: queries, truth: truth)
    }

    /// Loads a dataset, computing the ground truth exactly (engine's BLAS scan) when the dataset has
    /// none for these rows, and caching it (next to the data, or in `cacheDirectory` when the data
    /// directory is read-only).
    ///
    /// - Parameters:
    ///   - maxBase: use the first `maxBase` base rows (shipped ground truth is then not used).
    ///   - maxQueries: use the first `maxQueries` queries.
    ///   - truthK: neighbours per query to compute when computing ground truth.
    ///   - metric: the metric ground truth is computed with (shipped ground truth is assumed to use it).
    ///   - recomputeTruth: ignore shipped and cached ground truth.
    /// - Throws: ``BenchError`` or ``VireoError`` for missing or malformed files and mismatched dimensions.
    public static func load(
        _ files: DatasetFiles, maxBase: Int = .max, maxQueries: Int = .max, truthK: Int = 100, metric: Metric,
        recomputeTruth: Bool = false, cacheDirectory: String = BenchData.defaultCacheDirectory, threads: Int = System.coreCount,
        log: @Sendable (String) -> Void = { _ in }
    ) throws -> BenchData {
        var (d, values) = try VectorFiles.readMatrix(files.base, limit: maxBase == .max ? .max : maxBase + 1)
        let baseIsWhole = d == 0 || values.count / d <= maxBase
        if !baseIsWhole { values.removeLast(d) }
        let base = VectorTable(dimension: d, values: values)
        values = []
        let queries = try VectorFiles.readVectors(files.query, limit: maxQueries)
        guard !base.isEmpty, !queries.isEmpty else {
            throw BenchError("\(files.name): no base rows or no queries")
        }
        guard queries[0].count == d else {
            throw BenchError("dimension mismatch: \(files.base) has \(d)-dimensional vectors but \(files.query) has \(queries[0].count); use queries embedded for this base")
        }
        if !recomputeTruth, baseIsWhole, let path = files.truth {
            let truth = try VectorFiles.readIVecs(path, limit: queries.count)
            try validate(truth: truth, path: path, queries: queries.count, baseRows: base.count)
            return BenchData(name: files.name, base: base, queries: queries, truth: truth)
        }
        let file = "groundtruth.vireo-\(metric.rawValue.lowercased())-k\(truthK)-n\(base.count)-q\(queries.count).ivecs"
        let cacheKey = URL(fileURLWithPath: files.directory).standardizedFileURL.path
            .replacingOccurrences(of: "/", with: "_")
        let nextToData = "\(files.directory)/\(file)", inCache = "\(cacheDirectory)/\(cacheKey)/\(file)"
        if !recomputeTruth {
            for path in [nextToData, inCache] where FileManager.default.fileExists(atPath: path) {
                let truth = try VectorFiles.readIVecs(path)
                if (try? validate(truth: truth, path: path, queries: queries.count, baseRows: base.count)) != nil {
                    log("ground truth: cached \(path)")
                    return BenchData(name: files.name, base: base, queries: queries, truth: truth)
                }
            }
        }
        log("ground truth: computing exact top-\(truthK) (\(metric)) for \(queries.count) queries over \(base.count) rows")
        let truth = GroundTruth.compute(base: base, queries: queries, k: min(truthK, base.count), metric: metric, threads: threads)
        var stored = false
        // Next to the data unless its directory is read-only (by its mode: root ignores the bits).
        for path in (isWritableDirectory(files.directory) ? [nextToData, inCache] : [inCache]) where !stored {
            try? FileManager.default.createDirectory(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path,
                                                     withIntermediateDirectories: true)
            if (try? VectorFiles.writeIVecs(truth, to: path)) != nil {
                log("ground truth: cached at \(path)")
                stored = true
            }
        }
        return BenchData(name: files.name, base: base, queries: queries, truth: truth)
    }

    /// `$XDG_CACHE_HOME/vireo-bench`, else `~/.cache/vireo-bench`.
    public static var defaultCacheDirectory: String {
        let env = ProcessInfo.processInfo.environment
        if let x = env["XDG_CACHE_HOME"], !x.isEmpty { return "\(x)/vireo-bench" }
        return "\(env["HOME"] ?? NSTemporaryDirectory())/.cache/vireo-bench"
    }

    /// Checks that ground truth matches the queries and base it is used with.
    public static func validate(truth: [[Int32]], path: String, queries: Int, baseRows: Int) throws {
        guard truth.count >= queries else {
            throw BenchError("\(path) has ground truth for \(truth.count) queries but there are \(queries) queries; mismatched files (recompute with --recompute-truth)")
        }
        for (q, row) in truth.prefix(queries).enumerated() {
            if let bad = row.first(where: { $0 < 0 || Int($0) >= baseRows }) {
                throw BenchError("\(path): query \(q)'s ground truth names row \(bad), but the base has \(baseRows) rows; mismatched files (recompute with --recompute-truth)")
            }
        }
    }
}

/// Whether `path` is a directory this process may write, by its mode bits as well as `access(2)`
/// (root passes `access` even on a directory marked read-only, like `/work/shared`).
func isWritableDirectory(_ path: String) -> Bool {
    guard FileManager.default.isWritableFile(atPath: path),
          let mode = (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? NSNumber else { return false }
    return mode.intValue & 0o222 != 0
}

/// Exact k-nearest neighbours with the engine's batch kernel (blocked GEMM through the compute backend).
public enum GroundTruth {
    /// The exact top-`k` base rows of each query, best first.
    ///
    /// - Complexity: O(nq · n · d), as matrix products of query blocks against base blocks.
    public static func compute(base: [[Float]], queries: [[Float]], k: Int, metric: Metric, threads: Int = System.coreCount,
                               progress: (@Sendable (Int) -> Void)? = nil) -> [[Int32]] {
        compute(base: VectorTable(base), queries: queries, k: k, metric: metric, threads: threads, progress: progress)
    }

    /// The exact top-`k` rows of `base` for each query, best first.
    public static func compute(base: VectorTable, queries: [[Float]], k: Int, metric: Metric, threads: Int = System.coreCount,
                               progress: (@Sendable (Int) -> Void)? = nil) -> [[Int32]] {
        let dim = base.dimension
        guard !base.isEmpty, !queries.isEmpty, k > 0 else { return queries.map { _ in [] } }
        let b = FloatArena(count: base.values.count) { out in
            for i in 0..<base.count {
                let row = base.values[i * dim..<(i + 1) * dim]
                let norm: Float = metric.normalizesVectors ? row.reduce(0) { $0 + $1 * $1 }.squareRoot() : 0
                for (t, v) in row.enumerated() { out[i * dim + t] = norm > 0 ? v / norm : v }
            }
        }.matrix(dim: dim)
        let q = FloatArena(copying: metric.normalizesVectors ? queries.flatMap(normalized) : queries.flatMap { $0 }).matrix(dim: dim)
        let block = 256
        let blocks = (queries.count + block - 1) / block
        let out = Mutex([[Int32]](repeating: [], count: queries.count))
        let next = Atomic<Int>(0)
        let backend = OpenBLASBackend()
        DispatchQueue.concurrentPerform(iterations: max(1, min(threads, blocks))) { _ in
            var scanner = ExactScanner(backend: backend)
            while true {
                let i = next.add(1, ordering: .relaxed).oldValue
                guard i < blocks else { break }
                let start = i * block, count = min(block, queries.count - start)
                var heaps = [TopK](repeating: TopK(k: k), count: count)
                scanner.scan(queries: q.slice(start, count), base: b, metric: metric, excluded: nil, idBase: 0, heaps: &heaps)
                let ids = heaps.map { $0.sorted().map { Int32($0.id) } }
                out.withLock { for j in 0..<count { $0[start + j] = ids[j] } }
                progress?(count)
            }
        }
        return out.withLock { $0 }
    }

    static func normalized(_ v: [Float]) -> [Float] {
        let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return n > 0 ? v.map { $0 / n } : v
    }
}

/// A benchmark setup error with a message that says what to fix.
public struct BenchError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The metric a dataset's vectors suggest: IP when the first rows are unit length (so IP, COSINE
/// and L2 rank alike, as for `../shared/data/dev`), L2 otherwise (SIFT, GIST, BIGANN).
public func inferredMetric(_ base: [[Float]]) -> Metric {
    let sample = base.prefix(100)
    let unit = !sample.isEmpty && sample.allSatisfy { abs($0.reduce(0) { $0 + $1 * $1 } - 1) < 1e-3 }
    return unit ? .ip : .l2
}
