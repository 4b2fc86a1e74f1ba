import Foundation

/// BM25 scoring parameters (Milvus index params `bm25_k1`, `bm25_b`).
public struct BM25Parameters: Sendable, Equatable {
    public var k1: Float
    public var b: Float

    /// Milvus' defaults.
    public static let `default` = BM25Parameters(k1: 1.2, b: 0.75)

    /// Milvus' ranges: `bm25_k1` in [0, 3], `bm25_b` in [0, 1] (knowhere's config checks).
    public init(k1: Float, b: Float) {
        self.k1 = k1
        self.b = b
    }

    public static func validated(k1: Double, b: Double) throws(TextError) -> BM25Parameters {
        guard k1.isFinite, k1 >= 0, k1 <= 3 else { throw .invalid("bm25_k1 is \(k1); it must be in [0, 3]") }
        guard b.isFinite, b >= 0, b <= 1 else { throw .invalid("bm25_b is \(b); it must be in [0, 1]") }
        return BM25Parameters(k1: Float(k1), b: Float(b))
    }
}

/// Collection-wide BM25 statistics: the number of documents N, their total length Σdl, and each
/// term's document frequency df.
///
/// **Deleted rows.** Milvus keeps deleted rows in these statistics until compaction rewrites the
/// segment, and so does the engine (`Vireo`): it sums each search's statistics from the segments'
/// stored rows (the posting-list lengths of sealed segments, the rows of growing ones), deleted rows
/// included until compaction drops them, and builds this value with
/// ``init(documentCount:totalLength:documentFrequency:)`` for the query's terms only. ``add(_:)`` and
/// ``remove(_:)`` serve callers that keep running statistics instead (tests, tools).
///
/// The statistics are a commutative sum of per-document contributions, so a shard, a segment or a
/// collection holds one each and ``merge(_:)`` combines them.
public struct BM25Statistics: Sendable, Equatable {
    public private(set) var documentCount: Int64 = 0
    public private(set) var totalLength: Int64 = 0
    public private(set) var documentFrequency: [UInt32: Int64] = [:]

    public init() {}

    /// Statistics assembled by the caller from parts (the engine sums per-segment counts, and only the
    /// document frequencies of the query's terms).
    public init(documentCount: Int64, totalLength: Int64, documentFrequency: [UInt32: Int64]) {
        self.documentCount = documentCount
        self.totalLength = totalLength
        self.documentFrequency = documentFrequency
    }

    /// Average document length (1 when empty, so an empty collection has a defined formula).
    public var averageLength: Float {
        documentCount > 0 ? Float(Double(totalLength) / Double(documentCount)) : 1
    }

    /// Adds one document given by its term counts (the BM25 function's output).
    public mutating func add(_ termCounts: SparseVector) {
        documentCount += 1
        totalLength += Int64(termCounts.sum.rounded())
        for t in termCounts.indices { documentFrequency[t, default: 0] += 1 }
    }

    /// Removes a document added before (delete). Removing one that was never added would corrupt every
    /// later score, so it is refused (``TextError/Kind/corrupted``: the caller's stored rows and
    /// statistics disagree) and the statistics are left unchanged.
    public mutating func remove(_ termCounts: SparseVector) throws(TextError) {
        let length = Int64(termCounts.sum.rounded())
        guard documentCount > 0, totalLength >= length else {
            throw .corrupted("BM25 statistics: removing a document that was never counted (N = \(documentCount))")
        }
        for t in termCounts.indices where (documentFrequency[t] ?? 0) < 1 {
            throw .corrupted("BM25 statistics: removing term \(t), which no counted document has")
        }
        documentCount -= 1
        totalLength -= length
        for t in termCounts.indices {
            let df = documentFrequency[t, default: 0] - 1
            documentFrequency[t] = df == 0 ? nil : df
        }
    }

    public mutating func merge(_ other: BM25Statistics) {
        documentCount += other.documentCount
        totalLength += other.totalLength
        for (t, df) in other.documentFrequency { documentFrequency[t, default: 0] += df }
    }

    public func df(_ term: UInt32) -> Int64 { documentFrequency[term] ?? 0 }

    /// Milvus' IDF: ln(1 + (N − df + 0.5) / (df + 0.5)).
    public func idf(_ term: UInt32) -> Float {
        let n = Double(documentCount), df = Double(self.df(term))
        return Float(log(1 + (n - df + 0.5) / (df + 0.5)))
    }

    // MARK: stored form

    /// `VB25` v1: N, Σdl, term count, then (term, df) pairs sorted by term, then CRC-32C of all before.
    public func serialize() -> [UInt8] {
        var w = ByteWriter()
        w.u32(0x3532_4256)  // "VB25"
        w.u32(1)
        w.u64(UInt64(documentCount))
        w.u64(UInt64(totalLength))
        let terms = documentFrequency.sorted { $0.key < $1.key }
        w.u64(UInt64(terms.count))
        for (t, df) in terms { w.u32(t); w.u64(UInt64(df)) }
        w.appendChecksum()
        return w.bytes
    }

    public init(serialized bytes: [UInt8]) throws(TextError) {
        var r = try ByteReader(checked: bytes, what: "BM25 statistics")
        guard try r.u32() == 0x3532_4256 else { throw .corrupted("BM25 statistics: bad magic") }
        let version = try r.u32()
        guard version == 1 else { throw .corrupted("BM25 statistics: format version \(version) is newer than this Vireo reads (1)") }
        documentCount = Int64(bitPattern: try r.u64())
        totalLength = Int64(bitPattern: try r.u64())
        let n = try r.count(try r.u64(), elementSize: 12)
        documentFrequency.reserveCapacity(n)
        for _ in 0..<n {
            let t = try r.u32()
            documentFrequency[t] = Int64(bitPattern: try r.u64())
        }
        guard documentCount >= 0, totalLength >= 0 else { throw .corrupted("BM25 statistics: negative totals") }
    }
}

