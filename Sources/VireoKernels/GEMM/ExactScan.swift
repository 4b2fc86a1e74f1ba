import CVireoKernels

/// Exact (brute-force) k-nearest-neighbour scanning of a block of vectors, the kernel under flat
/// search, growing segments and (later) re-ranking.
///
/// Two paths, chosen by the number of queries:
/// - **Few queries** (`nq < gemmMinQueries`): one SIMD pass per query over the rows
///   (`vk_dot_many`/`vk_l2sq_many`), memory-bound.
/// - **A batch**: the distance matrix is computed tile by tile with one `gemmNT` per tile
///   (queries × `rowBlock` rows), the GPU-friendly path. For L2 the tile is pre-filled with the row
///   norms so that one GEMM gives `|x|² − 2 q·x`; `|q|²` is added back before a value enters a heap.
///
/// Every path offers only rows whose distance beats the heap's threshold (`vk_select_below`), so the
/// top-k work is proportional to the candidates, not the rows.
package struct ExactScanner {
    /// Queries at or above this count use the GEMM path.
    package var gemmMinQueries: Int = 4
    /// Rows per GEMM tile.
    package var rowBlock: Int = 2048
    /// Rows gathered per GEMM block by the listed-rows scan (1.5 MiB of 384-d rows).
    package var gatherRows: Int = 1024
    package let backend: any ComputeBackend

    // Scratch, reused across calls by one scanner (a scanner is used by one thread at a time); the
    // compact-row scans (ExactScan+Compact.swift) share it.
    var tile: [Float] = []
    var selected: [UInt32] = []
    private var rowNorms: [Float] = []

    package init(backend: any ComputeBackend) {
        self.backend = backend
    }

    /// Offers every row `r` of `base` whose `excludedOffset + r` is not in `excluded` to `heaps[q]`
    /// as `(distance(query q, row r), idBase + r)`.
    ///
    /// - Parameters:
    ///   - queries: `nq × d` queries (unit-normalised for COSINE).
    ///   - base: `n × d` rows to scan.
    ///   - metric: distance to use. COSINE queries must be unit-normalised; COSINE rows either are
    ///     too, or come with `inverseNorms`.
    ///   - inverseNorms: `n × 1` values `1 / |row|`; with COSINE, each inner product is scaled by its
    ///     row's value (rows stored as inserted). Ignored for L2 and IP.
    ///   - excluded: rows never offered (tombstones, filtered-out rows), by row offset.
    ///   - heaps: one heap per query; `heaps.count == queries.rows`.
    package mutating func scan(
        queries: MatrixView, base: MatrixView, metric: Metric, inverseNorms: MatrixView? = nil,
        excluded: Bitset?, excludedOffset: Int = 0, idBase: Int64, heaps: inout [TopK]
    ) {
        precondition(queries.dim == base.dim, "query dimension \(queries.dim) != base dimension \(base.dim)")
        precondition(heaps.count == queries.rows)
        let scale = metric == .cosine ? inverseNorms : nil
        precondition(scale == nil || scale!.rows == base.rows, "one inverse norm per row")
        let nq = queries.rows
        let n = base.rows
        guard nq > 0, n > 0 else { return }
        if nq < gemmMinQueries {
            scanPerQuery(queries: queries, base: base, metric: metric, scale: scale, excluded: excluded, excludedOffset: excludedOffset,
                         idBase: idBase, heaps: &heaps)
        } else {
            scanGEMM(queries: queries, base: base, metric: metric, scale: scale, excluded: excluded, excludedOffset: excludedOffset,
                     idBase: idBase, heaps: &heaps)
        }
    }

    /// Offers only the listed rows of `base` (a selective filter's survivors) to every query's heap,
    /// with no pass over the rest of the matrix.
    ///
    /// - A batch (`gemmMinQueries` or more, not JACCARD): the rows are gathered, ``gatherRows`` at a
    ///   time, into a contiguous block and scored with one GEMM per block, as a full scan is. A
    ///   distance call per (query, row) ran at a third of the speed (3,300–3,900 against ~10,000
    ///   queries/s for 1,000 queries over 5,000 of 50,000 dev rows, Zen 3).
    /// - Fewer queries: one SIMD distance per (query, row), rows in chunks that stay in L2 while every
    ///   query visits them.
    package mutating func scan(queries: MatrixView, base: MatrixView, rows: [Int], metric: Metric, inverseNorms: MatrixView? = nil,
                               idBase: Int64, heaps: inout [TopK]) {
        precondition(queries.dim == base.dim && heaps.count == queries.rows)
        let scale = metric == .cosine ? inverseNorms : nil
        precondition(scale == nil || scale!.rows == base.rows, "one inverse norm per row")
        if queries.rows >= gemmMinQueries, metric != .jaccard, !rows.isEmpty {
            scanGathered(queries: queries, base: base, rows: rows, metric: metric, scale: scale, idBase: idBase, heaps: &heaps)
            return
        }
        // Rows in chunks that stay in L2 (256 rows of 384 floats = 384 KiB) while every query of the
        // batch visits them: each scattered row is read from memory once per batch, not once per query.
        let chunk = max(16, (256 * 384) / max(1, base.dim))
        if metric == .jaccard {
            var start = 0
            while start < rows.count {
                let part = rows[start..<min(rows.count, start + chunk)]
                for q in 0..<queries.rows {
                    let qv = queries.row(q)
                    for r in part { heaps[q].push(Distances.distance(metric, qv, base.row(r)), id: idBase + Int64(r)) }
                }
                start += chunk
            }
            return
        }
        // The gather kernels score a chunk of rows in one call, fetching the next rows while one is
        // scored (a distance call per row waited on each row's misses: half a single query's time at
        // 1 % allowed on dev, perf).
        let listed = rows.map { UInt32(truncatingIfNeeded: $0) }
        ensureScratch(tileFloats: chunk, rows: chunk)
        let d = base.dim
        tile.withUnsafeMutableBufferPointer { tileBuf in
            selected.withUnsafeMutableBufferPointer { sel in
                listed.withUnsafeBufferPointer { lp in
                    // SAFETY: tile and sel hold ≥ chunk entries; every listed row is < base.rows (the
                    // caller's complement of a bitset over the segment's rows) and fits UInt32.
                    let out = tileBuf.baseAddress!, idx = sel.baseAddress!
                    var start = 0
                    while start < rows.count {
                        let len = min(chunk, rows.count - start)
                        let part = lp.baseAddress! + start
                        for q in 0..<queries.rows {
                            Distances.gathered(metric, queries.base + q * d, base: base.base, rows: part, count: len, dim: d,
                                               inverseNorms: scale?.base, into: out)
                            heaps[q].offer(out, count: len, rows: part, scratch: idx, idBase: idBase)
                        }
                        start += len
                    }
                }
            }
        }
    }

    private mutating func scanGathered(queries: MatrixView, base: MatrixView, rows: [Int], metric: Metric, scale: MatrixView?,
                                       idBase: Int64, heaps: inout [TopK]) {
        let d = base.dim, nq = queries.rows
        let block = min(gatherRows, rows.count)
        let listed = rows.map { UInt32(truncatingIfNeeded: $0) }
        ensureScratch(tileFloats: nq * block, rows: block)
        var gathered = [Float](repeating: 0, count: block * d)
        var queryNorms = [Float](repeating: 0, count: nq)
        let l2 = metric.usesL2Kernel
        if l2 {
            // SAFETY: queryNorms has nq slots; queries holds nq·d floats.
            queryNorms.withUnsafeMutableBufferPointer { vk_norms_sq(queries.base, nq, d, $0.baseAddress!) }
        }
        let backend = self.backend
        tile.withUnsafeMutableBufferPointer { tileBuf in
            selected.withUnsafeMutableBufferPointer { sel in
                rowNorms.withUnsafeMutableBufferPointer { normBuf in
                    gathered.withUnsafeMutableBufferPointer { gBuf in
                        // SAFETY: tile holds nq·block floats, sel and normBuf block entries
                        // (ensureScratch), gBuf block·d floats; every listed row is < base.rows (the
                        // caller's complement of a bitset over the segment's rows).
                        let out = tileBuf.baseAddress!, idx = sel.baseAddress!, norms = normBuf.baseAddress!, g = gBuf.baseAddress!
                        var start = 0
                        while start < rows.count {
                            let len = min(block, rows.count - start)
                            for i in 0..<len {
                                (g + i * d).update(from: base.base + rows[start + i] * d, count: d)
                            }
                            if l2 {
                                vk_norms_sq(g, len, d, norms)
                                for q in 0..<nq { (out + q * len).update(from: norms, count: len) }
                            }
                            backend.gemmNT(nq: nq, n: len, d: d, alpha: l2 ? -2 : -1, queries: queries.base, base: g, beta: l2 ? 1 : 0, out: out)
                            for q in 0..<nq {
                                let rowOut = out + q * len
                                if let scale {
                                    // COSINE over rows as inserted: −q̂·x / |x|.
                                    for i in 0..<len { rowOut[i] *= scale.base[rows[start + i]] }
                                }
                                listed.withUnsafeBufferPointer { lp in
                                    // SAFETY: listed holds rows.count ≥ start + len entries.
                                    heaps[q].offer(rowOut, count: len, bias: l2 ? queryNorms[q] : 0, rows: lp.baseAddress! + start,
                                                   scratch: idx, idBase: idBase)
                                }
                            }
                            start += len
                        }
                    }
                }
            }
        }
    }

    /// Turns the inner products `out[0..<len]` of rows `start…` into distances (negated), COSINE
    /// ones scaled by those rows' inverse norms.
    @inline(__always)
    static func negateDots(_ out: UnsafeMutablePointer<Float>, _ len: Int, scale: MatrixView?, start: Int) {
        if let scale {
            // SAFETY: scale holds one value per row of the scanned matrix; start + len ≤ its rows (callers).
            let s = scale.base + start
            for i in 0..<len { out[i] = -out[i] * s[i] }
        } else {
            for i in 0..<len { out[i] = -out[i] }
        }
    }

    /// Offers rows `start…` whose distance `out[r] + bias` beats `heap`'s threshold (and is not
    /// `excluded`) to `heap`: `vk_select_below` picks them, so the work follows the candidates.
    ///
    /// - Precondition: `out` holds `len` floats, `idx` room for `len` indices.
    @inline(__always)
    static func offer(_ out: UnsafeMutablePointer<Float>, _ len: Int, bias: Float = 0, start: Int, idx: UnsafeMutablePointer<UInt32>,
                      excluded: Bitset?, excludedOffset: Int, idBase: Int64, heap: inout TopK) {
        let found = vk_select_below(out, len, heap.threshold - bias, idx)
        for s in 0..<found {
            let r = Int(idx[s])
            let row = start + r
            if let ex = excluded, ex.contains(excludedOffset + row) { continue }
            heap.push(out[r] + bias, id: idBase + Int64(row))
        }
    }

    mutating func ensureScratch(tileFloats: Int, rows: Int) {
        if tile.count < tileFloats { tile = Array(repeating: 0, count: tileFloats) }
        if selected.count < rows { selected = Array(repeating: 0, count: rows) }
        if rowNorms.count < rows { rowNorms = Array(repeating: 0, count: rows) }
    }

    private mutating func scanPerQuery(
        queries: MatrixView, base: MatrixView, metric: Metric, scale: MatrixView?,
        excluded: Bitset?, excludedOffset: Int, idBase: Int64, heaps: inout [TopK]
    ) {
        let d = base.dim
        let block = min(base.rows, 8192)
        ensureScratch(tileFloats: block, rows: block)
        tile.withUnsafeMutableBufferPointer { tileBuf in
            selected.withUnsafeMutableBufferPointer { sel in
                // SAFETY: tileBuf and sel hold at least `block` elements (ensureScratch); every row
                // range passed to the kernels lies inside base (start + len <= base.rows).
                let out = tileBuf.baseAddress!
                let idx = sel.baseAddress!
                for q in 0..<queries.rows {
                    let qp = queries.base + q * d
                    var start = 0
                    while start < base.rows {
                        let len = min(block, base.rows - start)
                        let rows = base.base + start * d
                        switch metric {
                        case .l2, .hamming: vk_l2sq_many(qp, rows, len, d, out)
                        case .jaccard:
                            // 0/1 rows: |x ∧ q| = x·q, |x ∨ q| = |x|² + |q|² − x·q.
                            vk_dot_many(qp, rows, len, d, out)
                            let qn = vk_norm_sq(qp, d)
                            for i in 0..<len {
                                let inter = out[i]
                                out[i] = Distances.jaccard(intersection: inter, union: vk_norm_sq(rows + i * d, d) + qn - inter)
                            }
                        case .ip, .cosine, .bm25:
                            vk_dot_many(qp, rows, len, d, out)
                            Self.negateDots(out, len, scale: scale, start: start)
                        }
                        Self.offer(out, len, start: start, idx: idx, excluded: excluded, excludedOffset: excludedOffset,
                                   idBase: idBase, heap: &heaps[q])
                        start += len
                    }
                }
            }
        }
    }

    mutating func scanGEMM(
        queries: MatrixView, base: MatrixView, metric: Metric, scale: MatrixView?,
        excluded: Bitset?, excludedOffset: Int, idBase: Int64, heaps: inout [TopK]
    ) {
        let d = base.dim
        let nq = queries.rows
        let rb = min(rowBlock, base.rows)
        ensureScratch(tileFloats: nq * rb, rows: rb)
        // |q|² per query, added back to L2 tile values (which hold |x|² − 2 q·x).
        var queryNorms = [Float](repeating: 0, count: nq)
        if metric.usesL2Kernel || metric == .jaccard {
            queryNorms.withUnsafeMutableBufferPointer { qn in
                // SAFETY: qn has nq slots; queries holds nq*d floats.
                vk_norms_sq(queries.base, nq, d, qn.baseAddress!)
            }
        }
        let backend = self.backend
        tile.withUnsafeMutableBufferPointer { tileBuf in
            selected.withUnsafeMutableBufferPointer { sel in
                rowNorms.withUnsafeMutableBufferPointer { normBuf in
                    // SAFETY: tile holds nq*rb floats, sel and normBuf rb elements (ensureScratch);
                    // each block [start, start+len) lies inside base.
                    let out = tileBuf.baseAddress!
                    let idx = sel.baseAddress!
                    let norms = normBuf.baseAddress!
                    var start = 0
                    while start < base.rows {
                        let len = min(rb, base.rows - start)
                        let rows = base.base + start * d
                        let alpha: Float
                        let beta: Float
                        if metric == .jaccard {
                            // The tile gets −q·x; each value becomes a Jaccard distance below.
                            vk_norms_sq(rows, len, d, norms)
                            alpha = -1
                            beta = 0
                        } else if metric.usesL2Kernel {
                            vk_norms_sq(rows, len, d, norms)
                            for q in 0..<nq {
                                (out + q * len).update(from: norms, count: len)
                            }
                            alpha = -2
                            beta = 1
                        } else {
                            alpha = -1
                            beta = 0
                        }
                        backend.gemmNT(nq: nq, n: len, d: d, alpha: alpha, queries: queries.base, base: rows, beta: beta, out: out)
                        for q in 0..<nq {
                            let qn = metric.usesL2Kernel ? queryNorms[q] : 0
                            let rowOut = out + q * len
                            if metric == .jaccard {
                                let qsq = queryNorms[q]
                                for i in 0..<len {
                                    let inter = -rowOut[i]
                                    rowOut[i] = Distances.jaccard(intersection: inter, union: norms[i] + qsq - inter)
                                }
                            }
                            if let scale {
                                // COSINE over rows as inserted: −q̂·x / |x|.
                                let s = scale.base + start
                                for i in 0..<len { rowOut[i] *= s[i] }
                            }
                            Self.offer(rowOut, len, bias: qn, start: start, idx: idx, excluded: excluded,
                                       excludedOffset: excludedOffset, idBase: idBase, heap: &heaps[q])
                        }
                        start += len
                    }
                }
            }
        }
    }
}
