/// A query term resolved against one segment: its slot in the index and its weight (query count ×
/// IDF for BM25, the query value for IP). Terms are kept in increasing term-id order, the canonical
/// order in which every algorithm sums a row's score.
struct QueryTerm {
    var slot: Int
    var weight: Float
}

extension SparseInvertedIndex {
    /// Top-`k` rows for `query`.
    ///
    /// - Parameters:
    ///   - query: for BM25, the query text's term counts (``TermHash/termCounts(_:)``); for IP, the
    ///     user's sparse vector.
    ///   - statistics: collection-wide BM25 statistics (ignored for IP). Pass the statistics of the
    ///     whole collection, not of this segment, so that every segment scores alike.
    ///   - excluded: rows that must not be returned (deleted, filtered out); called only for rows that
    ///     could enter the top-k.
    public func search(_ query: SparseVector, k: Int, statistics: BM25Statistics = BM25Statistics(),
                       options: SparseSearchOptions = SparseSearchOptions(),
                       excluded: ((UInt32) -> Bool)? = nil) -> [SparseHit] {
        guard k > 0, rowCount > 0 else { return [] }
        let qterms = prepare(query, statistics: statistics, dropRatio: options.dropRatio)
        guard !qterms.isEmpty else { return [] }
        var ctx = ScoreContext(index: self, terms: qterms, options: options, statistics: statistics)
        switch options.algorithm {
        case .taatNaive: return taat(&ctx, k: k, excluded: excluded)
        case .daatWAND: return wand(&ctx, k: k, excluded: excluded)
        case .daatMaxScore: return maxScore(&ctx, k: k, excluded: excluded)
        }
    }

    func prepare(_ query: SparseVector, statistics: BM25Statistics, dropRatio: Double) -> [QueryTerm] {
        var out: [QueryTerm] = []
        for (i, t) in query.indices.enumerated() {
            guard let slot = termSlot(t) else { continue }
            let w = metric == .bm25 ? query.values[i] * statistics.idf(t) : query.values[i]
            if w > 0 { out.append(QueryTerm(slot: slot, weight: w)) }
        }
        if dropRatio > 0, out.count > 1 {
            let drop = Int(Double(out.count) * dropRatio)
            if drop > 0 {
                // Drop the `drop` smallest weights (ties: the larger term id goes first), keep order.
                let victims = Set(out.indices.sorted { out[$0].weight < out[$1].weight || (out[$0].weight == out[$1].weight && $0 > $1) }.prefix(drop))
                out = out.indices.filter { !victims.contains($0) }.map { out[$0] }
            }
        }
        return out
    }
}

/// Everything a search needs per term, precomputed.
struct ScoreContext {
    let index: SparseInvertedIndex
    let terms: [QueryTerm]
    let isBM25: Bool
    let k1p1: Float
    let params: BM25Parameters
    let avgdl: Float
    let norms: [Float]
    /// Per term: the largest score it can add to any row (slightly inflated, see `inflate`).
    let upperBounds: [Double]

    init(index: SparseInvertedIndex, terms: [QueryTerm], options: SparseSearchOptions, statistics: BM25Statistics) {
        self.index = index
        self.terms = terms
        isBM25 = index.metric == .bm25
        params = options.bm25
        k1p1 = options.bm25.k1 + 1
        avgdl = statistics.averageLength
        norms = isBM25 ? index.norms(options.bm25, avgdl: statistics.averageLength) : []
        var ub: [Double] = []
        for t in terms {
            ub.append(Self.inflate(Self.bound(index: index, isBM25: isBM25, weight: t.weight, maxValue: index.termMaxValue[t.slot],
                                              minLength: index.termMinLength[t.slot], params: options.bm25, avgdl: statistics.averageLength)))
        }
        upperBounds = ub
    }

    /// A bound, raised by a relative 1e-4: pruning compares sums of bounds, added in another order
    /// than a row's exact score, so the slack keeps rounding from ever pruning a row that belongs in
    /// the top-k.
    @inline(__always)
    static func inflate(_ x: Float) -> Double { Double(x) * 1.0001 + 1e-300 }

    @inline(__always)
    static func bound(index: SparseInvertedIndex, isBM25: Bool, weight: Float, maxValue: Float, minLength: UInt32,
                      params: BM25Parameters, avgdl: Float) -> Float {
        if isBM25 {
            let norm = BM25Kernel.norm(length: minLength, params, avgdl: avgdl)
            return BM25Kernel.term(weight: weight, tf: maxValue, norm: norm, k1p1: params.k1 + 1)
        }
        return weight * maxValue
    }

    @inline(__always)
    func blockBound(term i: Int, block bi: Int) -> Double {
        Self.inflate(Self.bound(index: index, isBM25: isBM25, weight: terms[i].weight, maxValue: index.blockMaxValue[bi],
                                minLength: index.blockMinLength[bi], params: params, avgdl: avgdl))
    }

    /// Term `i`'s score for a posting with `value` in `row`.
    @inline(__always)
    func score(term i: Int, row: UInt32, value: Float) -> Float {
        if isBM25 {
            return BM25Kernel.term(weight: terms[i].weight, tf: value, norm: norms[Int(row)], k1p1: k1p1)
        }
        return terms[i].weight * value
    }
}

/// The posting-list cursors of one document-at-a-time search, as plain structs over one allocation
/// per query (class-based cursors paid a runtime exclusivity check on every field access, about 100×
/// the cost of decoding). Cursor i's decoded block lives at `rows[i·128 ..< (i+1)·128]` and
/// `values[…]`.
struct Cursors: ~Copyable {
    struct State {
        var row: UInt32
        var position: Int
        var count: Int
        var block: Int
        var probe: Int
        let firstBlock: Int
        let endBlock: Int
        let term: Int
    }

    static let end = UInt32.max
    let index: SparseInvertedIndex
    let n: Int
    // SAFETY: allocated in init with n·blockSize (rows, values) and blockSize (scratch) entries, and
    // n states; freed in deinit; never escapes the search that owns this value (~Copyable).
    let state: UnsafeMutablePointer<State>
    let rows: UnsafeMutablePointer<UInt32>
    let values: UnsafeMutablePointer<Float>
    let scratch: UnsafeMutablePointer<UInt32>

    init(index: SparseInvertedIndex, terms: [QueryTerm]) {
        self.index = index
        n = terms.count
        let bs = SparseInvertedIndex.blockSize
        state = .allocate(capacity: max(n, 1))
        rows = .allocate(capacity: max(n, 1) * bs)
        values = .allocate(capacity: max(n, 1) * bs)
        scratch = .allocate(capacity: bs)
        for (i, t) in terms.enumerated() {
            let first = Int(index.blockStart[t.slot])
            (state + i).initialize(to: State(row: 0, position: 0, count: 0, block: first, probe: first, firstBlock: first,
                                             endBlock: Int(index.blockStart[t.slot + 1]), term: i))
            load(i)
        }
    }

    deinit {
        state.deallocate()
        rows.deallocate()
        values.deallocate()
        scratch.deallocate()
    }

    @inline(__always) func row(_ i: Int) -> UInt32 { state[i].row }
    @inline(__always) func value(_ i: Int) -> Float { values[i * SparseInvertedIndex.blockSize + state[i].position] }

    private func load(_ i: Int) {
        let b = state[i].block
        guard b < state[i].endBlock else { state[i].row = Self.end; return }
        let previous = b == state[i].firstBlock ? UInt32.max : index.blockLastRow[b - 1]
        let base = i * SparseInvertedIndex.blockSize
        state[i].count = index.decode(block: b, after: previous, rows: rows + base, values: values + base, scratch: scratch)
        state[i].position = 0
        state[i].row = rows[base]
    }

    @inline(__always)
    func next(_ i: Int) {
        let p = state[i].position + 1
        if p < state[i].count {
            state[i].position = p
            state[i].row = rows[i * SparseInvertedIndex.blockSize + p]
            return
        }
        state[i].block += 1
        load(i)
    }

    /// Moves cursor i to its first row ≥ `target`.
    func advance(_ i: Int, to target: UInt32) {
        guard state[i].row < target else { return }
        if index.blockLastRow[state[i].block] < target {
            var b = state[i].block + 1
            let end = state[i].endBlock
            while b < end, index.blockLastRow[b] < target { b += 1 }
            state[i].block = b
            guard b < end else { state[i].row = Self.end; return }
            load(i)
        }
        let base = i * SparseInvertedIndex.blockSize
        var p = state[i].position
        while rows[base + p] < target { p += 1 }
        state[i].position = p
        state[i].row = rows[base + p]
    }

    /// The block of cursor i that would hold `target` (for its block-max), or nil when the list ends
    /// before it.
    func shallowBlock(_ i: Int, _ target: UInt32) -> Int? {
        var p = max(state[i].probe, state[i].block)
        let end = state[i].endBlock
        while p < end, index.blockLastRow[p] < target { p += 1 }
        state[i].probe = p
        return p < end ? p : nil
    }
}

extension SparseInvertedIndex {
    // MARK: TAAT

    func taat(_ ctx: inout ScoreContext, k: Int, excluded: ((UInt32) -> Bool)?) -> [SparseHit] {
        var acc = [Double](repeating: 0, count: rowCount)
        var touched = [UInt32]()
        var seen = [Bool](repeating: false, count: rowCount)
        var block = BlockBuffer()
        for (i, t) in ctx.terms.enumerated() {
            var previous: UInt32 = .max
            for bi in Int(blockStart[t.slot])..<Int(blockStart[t.slot + 1]) {
                let n = decode(block: bi, after: previous, into: &block)
                for j in 0..<n {
                    let r = block.rows[j]
                    acc[Int(r)] += Double(ctx.score(term: i, row: r, value: block.values[j]))
                    if !seen[Int(r)] { seen[Int(r)] = true; touched.append(r) }
                }
                previous = blockLastRow[bi]
            }
        }
        var top = TopHits(k: k)
        for r in touched {
            if let excluded, excluded(r) { continue }
            top.offer(row: r, score: acc[Int(r)])
        }
        return top.sorted()
    }

    // MARK: block-max WAND

    func wand(_ ctx: inout ScoreContext, k: Int, excluded: ((UInt32) -> Bool)?) -> [SparseHit] {
        let c = Cursors(index: self, terms: ctx.terms)
        let n = c.n
        // `order`: cursor numbers sorted by current row.
        var order = Array(0..<n)
        let ub = ctx.upperBounds
        var top = TopHits(k: k)
        while true {
            // Insertion sort: nearly sorted after each step.
            for i in 1..<max(n, 1) {
                let x = order[i]
                let xr = c.row(x)
                var j = i - 1
                while j >= 0, c.row(order[j]) > xr { order[j + 1] = order[j]; j -= 1 }
                order[j + 1] = x
            }
            let theta = top.threshold
            var acc: Double = 0
            var pivot = -1
            for i in 0..<n {
                if c.row(order[i]) == Cursors.end { break }
                acc += ub[order[i]]
                if acc > theta { pivot = i; break }
            }
            guard pivot >= 0 else { break }
            let pivotRow = c.row(order[pivot])
            while pivot + 1 < n, c.row(order[pivot + 1]) == pivotRow { pivot += 1 }
            if top.isFull {
                // Block-max check over the blocks that would hold pivotRow.
                var blockSum: Double = 0
                var nextRow = pivot + 1 < n ? c.row(order[pivot + 1]) : Cursors.end
                for i in 0...pivot {
                    if let b = c.shallowBlock(order[i], pivotRow) {
                        blockSum += ctx.blockBound(term: order[i], block: b)
                        nextRow = min(nextRow, blockLastRow[b] + 1)
                    }
                }
                if blockSum <= theta {
                    // No row in [first row, nextRow) can enter the top-k: skip them all.
                    for i in 0...pivot where c.row(order[i]) < nextRow { c.advance(order[i], to: nextRow) }
                    continue
                }
            }
            if c.row(order[0]) == pivotRow {
                if excluded?(pivotRow) != true {
                    // Exact score in canonical (cursor = term) order.
                    var s: Double = 0
                    for t in 0..<n where c.row(t) == pivotRow { s += Double(ctx.score(term: t, row: pivotRow, value: c.value(t))) }
                    top.offer(row: pivotRow, score: s)
                }
                for i in 0...pivot { c.next(order[i]) }
            } else {
                for i in 0..<pivot where c.row(order[i]) < pivotRow { c.advance(order[i], to: pivotRow) }
            }
        }
        return top.sorted()
    }

    // MARK: MaxScore

    /// MaxScore over windows of rows, as Lucene's `MaxScoreBulkScorer` does it: terms are split by
    /// their bounds into non-essential ones (together unable to beat the current k-th score) and
    /// essential ones; the essential lists are scored term-at-a-time into a window accumulator, then
    /// each row touched in the window is completed from the non-essential lists, largest bound first,
    /// and dropped as soon as its partial score plus the remaining bounds cannot enter the top-k.
    /// The common, low-IDF terms become non-essential early, and their long lists are only probed.
    func maxScore(_ ctx: inout ScoreContext, k: Int, excluded: ((UInt32) -> Bool)?) -> [SparseHit] {
        let c = Cursors(index: self, terms: ctx.terms)
        let n = c.n
        let ub = ctx.upperBounds
        // Cursors by increasing bound; prefix[i] = Σ bounds of the i smallest.
        let order = (0..<n).sorted { ub[$0] < ub[$1] || (ub[$0] == ub[$1] && $0 < $1) }
        var prefix = [Double](repeating: 0, count: n + 1)
        for (i, t) in order.enumerated() { prefix[i + 1] = ub[t] + prefix[i] }
        var top = TopHits(k: k)
        var firstEssential = 0
        // Windows start small and double up to 4096 rows: the split into essential and non-essential
        // terms is revised between windows, so the first k hits raise the threshold early.
        let maxWindow = 4096
        var window = 128
        var acc = [Double](repeating: 0, count: maxWindow)
        var marks = [UInt64](repeating: 0, count: maxWindow / 64)
        while true {
            if top.isFull {
                let theta = top.threshold
                while firstEssential < n, prefix[firstEssential + 1] <= theta { firstEssential += 1 }
            }
            guard firstEssential < n else { break }
            var start = Cursors.end
            for i in firstEssential..<n { start = min(start, c.row(order[i])) }
            guard start != Cursors.end else { break }
            let end = start &+ UInt32(window) < start ? Cursors.end : start + UInt32(window)
            window = min(window * 2, maxWindow)
            // Essential lists, term at a time, into the window: a tight loop over each decoded block.
            acc.withUnsafeMutableBufferPointer { acc in
                marks.withUnsafeMutableBufferPointer { marks in
                    for i in firstEssential..<n {
                        let t = order[i]
                        let base = t * SparseInvertedIndex.blockSize
                        while c.state[t].row < end {
                            var p = c.state[t].position
                            let count = c.state[t].count
                            while p < count {
                                let r = c.rows[base + p]
                                if r >= end { break }
                                let off = Int(r - start)
                                // SAFETY: start ≤ r < end ≤ start + maxWindow, so off < maxWindow =
                                // acc.count, and off >> 6 < marks.count.
                                acc[off] += Double(ctx.score(term: t, row: r, value: c.values[base + p]))
                                marks[off >> 6] |= 1 << UInt64(off & 63)
                                p += 1
                            }
                            if p < count {
                                c.state[t].position = p
                                c.state[t].row = c.rows[base + p]
                            } else {
                                c.state[t].position = count - 1
                                c.next(t)
                            }
                        }
                    }
                }
            }
            // Touched rows in increasing order (so non-essential cursors only move forward).
            for w in 0..<marks.count where marks[w] != 0 {
                var bits = marks[w]
                marks[w] = 0
                while bits != 0 {
                    let off = w << 6 | bits.trailingZeroBitCount
                    bits &= bits - 1
                    let row = start + UInt32(off)
                    var s = acc[off]
                    acc[off] = 0
                    var alive = true
                    var i = firstEssential - 1
                    while i >= 0 {
                        if top.isFull && s + prefix[i + 1] <= top.threshold { alive = false; break }
                        let t = order[i]
                        c.advance(t, to: row)
                        if c.row(t) == row { s += Double(ctx.score(term: t, row: row, value: c.value(t))) }
                        i -= 1
                    }
                    guard alive, excluded?(row) != true else { continue }
                    top.offer(row: row, score: s)
                }
            }
        }
        return top.sorted()
    }
}

/// Exact scoring without an index: growing segments, and the oracle of the tests.
public enum SparseExhaustive {
    /// Top-`k` of `rows` (row i = offset i) for `query`, with the same arithmetic as the index.
    public static func search(_ query: SparseVector, rows: [SparseVector], metric: SparseMetric, k: Int,
                              statistics: BM25Statistics = BM25Statistics(), options: SparseSearchOptions = SparseSearchOptions(),
                              excluded: ((UInt32) -> Bool)? = nil) -> [SparseHit] {
        guard k > 0 else { return [] }
        // Resolve weights in canonical (term id) order, dropping as the index would: terms no row has
        // are dropped first, so `drop_ratio_search` counts the same terms.
        var present = Set<UInt32>()
        for r in rows { present.formUnion(r.indices) }
        var terms: [(UInt32, Float)] = []
        for (i, t) in query.indices.enumerated() where present.contains(t) {
            let w = metric == .bm25 ? query.values[i] * statistics.idf(t) : query.values[i]
            if w > 0 { terms.append((t, w)) }
        }
        if options.dropRatio > 0, terms.count > 1 {
            let drop = Int(Double(terms.count) * options.dropRatio)
            let victims = Set(terms.indices.sorted { terms[$0].1 < terms[$1].1 || (terms[$0].1 == terms[$1].1 && $0 > $1) }.prefix(drop))
            terms = terms.indices.filter { !victims.contains($0) }.map { terms[$0] }
        }
        let p = options.bm25
        let avgdl = statistics.averageLength
        var top = TopHits(k: k)
        for (r, row) in rows.enumerated() {
            var s: Double = 0
            var hit = false
            let norm = metric == .bm25 ? BM25Kernel.norm(length: UInt32(min(row.sum, Double(UInt32.max))), p, avgdl: avgdl) : 0
            for (t, w) in terms {
                let v = row[t]
                guard v > 0 else { continue }
                hit = true
                s += Double(metric == .bm25 ? BM25Kernel.term(weight: w, tf: v, norm: norm, k1p1: p.k1 + 1) : w * v)
            }
            guard hit, excluded?(UInt32(r)) != true else { continue }
            top.offer(row: UInt32(r), score: s)
        }
        return top.sorted()
    }
}
