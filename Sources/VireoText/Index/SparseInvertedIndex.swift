import Synchronization

/// How a sparse index scores: BM25 over term counts (the BM25 function's output), or the inner
/// product of user-given sparse vectors.
public enum SparseMetric: String, Sendable, Equatable {
    case bm25 = "BM25"
    case ip = "IP"
}

/// Milvus' `inverted_index_algo` values. All three return the same top-k (scores summed in one fixed
/// order, ties broken by the smaller row): they differ only in speed.
public enum InvertedIndexAlgorithm: String, Sendable, Equatable, CaseIterable {
    /// Term-at-a-time: every posting of every query term into a score array, then top-k.
    case taatNaive = "TAAT_NAIVE"
    /// Document-at-a-time block-max WAND (Ding & Suel, SIGIR 2011).
    case daatWAND = "DAAT_WAND"
    /// MaxScore (Turtle & Flood, IP&M 1995) over windows of rows; Milvus' default.
    case daatMaxScore = "DAAT_MAXSCORE"

    public static func named(_ name: String) throws(TextError) -> InvertedIndexAlgorithm {
        guard let a = InvertedIndexAlgorithm(rawValue: name) else {
            throw .invalid("inverted_index_algo \"\(name)\" is not supported; use TAAT_NAIVE, DAAT_WAND or DAAT_MAXSCORE")
        }
        return a
    }
}

/// One hit: a row of the segment (its offset, 0-based) and its score (higher is better).
public struct SparseHit: Sendable, Equatable {
    public var row: UInt32
    public var score: Float
    public init(row: UInt32, score: Float) { self.row = row; self.score = score }
}

/// Per-search options.
public struct SparseSearchOptions: Sendable {
    public var algorithm: InvertedIndexAlgorithm
    /// Milvus' `drop_ratio_search`: the fraction of the query's terms with the smallest weights
    /// (for BM25, query count × IDF) ignored, in [0, 1). 0 keeps every term and makes the search exact.
    public var dropRatio: Double
    public var bm25: BM25Parameters

    public init(algorithm: InvertedIndexAlgorithm = .daatWAND, dropRatio: Double = 0, bm25: BM25Parameters = .default) {
        self.algorithm = algorithm
        self.dropRatio = dropRatio
        self.bm25 = bm25
    }

    public func validated() throws(TextError) -> SparseSearchOptions {
        guard dropRatio.isFinite, dropRatio >= 0, dropRatio < 1 else {
            throw .invalid("drop_ratio_search is \(dropRatio); it must be in [0, 1)")
        }
        _ = try BM25Parameters.validated(k1: Double(bm25.k1), b: Double(bm25.b))
        return self
    }
}

/// A segment's inverted index over sparse rows, built once (the segment is sealed) and immutable.
///
/// ## Layout
/// Each term's posting list is split into blocks of up to ``blockSize`` rows. A block stores its row
/// ids as gaps (row − previous row − 1, the first from the previous block's last row) bit-packed at
/// the block's widest gap, and, for BM25, the term counts bit-packed likewise; IP weights are stored
/// as raw floats. Per block the index keeps the last row (to skip blocks without decoding), the
/// largest value (count or weight) and, for BM25, the shortest document length in the block: an upper
/// bound of any row's BM25 term score in the block for *every* k1, b and avgdl (the score grows with tf
/// and shrinks with length), so the block-max bounds stay valid while collection statistics change.
///
/// ## Scoring
/// BM25 is Milvus' formula with collection-wide ``BM25Statistics`` passed per search:
/// score(q, d) = Σ_t q_t · IDF(t) · tf·(k1+1) / (tf + k1·(1 − b + b·dl/avgdl)), where q_t is the term's
/// count in the analysed query. IP is Σ_t q_t · w_t,d.
public final class SparseInvertedIndex: Sendable {
    public static let blockSize = 128

    public let metric: SparseMetric
    public let rowCount: Int

    /// Document lengths (Σ counts) per row, BM25 only.
    let lengths: [UInt32]
    /// Sorted term ids, and for term i its blocks `blockStart[i] ..< blockStart[i+1]`.
    let terms: [UInt32]
    let blockStart: [UInt32]
    let termDocCount: [UInt32]
    /// Per term: the largest value and (BM25) the shortest document among its rows.
    let termMaxValue: [Float]
    let termMinLength: [UInt32]
    /// Per block.
    let blockLastRow: [UInt32]
    let blockWordOffset: [UInt32]
    /// count − 1 (bits 0–6), gap width (bits 8–13), count width (bits 16–21).
    let blockShape: [UInt32]
    let blockMaxValue: [Float]
    let blockMinLength: [UInt32]
    /// Offset of the block's first posting in `weights` (IP only).
    let blockPostingOffset: [UInt32]
    /// Bit-packed words of all blocks.
    let words: [UInt32]
    /// IP weights, one per posting, in posting order.
    let weights: [Float]

    private let normCache = Mutex<NormCache?>(nil)

    // MARK: build

    /// Builds the index of one segment from its rows (row i = offset i). For BM25 the rows are the
    /// BM25 function's term counts (positive integers).
    public init(rows: [SparseVector], metric: SparseMetric) throws(TextError) {
        guard rows.count < Int(UInt32.max) else { throw .invalid("a segment index holds fewer than 2³² rows") }
        self.metric = metric
        self.rowCount = rows.count
        // Dense term numbering, then a counting sort of postings by term (row order within a term
        // follows from scanning rows in order).
        var dense: [UInt32: Int32] = [:]
        var termIds: [UInt32] = []
        var counts: [Int] = []
        var lengths: [UInt32] = []
        if metric == .bm25 { lengths.reserveCapacity(rows.count) }
        // Each posting's dense term number, in row order (one dictionary lookup per posting).
        var postingTerm: [Int32] = []
        postingTerm.reserveCapacity(rows.reduce(0) { $0 + $1.count })
        for (r, row) in rows.enumerated() {
            var dl: UInt64 = 0
            for (k, t) in row.indices.enumerated() {
                if metric == .bm25 {
                    let v = row.values[k]
                    guard v >= 1, v <= 16_777_216, v == v.rounded() else {
                        throw .invalid("row \(r): a BM25 row holds term counts (whole numbers ≥ 1), got \(v) at index \(t)")
                    }
                    dl += UInt64(v)
                }
                if let d = dense[t] {
                    counts[Int(d)] += 1
                    postingTerm.append(d)
                } else {
                    postingTerm.append(Int32(termIds.count))
                    dense[t] = Int32(termIds.count)
                    termIds.append(t)
                    counts.append(1)
                }
            }
            if metric == .bm25 { lengths.append(UInt32(min(dl, UInt64(UInt32.max)))) }
        }
        let order = termIds.indices.sorted { termIds[$0] < termIds[$1] }
        var rank = [Int](repeating: 0, count: termIds.count)
        for (i, d) in order.enumerated() { rank[d] = i }
        var start = [Int](repeating: 0, count: termIds.count + 1)
        for (i, d) in order.enumerated() { start[i + 1] = start[i] + counts[d] }
        var fill = start
        let total = start[termIds.count]
        var postingRows = [UInt32](repeating: 0, count: total)
        var postingValues = [Float](repeating: 0, count: total)
        var p = 0
        for (r, row) in rows.enumerated() {
            for v in row.values {
                let i = rank[Int(postingTerm[p])]
                p += 1
                postingRows[fill[i]] = UInt32(r)
                postingValues[fill[i]] = v
                fill[i] += 1
            }
        }

        var b = Builder(metric: metric, lengths: lengths)
        for i in 0..<termIds.count {
            b.addTerm(termIds[order[i]], rows: postingRows[start[i]..<start[i + 1]], values: postingValues[start[i]..<start[i + 1]])
        }
        self.lengths = lengths
        terms = b.terms
        blockStart = b.blockStart
        termDocCount = b.termDocCount
        termMaxValue = b.termMaxValue
        termMinLength = b.termMinLength
        blockLastRow = b.blockLastRow
        blockWordOffset = b.blockWordOffset
        blockShape = b.blockShape
        blockMaxValue = b.blockMaxValue
        blockMinLength = b.blockMinLength
        blockPostingOffset = b.blockPostingOffset
        words = b.words
        weights = b.weights
    }

    /// Reassembles a parsed, validated index.
    init(metric: SparseMetric, rowCount: Int, parts: Parts) {
        self.metric = metric
        self.rowCount = rowCount
        lengths = parts.lengths
        terms = parts.terms
        blockStart = parts.blockStart
        termDocCount = parts.termDocCount
        termMaxValue = parts.termMaxValue
        termMinLength = parts.termMinLength
        blockLastRow = parts.blockLastRow
        blockWordOffset = parts.blockWordOffset
        blockShape = parts.blockShape
        blockMaxValue = parts.blockMaxValue
        blockMinLength = parts.blockMinLength
        blockPostingOffset = parts.blockPostingOffset
        words = parts.words
        weights = parts.weights
    }

    private struct Builder {
        let metric: SparseMetric
        let lengths: [UInt32]
        var terms: [UInt32] = []
        var blockStart: [UInt32] = [0]
        var termDocCount: [UInt32] = []
        var termMaxValue: [Float] = []
        var termMinLength: [UInt32] = []
        var blockLastRow: [UInt32] = []
        var blockWordOffset: [UInt32] = []
        var blockShape: [UInt32] = []
        var blockMaxValue: [Float] = []
        var blockMinLength: [UInt32] = []
        var blockPostingOffset: [UInt32] = []
        var words: [UInt32] = []
        var weights: [Float] = []

        init(metric: SparseMetric, lengths: [UInt32]) {
            self.metric = metric
            self.lengths = lengths
        }

        mutating func addTerm(_ term: UInt32, rows: ArraySlice<UInt32>, values: ArraySlice<Float>) {
            terms.append(term)
            termDocCount.append(UInt32(rows.count))
            var tMax: Float = 0
            var tMinLen = UInt32.max
            var previous: UInt32 = .max  // so the first gap is row − (−1) − 1 = row
            var gaps = [UInt32](repeating: 0, count: SparseInvertedIndex.blockSize)
            var tfs = [UInt32](repeating: 0, count: SparseInvertedIndex.blockSize)
            var i = rows.startIndex
            while i < rows.endIndex {
                let n = min(SparseInvertedIndex.blockSize, rows.endIndex - i)
                var maxGap: UInt32 = 0, maxTF: UInt32 = 0
                var bMax: Float = 0
                var bMinLen = UInt32.max
                blockPostingOffset.append(UInt32(weights.count))
                for k in 0..<n {
                    let row = rows[i + k]
                    let gap = row &- previous &- 1
                    previous = row
                    gaps[k] = gap
                    maxGap = max(maxGap, gap)
                    let v = values[i + k]
                    bMax = max(bMax, v)
                    if metric == .bm25 {
                        let tf = UInt32(v)
                        tfs[k] = tf
                        maxTF = max(maxTF, tf)
                        bMinLen = min(bMinLen, lengths[Int(row)])
                    } else {
                        weights.append(v)
                    }
                }
                let gapBits = BitPacking.width(maxGap)
                let tfBits = metric == .bm25 ? BitPacking.width(maxTF) : 0
                blockWordOffset.append(UInt32(words.count))
                blockShape.append(UInt32(n - 1) | UInt32(gapBits) << 8 | UInt32(tfBits) << 16)
                BitPacking.pack(gaps, count: n, width: gapBits, into: &words)
                if metric == .bm25 { BitPacking.pack(tfs, count: n, width: tfBits, into: &words) }
                blockLastRow.append(previous)
                blockMaxValue.append(bMax)
                blockMinLength.append(metric == .bm25 ? bMinLen : 0)
                tMax = max(tMax, bMax)
                tMinLen = min(tMinLen, bMinLen)
                i += n
            }
            termMaxValue.append(tMax)
            termMinLength.append(metric == .bm25 ? tMinLen : 0)
            blockStart.append(UInt32(blockLastRow.count))
        }
    }

    // MARK: shape

    public var termCount: Int { terms.count }
    public var postingCount: Int { termDocCount.reduce(0) { $0 + Int($1) } }

    func termSlot(_ term: UInt32) -> Int? {
        var lo = 0, hi = terms.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if terms[mid] < term { lo = mid + 1 } else { hi = mid }
        }
        return lo < terms.count && terms[lo] == term ? lo : nil
    }

    /// Σ document lengths (BM25 indexes; 0 for IP): the segment's share of the collection's avgdl.
    public var totalLength: Int64 { lengths.reduce(0) { $0 + Int64($1) } }

    /// How many rows of the segment contain `term` (its document frequency here).
    public func documentFrequency(of term: UInt32) -> Int {
        termSlot(term).map { Int(termDocCount[$0]) } ?? 0
    }

    /// Rows containing `term` with their values (counts or weights), decoded: for tests and for the
    /// `text_match` filter.
    public func postings(of term: UInt32) -> [(row: UInt32, value: Float)] {
        guard let slot = termSlot(term) else { return [] }
        var out: [(UInt32, Float)] = []
        var block = BlockBuffer()
        var previous: UInt32 = .max
        for bi in Int(blockStart[slot])..<Int(blockStart[slot + 1]) {
            let n = decode(block: bi, after: previous, into: &block)
            for k in 0..<n { out.append((block.rows[k], block.values[k])) }
            previous = blockLastRow[bi]
        }
        return out
    }

    /// Decodes block `bi` whose predecessor's last row is `previous` (`.max` for a term's first
    /// block). Returns its posting count.
    func decode(block bi: Int, after previous: UInt32, into out: inout BlockBuffer) -> Int {
        out.rows.withUnsafeMutableBufferPointer { rows in
            out.values.withUnsafeMutableBufferPointer { values in
                out.tf.withUnsafeMutableBufferPointer { tf in
                    // SAFETY: each buffer holds blockSize entries, the most a block has.
                    decode(block: bi, after: previous, rows: rows.baseAddress!, values: values.baseAddress!, scratch: tf.baseAddress!)
                }
            }
        }
    }

    /// The decoding kernel: writes the block's rows and values (counts as Float, or weights) to
    /// `rows` and `values`, using `scratch` for packed counts; each must hold ``blockSize`` entries.
    @inline(__always)
    func decode(block bi: Int, after previous: UInt32, rows: UnsafeMutablePointer<UInt32>,
                values: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<UInt32>) -> Int {
        let shape = blockShape[bi]
        let n = Int(shape & 0x7F) + 1
        let gapBits = Int((shape >> 8) & 0x3F)
        let tfBits = Int((shape >> 16) & 0x3F)
        let base = Int(blockWordOffset[bi])
        words.withUnsafeBufferPointer { w in
            // SAFETY: the builder wrote ceil(n·width/32) words at `base` for the gaps, then for the
            // counts (and the reader checked every block's words lie inside `words`); the callers'
            // buffers hold blockSize ≥ n entries.
            BitPacking.unpack(w, from: base, count: n, width: gapBits, into: rows)
            var r = previous
            for k in 0..<n {
                r = r &+ rows[k] &+ 1
                rows[k] = r
            }
            if metric == .bm25 {
                BitPacking.unpack(w, from: base + BitPacking.wordCount(count: n, width: gapBits), count: n, width: tfBits, into: scratch)
                for k in 0..<n { values[k] = Float(scratch[k]) }
            }
        }
        if metric == .ip {
            let p = Int(blockPostingOffset[bi])
            weights.withUnsafeBufferPointer { wt in
                // SAFETY: the reader checked blockPostingOffset + n ≤ weights.count.
                for k in 0..<n { values[k] = wt[p + k] }
            }
        }
        return n
    }

    // MARK: BM25 length norms

    struct NormCache: Sendable {
        let k1: Float, b: Float, avgdl: Float
        let norms: [Float]
    }

    /// k1·(1 − b + b·dl/avgdl) per row for the given parameters, cached for the latest
    /// (k1, b, avgdl): statistics change only on writes, so consecutive searches share it.
    func norms(_ p: BM25Parameters, avgdl: Float) -> [Float] {
        if let c = normCache.withLock({ $0 }), c.k1 == p.k1, c.b == p.b, c.avgdl == avgdl { return c.norms }
        let norms = lengths.map { BM25Kernel.norm(length: $0, p, avgdl: avgdl) }
        normCache.withLock { $0 = NormCache(k1: p.k1, b: p.b, avgdl: avgdl, norms: norms) }
        return norms
    }
}

/// A decoded block.
struct BlockBuffer {
    var rows = [UInt32](repeating: 0, count: SparseInvertedIndex.blockSize)
    var tf = [UInt32](repeating: 0, count: SparseInvertedIndex.blockSize)
    var values = [Float](repeating: 0, count: SparseInvertedIndex.blockSize)
}

/// The one place BM25 arithmetic happens, so exhaustive and pruned searches compute bit-identical
/// term scores.
enum BM25Kernel {
    @inline(__always)
    static func norm(length: UInt32, _ p: BM25Parameters, avgdl: Float) -> Float {
        p.k1 * (1 - p.b + p.b * Float(length) / avgdl)
    }

    /// weight · tf·(k1+1) / (tf + norm): non-decreasing in tf and weight, non-increasing in norm,
    /// also in floating point (each operation is correctly rounded, hence monotone).
    @inline(__always)
    static func term(weight: Float, tf: Float, norm: Float, k1p1: Float) -> Float {
        weight * ((tf * k1p1) / (tf + norm))
    }
}
