import Foundation
import Testing
import Vireo
@testable import VireoBenchKit
import VireoTestSupport

@Suite("Datasets and ground truth")
struct DatasetTests {
    @Test("ground truth from the engine's batch kernel equals a brute-force oracle", arguments: [Metric.l2, .ip, .cosine])
    func groundTruthMatchesOracle(_ metric: Metric) {
        let base = Datasets.uniform(n: 600, dim: 12, seed: 11)
        let queries = Datasets.uniform(n: 37, dim: 12, seed: 12)
        let truth = GroundTruth.compute(base: base, queries: queries, k: 10, metric: metric, threads: 2)
        #expect(truth.count == queries.count)
        for (q, row) in truth.enumerated() {
            let want = Oracle.nearest(queries[q], in: base, k: 10, metric: metric).map { Int32($0.index) }
            #expect(row == want, "query \(q), metric \(metric) (seed 11/12)")
        }
    }

    @Test("both layouts are located: ../shared/data style and TEXMEX NAME_base / NAME_query / NAME_groundtruth")
    func locate() throws {
        let a = TemporaryDirectory("ds")
        for f in ["base.fvecs", "query.fvecs", "groundtruth.ivecs"] { _ = FileManager.default.createFile(atPath: "\(a.path)/\(f)", contents: Data()) }
        let fa = try DatasetFiles.locate(a.path)
        #expect(fa.base.hasSuffix("/base.fvecs") && fa.query.hasSuffix("/query.fvecs") && fa.truth?.hasSuffix("/groundtruth.ivecs") == true)
        let b = TemporaryDirectory("ds")
        for f in ["sift_base.fvecs", "sift_query.fvecs", "sift_groundtruth.ivecs", "sift_learn.fvecs"] {
            _ = FileManager.default.createFile(atPath: "\(b.path)/\(f)", contents: Data())
        }
        let fb = try DatasetFiles.locate(b.path)
        #expect(fb.base.hasSuffix("/sift_base.fvecs") && fb.query.hasSuffix("/sift_query.fvecs") && fb.truth?.hasSuffix("/sift_groundtruth.ivecs") == true)
        let c = TemporaryDirectory("ds")
        try FileManager.default.createDirectory(atPath: "\(c.path)/gnd", withIntermediateDirectories: true)
        for f in ["bigann_base.bvecs", "bigann_query.bvecs", "gnd/idx_1M.ivecs"] { _ = FileManager.default.createFile(atPath: "\(c.path)/\(f)", contents: Data()) }
        let fc = try DatasetFiles.locate(c.path)
        #expect(fc.base.hasSuffix(".bvecs") && fc.truth?.hasSuffix("gnd/idx_1M.ivecs") == true)
        let empty = TemporaryDirectory("ds")
        #expect(errorMessage { _ = try DatasetFiles.locate(empty.path) }.contains("no base vectors"))
    }

    @Test("queries of another dimension than the base are rejected")
    func dimensionMismatch() throws {
        let dir = TemporaryDirectory("ds")
        try VectorFiles.writeFVecs(Datasets.uniform(n: 20, dim: 8, seed: 1), to: "\(dir.path)/base.fvecs")
        try VectorFiles.writeFVecs(Datasets.uniform(n: 3, dim: 6, seed: 2), to: "\(dir.path)/query.fvecs")
        let m = errorMessage { _ = try BenchData.load(try DatasetFiles.locate(dir.path), metric: .l2, cacheDirectory: "\(dir.path)/cache") }
        #expect(m.contains("dimension mismatch") && m.contains("8") && m.contains("6"), "\(m)")
    }

    @Test("missing ground truth is computed once, cached next to the data, and reused")
    func truthComputedAndCached() throws {
        let dir = TemporaryDirectory("ds")
        let base = Datasets.uniform(n: 300, dim: 8, seed: 5), queries = Datasets.uniform(n: 9, dim: 8, seed: 6)
        try VectorFiles.writeFVecs(base, to: "\(dir.path)/base.fvecs")
        try VectorFiles.writeFVecs(queries, to: "\(dir.path)/query.fvecs")
        let files = try DatasetFiles.locate(dir.path)
        #expect(files.truth == nil)
        let first = try BenchData.load(files, truthK: 20, metric: .l2, cacheDirectory: "\(dir.path)/cache")
        let cached = "\(dir.path)/groundtruth.vireo-l2-k20-n300-q9.ivecs"
        #expect(try VectorFiles.readIVecs(cached) == first.truth)
        #expect(first.truth[0] == Oracle.nearest(queries[0], in: base, k: 20, metric: .l2).map { Int32($0.index) })
        // A second load reads the cache: overwrite it with a recognisable (valid) permutation.
        let marked = first.truth.map { Array($0.reversed()) }
        try VectorFiles.writeIVecs(marked, to: cached)
        #expect(try BenchData.load(files, truthK: 20, metric: .l2, cacheDirectory: "\(dir.path)/cache").truth == marked)
        #expect(try BenchData.load(files, truthK: 20, metric: .l2, recomputeTruth: true, cacheDirectory: "\(dir.path)/cache").truth == first.truth)
    }

    @Test("a read-only data directory caches ground truth in the cache directory instead")
    func readOnlyDirectoryUsesCache() throws {
        let dir = TemporaryDirectory("ds")
        let data = "\(dir.path)/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        try VectorFiles.writeFVecs(Datasets.uniform(n: 50, dim: 4, seed: 8), to: "\(data)/base.fvecs")
        try VectorFiles.writeFVecs(Datasets.uniform(n: 4, dim: 4, seed: 9), to: "\(data)/query.fvecs")
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: data)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: data) }
        _ = try BenchData.load(try DatasetFiles.locate(data), truthK: 10, metric: .ip, cacheDirectory: "\(dir.path)/cache")
        let names = try FileManager.default.contentsOfDirectory(atPath: data)
        #expect(!names.contains { $0.hasPrefix("groundtruth") })
        let cached = try FileManager.default.subpathsOfDirectory(atPath: "\(dir.path)/cache").filter { $0.hasSuffix(".ivecs") }
        #expect(cached.count == 1)
    }

    @Test("shipped ground truth that does not match the queries or base is rejected")
    func mismatchedTruth() throws {
        let dir = TemporaryDirectory("ds")
        try VectorFiles.writeFVecs(Datasets.uniform(n: 10, dim: 4, seed: 1), to: "\(dir.path)/base.fvecs")
        try VectorFiles.writeFVecs(Datasets.uniform(n: 3, dim: 4, seed: 2), to: "\(dir.path)/query.fvecs")
        try VectorFiles.writeIVecs([[0, 1], [2, 3]], to: "\(dir.path)/groundtruth.ivecs")
        let files = try DatasetFiles.locate(dir.path)
        #expect(errorMessage { _ = try BenchData.load(files, metric: .l2, cacheDirectory: "\(dir.path)/c") }.contains("for 2 queries but there are 3"))
        try VectorFiles.writeIVecs([[0, 1], [2, 3], [4, 10]], to: "\(dir.path)/groundtruth.ivecs")
        #expect(errorMessage { _ = try BenchData.load(files, metric: .l2, cacheDirectory: "\(dir.path)/c") }.contains("names row 10"))
    }

    @Test("the metric is inferred from the vectors: unit length → IP, otherwise L2")
    func metricInference() {
        #expect(inferredMetric(Datasets.uniform(n: 10, dim: 8, seed: 1).map(Oracle.normalized)) == .ip)
        #expect(inferredMetric(Datasets.uniform(n: 10, dim: 8, seed: 1)) == .l2)
    }
}
