/// A sparse float vector: strictly increasing `UInt32` indices with one finite, non-negative `Float`
/// weight each, zeros dropped.
///
/// Milvus' rules for SPARSE_FLOAT_VECTOR rows (`typeutil.ValidateSparseFloatRows`): indices are
/// uint32 below 2³²−1, values finite; Vireo also refuses negative weights, because the dynamic-pruning
/// searches (WAND, MaxScore) bound a document's score by the sum of per-term maxima, which only holds
/// for non-negative products. BM25 function output (term counts) always qualifies.
public struct SparseVector: Sendable, Hashable {
    public private(set) var indices: [UInt32]
    public private(set) var values: [Float]

    /// The largest index Milvus accepts (`math.MaxUint32` is reserved).
    public static let maxIndex: UInt32 = .max - 1
    /// Most non-zeros one row may hold (a bound on what one network row can make us allocate).
    public static let maxNonZeros = 1 << 20

    public var count: Int { indices.count }
    public var isEmpty: Bool { indices.isEmpty }

    /// Validates and sorts `pairs`; a repeated index is an error (Milvus rejects it too), and zero
    /// weights are dropped.
    public init(_ pairs: [(index: UInt32, value: Float)]) throws(TextError) {
        guard pairs.count <= Self.maxNonZeros else {
            throw .invalid("sparse vector has \(pairs.count) non-zeros; at most \(Self.maxNonZeros) are accepted per row")
        }
        let sorted = pairs.sorted { $0.index < $1.index }
        var idx: [UInt32] = []
        var val: [Float] = []
        idx.reserveCapacity(sorted.count)
        val.reserveCapacity(sorted.count)
        var previous: UInt32? = nil
        for (i, v) in sorted {
            guard i <= Self.maxIndex else { throw .invalid("sparse vector index \(i) is out of range; indices are 0…\(Self.maxIndex)") }
            guard v.isFinite else { throw .invalid("sparse vector value at index \(i) is \(v); values must be finite") }
            guard v >= 0 else { throw .invalid("sparse vector value at index \(i) is negative (\(v)); Vireo's sparse index takes non-negative weights") }
            if previous == i { throw .invalid("sparse vector index \(i) appears twice; give each index once") }
            previous = i
            if v == 0 { continue }
            idx.append(i)
            val.append(v)
        }
        indices = idx
        values = val
    }

    /// Builds from parallel arrays already known to be valid (internal fast path).
    init(uncheckedIndices: [UInt32], values: [Float]) {
        self.indices = uncheckedIndices
        self.values = values
    }

    public static let empty = SparseVector(uncheckedIndices: [], values: [])

    /// A row read back from storage the engine wrote from a validated vector (checksummed blobs):
    /// not validated again.
    public init(storedIndices: [UInt32], values: [Float]) {
        self.init(uncheckedIndices: storedIndices, values: values)
    }

    /// Σ values: a BM25 document's length when the values are term counts.
    public var sum: Double { values.reduce(0.0) { $0 + Double($1) } }

    /// The weight at `index`, or 0.
    public subscript(index: UInt32) -> Float {
        var lo = 0, hi = indices.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if indices[mid] < index { lo = mid + 1 } else { hi = mid }
        }
        return lo < indices.count && indices[lo] == index ? values[lo] : 0
    }

    /// Inner product with `other` (merge of two sorted lists).
    public func dot(_ other: SparseVector) -> Float {
        var i = 0, j = 0
        var acc: Float = 0
        while i < indices.count, j < other.indices.count {
            let a = indices[i], b = other.indices[j]
            if a == b { acc += values[i] * other.values[j]; i += 1; j += 1 } else if a < b { i += 1 } else { j += 1 }
        }
        return acc
    }
}

/// Turns analyzer tokens into the term-count vector Milvus' BM25 function emits.
public enum TermHash {
    /// Milvus' term id for a token: `typeutil.HashString2LessUint32` (CRC-32/IEEE of the token's first
    /// 100 UTF-8 bytes, then `% math.MaxUint32`), so a Vireo BM25 row has the same indices as Milvus'.
    public static func id(_ token: String) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        var n = 0
        for b in token.utf8 {
            if n == 100 { break }
            crc = table[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8)
            n += 1
        }
        crc ^= 0xFFFF_FFFF
        return crc % UInt32.max
    }

    /// The BM25 function's output for one text: each token's id with its count.
    public static func termCounts<S: Sequence>(_ tokens: S) -> SparseVector where S.Element == String {
        // Sort the ids and count runs: no hashing of the ids themselves.
        var ids = tokens.map(id)
        ids.sort()
        var indices: [UInt32] = []
        var values: [Float] = []
        indices.reserveCapacity(ids.count)
        values.reserveCapacity(ids.count)
        for t in ids {
            if let last = indices.last, last == t {
                values[values.count - 1] += 1
            } else {
                indices.append(t)
                values.append(1)
            }
        }
        return SparseVector(uncheckedIndices: indices, values: values)
    }

    /// CRC-32/IEEE (reflected polynomial 0xEDB88320), Go's `crc32.ChecksumIEEE`.
    private static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }
}
