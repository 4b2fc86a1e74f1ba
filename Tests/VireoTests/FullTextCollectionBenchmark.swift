import Foundation
import Testing
@testable import Vireo
import VireoTestSupport
import VireoText

/// End to end through a collection: the 50,000 passages of `../shared/data/dev` inserted into a BM25
/// collection (`english` analyzer, as `vireo-text-bench`), sealed (posting lists built and stored),
/// then the 1,000 query texts searched top-10 one at a time and as one batch, one search thread.
/// Prints insert, seal and search times; asserts only that per-query and batch results agree and
/// equal `SparseExhaustive`'s exact ranking over the same rows (the oracle of the core).
///
/// Run: `VIREO_TEXT_BENCH=1 swift test -c release --filter FullTextCollectionBenchmark`
@Suite(.enabled(if: ProcessInfo.processInfo.environment["VIREO_TEXT_BENCH"] != nil))
struct FullTextCollectionBenchmark {
    static func lines(_ file: String) throws -> [String] {
        let data = try String(contentsOfFile: file, encoding: .utf8)
        return data.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return object["text"] as? String
        }
    }

    @Test("BM25 through Collection.search: insert, seal, per-query and batch QPS on the dev passages")
    func collectionBM25() async throws {
        let root = ProcessInfo.processInfo.environment["VIREO_DATASET"] ?? "../shared/data/dev"
        let passages = try Self.lines(root + "/passages.jsonl")
        let queries = try Self.lines(root + "/queries.jsonl")
        #expect(passages.count >= 1000 && queries.count >= 100)
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.searchThreads = 1
        config.sealRows = passages.count + 1
        config.compactionInterval = nil
        let db = try Database.open(at: dir.path, configuration: config)
        var text = FieldSchema(name: "text", dataType: .varChar, maxLength: 65_535)
        text.enableAnalyzer = true
        text.analyzerParams = #"{"type": "english"}"#
        var schema = CollectionSchema(name: "passages", fields: [.int64PrimaryKey("id"), text, FieldSchema(name: "sparse", dataType: .sparseFloatVector)])
        schema.functions = [.bm25(name: "bm25", input: "text", output: "sparse")]
        let c = try db.createCollection(schema)
        try await c.createIndex(IndexSpec(field: "sparse", milvusIndexType: "SPARSE_INVERTED_INDEX", metric: .bm25))
        let clock = ContinuousClock()
        let insertStart = clock.now
        for start in stride(from: 0, to: passages.count, by: 1000) {
            try await c.insert((start..<min(passages.count, start + 1000)).map { ["id": .int(Int64($0)), "text": .string(passages[$0])] })
        }
        let insert = clock.now - insertStart
        let sealStart = clock.now
        try await c.flush()
        let seal = clock.now - sealStart
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }
        var perQuery: [[SearchHit]] = []
        var bestSingle = Double.infinity
        for _ in 0..<3 {
            var out: [[SearchHit]] = []
            let t = clock.now
            for q in queries {
                var r = SearchRequest(vectors: [], limit: 10)
                r.texts = [q]
                out.append(try await c.search(r)[0])
            }
            bestSingle = min(bestSingle, seconds(clock.now - t))
            perQuery = out
        }
        var batch: [[SearchHit]] = []
        var bestBatch = Double.infinity
        for _ in 0..<3 {
            var r = SearchRequest(vectors: [], limit: 10)
            r.texts = queries
            let t = clock.now
            batch = try await c.search(r)
            bestBatch = min(bestBatch, seconds(clock.now - t))
        }
        #expect(batch.map { $0.map(\.id) } == perQuery.map { $0.map(\.id) })
        // The oracle: exhaustive BM25 over the same rows (term counts as the function made them).
        let analyzer = try Analyzer(json: #"{"type": "english"}"#)
        let rows = passages.map { TermHash.termCounts(analyzer.terms($0)) }
        var stats = BM25Statistics()
        for r in rows { stats.add(r) }
        var agree = 0
        for (i, q) in queries.enumerated().prefix(200) {
            let truth = SparseExhaustive.search(TermHash.termCounts(analyzer.terms(q)), rows: rows, metric: .bm25, k: 10, statistics: stats)
            if truth.map({ PrimaryKey.int(Int64($0.row)) }) == perQuery[i].map(\.id) { agree += 1 }
        }
        #expect(agree == min(200, queries.count))
        let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
        print(String(format: "FULLTEXT-BENCH rows %d queries %d | insert %.2f s (%.0f rows/s, analysis included) | seal+index %.2f s | per query %.0f QPS | batch %.0f QPS | load %@",
                     passages.count, queries.count, seconds(insert), Double(passages.count) / seconds(insert), seconds(seal),
                     Double(queries.count) / bestSingle, Double(queries.count) / bestBatch, load))
    }
}
