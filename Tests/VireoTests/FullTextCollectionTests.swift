import Foundation
import Testing
@testable import Vireo
import VireoStorage
import VireoTestSupport
import VireoText

/// Full-text search through a collection (BM25 functions, sparse fields, text_match), checked against
/// a brute-force BM25 scorer written here from Milvus' formula, over sealed and growing segments,
/// several shards, deletes, compaction and reopen.
@Suite struct FullTextCollectionTests {
    /// Seeded documents over a small Zipf-like vocabulary, so terms repeat and document lengths vary.
    static func documents(_ n: Int, seed: UInt64) -> [String] {
        var g = SeededGenerator(seed: seed)
        let vocabulary = (0..<300).map { "w\($0)" }
        return (0..<n).map { _ in
            let length = Int.random(in: 0...40, using: &g)
            return (0..<length).map { _ in
                // Skewed: low word numbers are frequent.
                let u = Double.random(in: 0..<1, using: &g)
                return vocabulary[min(vocabulary.count - 1, Int(Double(vocabulary.count) * u * u * u))]
            }.joined(separator: Int.random(in: 0..<4, using: &g) == 0 ? ", " : " ")
        }
    }

    static func schema(shards: Int = 1) -> CollectionSchema {
        var text = FieldSchema(name: "text", dataType: .varChar, maxLength: 4096)
        text.enableAnalyzer = true
        text.enableMatch = true
        var s = CollectionSchema(name: "docs", fields: [
            .int64PrimaryKey("id"), text, FieldSchema(name: "sparse", dataType: .sparseFloatVector),
            FieldSchema(name: "tag", dataType: .int64),
        ], shardsNum: shards)
        s.functions = [.bm25(name: "bm25", input: "text", output: "sparse")]
        return s
    }

    /// Milvus' BM25 over `docs` (statistics over `counted`, scores for `live`), by brute force.
    struct Oracle {
        let tokens: [Int64: [String]]
        let counted: [Int64]
        var k1 = 1.2, b = 0.75

        /// `query` without the terms Milvus' `drop_ratio_search` drops: weights qtf × IDF over the
        /// collection, terms below the weight at position ⌊ratio·n⌋ (ascending) dropped.
        func pruned(_ query: String, ratio: Double) -> String {
            var qtf: [String: Double] = [:]
            for t in Analyzer(.standard).terms(query) { qtf[t, default: 0] += 1 }
            let n = Double(counted.count)
            let weights = qtf.map { t, c in
                let d = Double(counted.filter { tokens[$0]!.contains(t) }.count)
                return (t, c * log(1 + (n - d + 0.5) / (d + 0.5)))
            }
            guard weights.count > 1 else { return query }
            let sorted = weights.map(\.1).sorted()
            let threshold = sorted[Int(Double(sorted.count) * ratio)]
            return weights.filter { $0.1 >= threshold - 1e-6 * threshold }.flatMap { t, _ in Array(repeating: t, count: Int(qtf[t]!)) }.joined(separator: " ")
        }

        func topK(_ query: String, live: Set<Int64>, k: Int) -> [(id: Int64, score: Double)] {
            let analyzer = Analyzer(.standard)
            var qtf: [String: Double] = [:]
            for t in analyzer.terms(query) { qtf[t, default: 0] += 1 }
            let n = Double(counted.count)
            let avgdl = counted.isEmpty ? 1 : Double(counted.reduce(0) { $0 + tokens[$1]!.count }) / n
            var df: [String: Double] = [:]
            for id in counted { for t in Set(tokens[id]!) where qtf[t] != nil { df[t, default: 0] += 1 } }
            var out: [(id: Int64, score: Double)] = []
            for id in live {
                let doc = tokens[id]!
                var tf: [String: Double] = [:]
                for t in doc where qtf[t] != nil { tf[t, default: 0] += 1 }
                guard !tf.isEmpty else { continue }
                let dl = Double(doc.count)
                var s = 0.0
                for (t, f) in tf {
                    let d = df[t] ?? 0
                    let idf = log(1 + (n - d + 0.5) / (d + 0.5))
                    s += qtf[t]! * idf * f * (k1 + 1) / (f + k1 * (1 - b + b * dl / avgdl))
                }
                out.append((id, s))
            }
            out.sort { $0.score > $1.score || ($0.score == $1.score && $0.id < $1.id) }
            return Array(out.prefix(k))
        }
    }

    /// The hits equal the oracle's top-k, allowing ties (equal scores within float error) in any order.
    static func expectSame(_ hits: [SearchHit], _ truth: [(id: Int64, score: Double)], _ what: String) {
        #expect(hits.count == truth.count, "\(what): \(hits.count) hits, oracle \(truth.count)")
        for (h, t) in zip(hits, truth) {
            #expect(abs(Double(h.score) - t.score) <= 1e-4 * max(1, t.score), "\(what): score \(h.score) vs \(t.score)")
        }
        // Ids must agree except where neighbouring scores tie.
        let boundary = truth.last?.score ?? 0
        let strict = Set(truth.filter { $0.score > boundary + 1e-4 * max(1, boundary) }.map(\.id))
        let got = Set(hits.compactMap { if case let .int(i) = $0.id { i } else { nil } })
        #expect(strict.isSubset(of: got), "\(what): missing \(strict.subtracting(got))")
    }

    @Test("BM25 search equals brute-force BM25 over sealed and growing segments, several shards, every algorithm, and after reopen",
          arguments: [1, 3])
    func bm25MatchesOracle(shards: Int) async throws {
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 300
        config.compactionInterval = nil
        let texts = Self.documents(1_000, seed: 17)
        var rows: [Row] = []
        var tokens: [Int64: [String]] = [:]
        let analyzer = Analyzer(.standard)
        for (i, t) in texts.enumerated() {
            rows.append(["id": .int(Int64(i)), "text": .string(t), "tag": .int(Int64(i % 7))])
            tokens[Int64(i)] = analyzer.terms(t)
        }
        let oracle = Oracle(tokens: tokens, counted: Array(tokens.keys))
        let live = Set(tokens.keys)
        let queries = Self.documents(40, seed: 99).map { String($0.prefix(30)) } + ["w0 w0 w1", "nothing matches this"]
        do {
            let db = try Database.open(at: dir.path, configuration: config)
            let c = try db.createCollection(Self.schema(shards: shards))
            try await c.createIndex(IndexSpec(field: "sparse", milvusIndexType: "SPARSE_INVERTED_INDEX", metric: .bm25))
            for chunk in stride(from: 0, to: rows.count, by: 137) { try await c.insert(Array(rows[chunk..<min(rows.count, chunk + 137)])) }
            #expect(c.statistics().contains { $0.sealedSegments > 0 } && c.statistics().contains { $0.growingRows > 0 })
            for algorithm in InvertedIndexAlgorithm.allCases {
                var spec = try IndexSpec(field: "sparse", milvusIndexType: "SPARSE_INVERTED_INDEX", metric: .bm25)
                spec.sparse = SparseIndexConfiguration(algorithm: algorithm.rawValue)
                try await c.dropIndex(field: "sparse")
                try await c.createIndex(spec)
                var request = SearchRequest(vectors: [], annsField: "sparse", limit: 10)
                request.texts = queries
                let hits = try await c.search(request)
                for (q, h) in zip(queries, hits) { Self.expectSame(h, oracle.topK(q, live: live, k: 10), "\(algorithm) \(q)") }
                #expect(hits.last!.isEmpty, "a query sharing no term finds nothing")
            }
            // drop_ratio_search drops the query's lightest terms by collection-wide weights, whatever
            // the segments hold.
            var dropping = SearchRequest(vectors: [], annsField: "sparse", limit: 10)
            dropping.texts = queries.filter { Set(Analyzer(.standard).terms($0)).count >= 4 }
            dropping.params.dropRatio = 0.5
            #expect(dropping.texts.count >= 10)
            var changed = 0
            for (q, h) in zip(dropping.texts, try await c.search(dropping)) {
                let p = oracle.pruned(q, ratio: 0.5)
                if p.split(separator: " ").count < Analyzer(.standard).terms(q).count { changed += 1 }
                Self.expectSame(h, oracle.topK(p, live: live, k: 10), "drop_ratio_search 0.5 \(q)")
            }
            #expect(changed == dropping.texts.count, "every query loses terms at ratio 0.5")
            // Filters choose the rows, never the statistics.
            var filtered = SearchRequest(vectors: [], annsField: "sparse", limit: 10, filter: "tag == 3")
            filtered.texts = Array(queries.prefix(10))
            let tagged = Set(live.filter { $0 % 7 == 3 })
            for (q, h) in zip(filtered.texts, try await c.search(filtered)) { Self.expectSame(h, oracle.topK(q, live: tagged, k: 10), "filtered \(q)") }
        }
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.collection("docs")
        // Every sealed segment stored its posting lists at seal (searches after reopen read them).
        for shard in c.shards {
            for seg in shard.snapshot.sealed {
                let stored = try shard.environment.read { txn in try txn.get(shard.blobs, key: SegmentKeys.sparseIndex(seg.id, field: 2)) }
                #expect(stored != nil, "segment \(seg.id) has no stored sparse index")
            }
        }
        #expect(try db.check().problemCount == 0)
        var request = SearchRequest(vectors: [], limit: 5)
        request.texts = Array(queries.prefix(10))
        for (q, h) in zip(request.texts, try await c.search(request)) { Self.expectSame(h, oracle.topK(q, live: live, k: 5), "reopened \(q)") }
    }

    @Test("deleted rows count in the BM25 statistics until compaction, are never returned, and compaction makes the statistics those of the live rows")
    func deletesAndCompaction() async throws {
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 250
        config.compactionInterval = nil
        config.compactionDeletedFraction = 0.01
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.createCollection(Self.schema())
        let texts = Self.documents(800, seed: 5)
        let analyzer = Analyzer(.standard)
        var tokens: [Int64: [String]] = [:]
        for (i, t) in texts.enumerated() { tokens[Int64(i)] = analyzer.terms(t) }
        try await c.insert(texts.enumerated().map { ["id": .int(Int64($0.offset)), "text": .string($0.element), "tag": .int(0)] })
        try await c.flush()
        let victims = tokens.keys.filter { $0 % 3 == 0 }
        #expect(try await c.delete(ids: victims.map { .int($0) }) == victims.count)
        let live = Set(tokens.keys).subtracting(victims)
        var request = SearchRequest(vectors: [], limit: 10)
        request.texts = Self.documents(20, seed: 6).map { String($0.prefix(24)) }.filter { !$0.isEmpty }
        let before = try await c.search(request)
        let withDeleted = Oracle(tokens: tokens, counted: Array(tokens.keys))
        let liveOnly = Oracle(tokens: tokens, counted: Array(live))
        var differ = 0
        for (q, h) in zip(request.texts, before) {
            Self.expectSame(h, withDeleted.topK(q, live: live, k: 10), "before compaction \(q)")
            let other = liveOnly.topK(q, live: live, k: 10)
            if zip(h, other).contains(where: { abs(Double($0.score) - $1.score) > 1e-3 }) { differ += 1 }
        }
        #expect(differ >= 5, "the two statistics must differ for the check to mean anything")
        let report = try await c.compact()
        #expect(report.rowsRemoved == victims.count)
        for (q, h) in zip(request.texts, try await c.search(request)) { Self.expectSame(h, liveOnly.topK(q, live: live, k: 10), "after compaction \(q)") }
    }

    @Test("text_match (any word) and phrase_match (words in order, with slop) in query, search and delete select exactly the rows the analysed text says")
    func textMatch() async throws {
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 200
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.createCollection(Self.schema())
        let texts = Self.documents(500, seed: 11)
        try await c.insert(texts.enumerated().map { ["id": .int(Int64($0.offset)), "text": .string($0.element), "tag": .int(Int64($0.offset % 2))] })
        let analyzer = Analyzer(.standard)
        func expected(_ words: [String], where keep: (Int) -> Bool = { _ in true }) -> Set<Int64> {
            Set(texts.indices.filter { keep($0) && !Set(analyzer.terms(texts[$0])).isDisjoint(with: words) }.map(Int64.init))
        }
        func ids(_ rows: [Row]) -> Set<Int64> { Set(rows.compactMap { if case let .int(i)? = $0["id"] { i } else { nil } }) }
        let got = ids(try c.query(filter: "text_match(text, 'W150 w200,w299')", outputFields: ["id"]))
        #expect(!got.isEmpty && got == expected(["w150", "w200", "w299"]))
        // Answered from the segments' term indexes (built once per segment), not by analysing every row.
        #expect(!c.shards[0].snapshot.sealed.isEmpty && c.shards[0].snapshot.sealed.allSatisfy { $0.columns.textTermStructures == 1 })
        let combined = ids(try c.query(filter: "text_match(text, 'w120') and tag == 1", outputFields: ["id"]))
        #expect(combined == expected(["w120"], where: { $0 % 2 == 1 }))
        let negated = ids(try c.query(filter: "not text_match(text, 'w1')", outputFields: ["id"]))
        #expect(negated == Set((0..<Int64(texts.count))).subtracting(expected(["w1"])))
        #expect(try c.query(filter: "text_match(text, '')", outputFields: ["id"]).isEmpty)
        var search = SearchRequest(vectors: [], limit: 50, filter: "text_match(text, 'w250')")
        search.texts = ["w3 w4 w250"]
        let hits = try await c.search(search)[0]
        #expect(Set(hits.compactMap { if case let .int(i) = $0.id { i } else { nil } }).isSubset(of: expected(["w250"])))
        let gone = expected(["w170"])
        #expect(try await c.delete(filter: "text_match(text, 'w170')") == gone.count)
        #expect(ids(try c.query(filter: "id >= 0", outputFields: ["id"])) == Set((0..<Int64(texts.count))).subtracting(gone))
        // phrase_match: the words in order, at most `slop` tokens between neighbours.
        func phrase(_ words: [String], slop: Int) -> Set<Int64> {
            Set(texts.indices.filter { i in
                let tokens = analyzer.terms(texts[i])
                func extend(_ k: Int, after p: Int) -> Bool {
                    if k == words.count { return true }
                    for j in (p + 1)..<min(tokens.count, p + 2 + slop) where tokens[j] == words[k] && extend(k + 1, after: j) { return true }
                    return false
                }
                return tokens.indices.contains { tokens[$0] == words[0] && extend(1, after: $0) }
            }.map(Int64.init))
        }
        for (words, slop) in [(["w0", "w1"], 0), (["w0", "w1"], 2), (["w1", "w0", "w2"], 1), (["w3", "w0"], 0)] {
            let expr = slop == 0 ? "phrase_match(text, '\(words.joined(separator: " "))')" : "phrase_match(text, '\(words.joined(separator: " "))', \(slop))"
            let got = ids(try c.query(filter: expr, outputFields: ["id"]))
            #expect(!got.isEmpty && got == phrase(words, slop: slop).subtracting(gone), "\(expr)")
        }
        #expect(ids(try c.query(filter: "phrase_match(text, 'w0 w1', 3)", outputFields: ["id"])).count
                > ids(try c.query(filter: "phrase_match(text, 'w0 w1')", outputFields: ["id"])).count)
        // text_match needs enable_match.
        #expect(throws: VireoError.self) { try c.query(filter: "text_match(tag, 'x')") }
    }

    @Test("a function's output is computed, never written or returned by clients")
    func functionOutput() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let c = try db.createCollection(Self.schema())
        await #expect(throws: VireoError.self) {
            try await c.insert([["id": .int(1), "text": .string("a b"), "tag": .int(0), "sparse": .sparseVector(try SparseVector([(1, 1)]))]])
        }
        try await c.insert([["id": .int(1), "text": .string("Hello hello world"), "tag": .int(0)]])
        let row = try c.get(ids: [.int(1)], outputFields: ["*"])[0]
        #expect(row["sparse"] == nil && row["text"] == .string("Hello hello world"))
        #expect(throws: VireoError.self) { try c.get(ids: [.int(1)], outputFields: ["sparse"]) }
        // The stored term counts are Milvus' (hash ids, counts), as the function makes them.
        let stored = try c.shards[0].sparseRows([c.shards[0].snapshot.growing.blocks[0].scalars[0]], field: "sparse")[0]
        #expect(stored == TermHash.termCounts(["hello", "hello", "world"]))
    }

    @Test("user-given sparse vectors: IP search equals brute-force inner products; rows read back as inserted", arguments: [false, true])
    func sparseIP(sealed: Bool) async throws {
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = sealed ? 100 : 100_000
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.createCollection(CollectionSchema(name: "sp", fields: [.int64PrimaryKey("id"), FieldSchema(name: "v", dataType: .sparseFloatVector)]))
        var g = SeededGenerator(seed: 3)
        func random() throws -> SparseVector {
            let n = Int.random(in: 1...20, using: &g)
            var pairs: [UInt32: Float] = [:]
            for _ in 0..<n { pairs[UInt32.random(in: 0..<500, using: &g)] = Float.random(in: 0.01..<2, using: &g) }
            return try SparseVector(pairs.map { ($0.key, $0.value) })
        }
        let vectors = try (0..<400).map { _ in try random() }
        try await c.insert(vectors.enumerated().map { ["id": .int(Int64($0.offset)), "v": .sparseVector($0.element)] })
        #expect(sealed == c.statistics().contains { $0.sealedSegments > 0 })
        let got = try c.get(ids: (0..<400).map { .int($0) }, outputFields: ["v"])
        for row in got {
            guard case let .int(i)? = row["id"] else { continue }
            #expect(row["v"] == .sparseVector(vectors[Int(i)]))
        }
        var request = SearchRequest(vectors: [], limit: 10)
        request.sparseVectors = try (0..<20).map { _ in try random() }
        let hits = try await c.search(request)
        for (q, h) in zip(request.sparseVectors, hits) {
            var truth = vectors.enumerated().map { (id: Int64($0.offset), score: Double($0.element.dot(q))) }.filter { $0.score > 0 }
            truth.sort { $0.score > $1.score || ($0.score == $1.score && $0.id < $1.id) }
            Self.expectSame(h, Array(truth.prefix(10)), "IP")
        }
        // BM25 is for a BM25 function's output; text queries too.
        var bm25 = SearchRequest(vectors: [], limit: 10, metric: .bm25)
        bm25.sparseVectors = request.sparseVectors
        await #expect(throws: VireoError.self) { try await c.search(bm25) }
        var text = SearchRequest(vectors: [], annsField: "v", limit: 10)
        text.texts = ["hello"]
        await #expect(throws: VireoError.self) { try await c.search(text) }
    }

    @Test("schemas with functions and analyzers are validated with Milvus' rules")
    func schemaValidation() throws {
        func refused(_ edit: (inout CollectionSchema) -> Void) -> Bool {
            var s = Self.schema()
            edit(&s)
            do { try s.validate(); return false } catch { return true }
        }
        #expect(!refused { _ in })
        #expect(refused { $0.fields[1].enableAnalyzer = false; $0.fields[1].enableMatch = false })  // BM25 input must be analysed
        #expect(refused { $0.functions[0].outputFields = ["tag"] })  // output must be sparse
        #expect(refused { $0.functions[0].inputFields = ["tag"] })  // input must be VarChar
        #expect(refused { $0.functions[0].inputFields = ["nope"] })
        #expect(refused { $0.functions.append($0.functions[0]) })  // duplicate name and output
        #expect(refused { $0.fields[1].analyzerParams = #"{"tokenizer": "nope"}"# })
        #expect(refused { $0.fields[3].enableAnalyzer = true })  // only VarChar is analysed
        #expect(refused { $0.fields[1].enableAnalyzer = false })  // enable_match needs enable_analyzer
        #expect(refused { $0.fields[2].nullable = true })  // a function's output is not nullable
        #expect(refused { $0.functions[0].params = ["k1": "1.2"] })
        #expect(!refused { $0.fields[1].analyzerParams = #"{"type": "english"}"# })
        // A schema of only a sparse field is a valid collection (it has a vector field to search).
        #expect(throws: Never.self) { try CollectionSchema(name: "s", fields: [.int64PrimaryKey(), FieldSchema(name: "v", dataType: .sparseFloatVector)]).validate() }
    }
}
