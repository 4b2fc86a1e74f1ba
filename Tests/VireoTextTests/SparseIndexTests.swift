import Foundation
import Testing
import VireoKernels
@testable import VireoText

/// Seeded random corpora with a Zipf-like term distribution (a few very common terms, a long tail),
/// so posting lists span many blocks and pruning has work to do.
struct Corpus {
    var rows: [SparseVector]
    var vocabulary: [UInt32]
    var rng: SplitMix64

    init(seed: UInt64, rows count: Int, vocabulary size: Int, metric: SparseMetric) {
        rng = SplitMix64(seed: seed)
        var vocab = Set<UInt32>()
        while vocab.count < size { vocab.insert(UInt32.random(in: 0...SparseVector.maxIndex, using: &rng)) }
        vocabulary = vocab.sorted().shuffled(using: &rng)
        rows = []
        for _ in 0..<count { rows.append(Self.row(&rng, vocabulary: vocabulary, metric: metric, maxTerms: 40)) }
    }

    /// Rank r drawn with probability ∝ 1/(r+1): inverse of a log-uniform variable.
    static func zipf(_ rng: inout SplitMix64, _ n: Int) -> Int {
        let u = Double.random(in: 0..<1, using: &rng)
        return min(n - 1, Int(exp(u * log(Double(n) + 1))) - 1)
    }

    static func row(_ rng: inout SplitMix64, vocabulary: [UInt32], metric: SparseMetric, maxTerms: Int) -> SparseVector {
        let n = Int.random(in: 0...maxTerms, using: &rng)
        var pairs: [UInt32: Float] = [:]
        for _ in 0..<n {
            let t = vocabulary[zipf(&rng, vocabulary.count)]
            switch metric {
            case .bm25: pairs[t, default: 0] += 1
            // Weights on a coarse grid, so equal scores (ties) happen and tie-breaking is tested.
            case .ip: pairs[t] = Float(Int.random(in: 1...8, using: &rng)) / 8
            }
        }
        return try! SparseVector(pairs.map { ($0.key, $0.value) })
    }

    mutating func query(terms: Int, metric: SparseMetric) -> SparseVector {
        var pairs: [UInt32: Float] = [:]
        for _ in 0..<terms {
            // Mix common and rare terms, plus sometimes a term no row has.
            let t = Int.random(in: 0..<10, using: &rng) == 0 ? UInt32.random(in: 0...SparseVector.maxIndex, using: &rng)
                : vocabulary[Self.zipf(&rng, vocabulary.count)]
            pairs[t] = metric == .bm25 ? Float(Int.random(in: 1...2, using: &rng)) : Float(Int.random(in: 1...16, using: &rng)) / 4
        }
        return try! SparseVector(pairs.map { ($0.key, $0.value) })
    }
}

@Suite("Sparse inverted index")
struct SparseIndexTests {
    static let sizes = [0, 1, 5, 127, 128, 129, 700, 3000]

    @Test("WAND, MaxScore and TAAT return exactly the exhaustive top-k (rows, scores, ties)",
          arguments: [SparseMetric.bm25, .ip])
    func pruningIsExact(metric: SparseMetric) throws {
        var checked = 0
        for seed in UInt64(0)..<40 {
            let size = Self.sizes[Int(seed) % Self.sizes.count]
            var corpus = Corpus(seed: seed &* 7919 &+ 1, rows: size, vocabulary: [20, 200, 2000][Int(seed) % 3], metric: metric)
            let index = try SparseInvertedIndex(rows: corpus.rows, metric: metric)
            var stats = BM25Statistics()
            for r in corpus.rows { stats.add(r) }
            for q in 0..<6 {
                let query = corpus.query(terms: [1, 2, 4, 8, 16, 3][q], metric: metric)
                for k in [1, 3, 10, 50, 5000] {
                    let params = BM25Parameters(k1: [1.2, 1.5, 2][q % 3], b: [0.75, 0, 1][(q + Int(seed)) % 3])
                    let options = SparseSearchOptions(bm25: params)
                    let expected = SparseExhaustive.search(query, rows: corpus.rows, metric: metric, k: k, statistics: stats, options: options)
                    #expect(expected.count <= k)
                    for algorithm in InvertedIndexAlgorithm.allCases {
                        var o = options
                        o.algorithm = algorithm
                        let got = index.search(query, k: k, statistics: stats, options: o)
                        #expect(got == expected, "seed \(seed) size \(size) q \(q) k \(k) \(algorithm)")
                        checked += 1
                    }
                }
            }
        }
        #expect(checked == 40 * 6 * 5 * 3)
    }

    @Test("exact at scale: many 4096-row windows, long queries (30 terms)", arguments: [SparseMetric.bm25, .ip])
    func pruningAtScale(metric: SparseMetric) throws {
        for seed in UInt64(500)..<503 {
            var corpus = Corpus(seed: seed, rows: 20_000, vocabulary: 3000, metric: metric)
            let index = try SparseInvertedIndex(rows: corpus.rows, metric: metric)
            var stats = BM25Statistics()
            for r in corpus.rows { stats.add(r) }
            for terms in [3, 30, 30, 60] {
                let query = corpus.query(terms: terms, metric: metric)
                let expected = SparseExhaustive.search(query, rows: corpus.rows, metric: metric, k: 10, statistics: stats)
                for algorithm in InvertedIndexAlgorithm.allCases {
                    let got = index.search(query, k: 10, statistics: stats, options: SparseSearchOptions(algorithm: algorithm))
                    #expect(got == expected, "seed \(seed) terms \(terms) \(algorithm)")
                }
            }
        }
    }

    @Test("excluded (deleted or filtered) rows never appear, and the rest is still exact")
    func exclusion() throws {
        for seed in UInt64(100)..<110 {
            var corpus = Corpus(seed: seed, rows: 1500, vocabulary: 300, metric: .bm25)
            let index = try SparseInvertedIndex(rows: corpus.rows, metric: .bm25)
            var stats = BM25Statistics()
            for r in corpus.rows { stats.add(r) }
            let excluded: (UInt32) -> Bool = { $0 % 3 == 0 }
            let query = corpus.query(terms: 5, metric: .bm25)
            let expected = SparseExhaustive.search(query, rows: corpus.rows, metric: .bm25, k: 20, statistics: stats, excluded: excluded)
            for algorithm in InvertedIndexAlgorithm.allCases {
                let got = index.search(query, k: 20, statistics: stats, options: SparseSearchOptions(algorithm: algorithm), excluded: excluded)
                #expect(got == expected)
                #expect(got.allSatisfy { $0.row % 3 != 0 })
            }
        }
    }

    @Test("drop_ratio_search drops the smallest-weight terms, the same way in the index and the exhaustive scan")
    func dropRatio() throws {
        var corpus = Corpus(seed: 5, rows: 2000, vocabulary: 400, metric: .bm25)
        let index = try SparseInvertedIndex(rows: corpus.rows, metric: .bm25)
        var stats = BM25Statistics()
        for r in corpus.rows { stats.add(r) }
        for _ in 0..<20 {
            let query = corpus.query(terms: 10, metric: .bm25)
            for ratio in [0.0, 0.2, 0.5, 0.9] {
                let options = SparseSearchOptions(algorithm: .daatWAND, dropRatio: ratio)
                let expected = SparseExhaustive.search(query, rows: corpus.rows, metric: .bm25, k: 10, statistics: stats, options: options)
                #expect(index.search(query, k: 10, statistics: stats, options: options) == expected)
            }
            // Dropping every term but the heaviest: every hit contains that term.
            let kept = index.prepare(query, statistics: stats, dropRatio: 0.99)
            #expect(kept.count == 1 || index.prepare(query, statistics: stats, dropRatio: 0).count <= 1)
        }
        #expect(throws: TextError.self) { try SparseSearchOptions(dropRatio: 1).validated() }
        #expect(throws: TextError.self) { try SparseSearchOptions(dropRatio: -0.1).validated() }
    }

    @Test("BM25 scores match an independent Double-precision scorer over raw tokens")
    func bm25Oracle() throws {
        var rng = SplitMix64(seed: 42)
        let words = (0..<60).map { "w\($0)" }
        let docs: [[String]] = (0..<800).map { _ in
            (0..<Int.random(in: 0...30, using: &rng)).map { _ in words[Corpus.zipf(&rng, words.count)] }
        }
        let rows = docs.map { TermHash.termCounts($0) }
        let index = try SparseInvertedIndex(rows: rows, metric: .bm25)
        var stats = BM25Statistics()
        for r in rows { stats.add(r) }
        // The oracle: Milvus' formula straight from the token lists.
        let n = Double(docs.count)
        let avgdl = Double(docs.reduce(0) { $0 + $1.count }) / n
        var df: [String: Double] = [:]
        for d in docs { for w in Set(d) { df[w, default: 0] += 1 } }
        let (k1, b) = (1.5, 0.6)
        for _ in 0..<50 {
            let q = (0..<Int.random(in: 1...6, using: &rng)).map { _ in words[Int.random(in: 0..<words.count, using: &rng)] }
            var qCount: [String: Double] = [:]
            for w in q { qCount[w, default: 0] += 1 }
            var oracle: [(Int, Double)] = []
            for (i, d) in docs.enumerated() {
                var tf: [String: Double] = [:]
                for w in d { tf[w, default: 0] += 1 }
                var s = 0.0
                var hit = false
                for (w, c) in qCount {
                    guard let f = tf[w] else { continue }
                    hit = true
                    let dfw: Double = df[w]!
                    let idf: Double = log(1 + (n - dfw + 0.5) / (dfw + 0.5))
                    let dl = Double(d.count)
                    let norm: Double = k1 * (1 - b + b * dl / avgdl)
                    let part: Double = f * (k1 + 1) / (f + norm)
                    s += c * idf * part
                }
                if hit { oracle.append((i, s)) }
            }
            oracle.sort { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
            let got = index.search(TermHash.termCounts(q), k: 10, statistics: stats,
                                   options: SparseSearchOptions(bm25: BM25Parameters(k1: Float(k1), b: Float(b))))
            #expect(got.count == min(10, oracle.count))
            for (i, hit) in got.enumerated() {
                let exact = oracle.first { $0.0 == Int(hit.row) }!.1
                #expect(abs(Double(hit.score) - exact) <= 1e-4 * exact, "row \(hit.row)")
                #expect(abs(Double(hit.score) - oracle[i].1) <= 1e-4 * oracle[i].1, "rank \(i)")
                #expect(hit.score > 0)
            }
        }
    }

    @Test("statistics stay exact under inserts and deletes")
    func statisticsAfterDeletes() throws {
        var corpus = Corpus(seed: 9, rows: 1000, vocabulary: 100, metric: .bm25)
        var stats = BM25Statistics()
        for r in corpus.rows { stats.add(r) }
        var rng = SplitMix64(seed: 10)
        var live = Array(corpus.rows.indices)
        live.shuffle(using: &rng)
        let deleted = live.prefix(400)
        for r in deleted { try stats.remove(corpus.rows[r]) }
        var fresh = BM25Statistics()
        for r in live.dropFirst(400).sorted() { fresh.add(corpus.rows[r]) }
        #expect(stats == fresh)
        #expect(stats.documentCount == 600)
        // Terms whose every row was deleted are gone, not left at df 0.
        #expect(!stats.documentFrequency.values.contains(0))
        // Delete everything: back to empty.
        for r in live.dropFirst(400) { try stats.remove(corpus.rows[r]) }
        #expect(stats == BM25Statistics())
        // Removing what was never added is refused and changes nothing.
        var one = BM25Statistics()
        one.add(try SparseVector([(7, 2)]))
        #expect(throws: TextError.self) { try one.remove(try SparseVector([(8, 1)])) }
        var empty = BM25Statistics()
        #expect(throws: TextError.self) { try empty.remove(try SparseVector([(7, 1)])) }
        #expect(one.documentCount == 1 && one.df(7) == 1 && one.totalLength == 2)
        // Merge of shards = one collection.
        var a = BM25Statistics(), b = BM25Statistics(), all = BM25Statistics()
        for (i, r) in corpus.rows.enumerated() { if i % 2 == 0 { a.add(r) } else { b.add(r) }; all.add(r) }
        a.merge(b)
        #expect(a == all)
        // Stored form round-trips and detects damage.
        let bytes = all.serialize()
        #expect(try BM25Statistics(serialized: bytes) == all)
        var damaged = bytes
        damaged[damaged.count / 2] ^= 0x10
        #expect(throws: TextError.self) { try BM25Statistics(serialized: damaged) }
        _ = corpus.query(terms: 1, metric: .bm25)
    }

    @Test("the stored index round-trips and searches identically", arguments: [SparseMetric.bm25, .ip])
    func roundTrip(metric: SparseMetric) throws {
        var corpus = Corpus(seed: 77, rows: 2500, vocabulary: 500, metric: metric)
        let index = try SparseInvertedIndex(rows: corpus.rows, metric: metric)
        let copy = try SparseInvertedIndex(serialized: index.serialize())
        #expect(copy.serialize() == index.serialize())
        #expect(copy.termCount == index.termCount && copy.postingCount == index.postingCount)
        var stats = BM25Statistics()
        for r in corpus.rows { stats.add(r) }
        for _ in 0..<20 {
            let q = corpus.query(terms: 6, metric: metric)
            #expect(copy.search(q, k: 10, statistics: stats) == index.search(q, k: 10, statistics: stats))
        }
        // Postings decode to exactly the rows given.
        for t in corpus.vocabulary.prefix(50) {
            let expected = corpus.rows.enumerated().compactMap { r, row in row[t] > 0 ? (UInt32(r), row[t]) : nil }
            let got = index.postings(of: t)
            #expect(got.map(\.row) == expected.map(\.0))
            #expect(got.map(\.value) == expected.map(\.1))
        }
    }

    @Test("a damaged or hostile index blob is refused or harmless, never a crash")
    func hostileBlobs() throws {
        var corpus = Corpus(seed: 3, rows: 400, vocabulary: 60, metric: .bm25)
        let index = try SparseInvertedIndex(rows: corpus.rows, metric: .bm25)
        let bytes = index.serialize()
        #expect(throws: TextError.self) { try SparseInvertedIndex(serialized: Array(bytes.prefix(bytes.count - 1))) }
        #expect(throws: TextError.self) { try SparseInvertedIndex(serialized: []) }
        var flipped = bytes
        flipped[100] ^= 1
        #expect(throws: TextError.self) { try SparseInvertedIndex(serialized: flipped) }
        // Byte changes with a recomputed checksum (as a bug or an attacker would write): every one is
        // either refused or yields an index that searches without trapping.
        var rng = SplitMix64(seed: 4)
        var refused = 0
        let body = Array(bytes.dropLast(4))
        for _ in 0..<600 {
            var b = body
            let at = Int.random(in: 0..<b.count, using: &rng)
            b[at] = UInt8.random(in: 0...255, using: &rng)
            var w = ByteWriter()
            w.bytes = b
            w.appendChecksum()
            if let parsed = try? SparseInvertedIndex(serialized: w.bytes) {
                var stats = BM25Statistics()
                for r in corpus.rows { stats.add(r) }
                for algorithm in InvertedIndexAlgorithm.allCases {
                    _ = parsed.search(corpus.query(terms: 4, metric: .bm25), k: 5, statistics: stats, options: SparseSearchOptions(algorithm: algorithm))
                }
            } else {
                refused += 1
            }
        }
        #expect(refused > 0)
    }

    @Test("sparse vectors are validated as Milvus rows")
    func sparseValidation() throws {
        #expect(throws: TextError.self) { try SparseVector([(1, -0.5)]) }
        #expect(throws: TextError.self) { try SparseVector([(1, .nan)]) }
        #expect(throws: TextError.self) { try SparseVector([(1, .infinity)]) }
        #expect(throws: TextError.self) { try SparseVector([(3, 1), (3, 2)]) }
        #expect(throws: TextError.self) { try SparseVector([(UInt32.max, 1)]) }
        let v = try SparseVector([(9, 2), (1, 0), (4, 0.5)])
        #expect(v.indices == [4, 9] && v.values == [0.5, 2])
        let w = try SparseVector([(4, 2), (5, 1), (9, 1)])
        #expect(v.dot(w) == 3)
        #expect(throws: TextError.self) { try SparseInvertedIndex(rows: [try SparseVector([(1, 1.5)])], metric: .bm25) }
    }
}
