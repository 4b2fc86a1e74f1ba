import CVireoKernels

/// The compact kernel that computes the internal distance of `metric` between a float32 query and
/// rows of `element`: half / bfloat16 / int8 rows are widened element by element inside the kernel
/// and summed in float32 (the float32 path's value up to summation order); bits are counted
/// (HAMMING exactly; JACCARD up to the rounding of one division).
enum CompactKernel {
    case f16Dot, f16L2, bf16Dot, bf16L2, i8Dot, i8L2, hamming, jaccard

    /// Nil for a pair no compact kernel serves (a metric the field type does not allow); those
    /// rows are widened block by block instead.
    init?(element: VectorElement, metric: Metric) {
        switch (element, metric) {
        case (.float16, .l2), (.float16, .hamming): self = .f16L2
        case (.float16, .ip), (.float16, .cosine): self = .f16Dot
        case (.bfloat16, .l2), (.bfloat16, .hamming): self = .bf16L2
        case (.bfloat16, .ip), (.bfloat16, .cosine): self = .bf16Dot
        case (.int8, .l2), (.int8, .hamming): self = .i8L2
        case (.int8, .ip), (.int8, .cosine): self = .i8Dot
        // On 0/1 values the squared L2 distance is the Hamming distance (as in the float32 path).
        case (.binary, .l2), (.binary, .hamming): self = .hamming
        case (.binary, .jaccard): self = .jaccard
        default: return nil
        }
    }

    /// Whether the kernel gives an inner product (negated into a distance by the caller).
    var isDot: Bool { self == .f16Dot || self == .bf16Dot || self == .i8Dot }

    /// Whether the kernel reads the query as packed bits.
    var isBinary: Bool { self == .hamming || self == .jaccard }

    /// `out[i]` = kernel(query, row `start + i`) for `count` rows of `base` (inner products not negated).
    /// `packed` is the query's bits for the binary kernels (else unused).
    ///
    /// - Precondition: `start + count ≤ base.rows`; `out` holds `count` floats; `query` holds
    ///   `base.dim` floats; `packed` holds `base.bytesPerRow` bytes for the binary kernels.
    func many(_ query: UnsafePointer<Float>, packed: UnsafePointer<UInt8>?, base: CompactMatrix, start: Int, count: Int,
              out: UnsafeMutablePointer<Float>) {
        precondition(start >= 0 && count >= 0 && start + count <= base.rows)
        let d = base.dim
        // SAFETY: rows start..<start+count lie inside base (checked above), whose bytes are 2-byte
        // aligned for the 16-bit types (CompactMatrix invariant); out holds count floats and query
        // d floats, packed bytesPerRow bytes (caller).
        let rows = base.base + start * base.bytesPerRow
        switch self {
        case .f16Dot: vk_f16_dot_many(query, rows.assumingMemoryBound(to: UInt16.self), count, d, out)
        case .f16L2: vk_f16_l2sq_many(query, rows.assumingMemoryBound(to: UInt16.self), count, d, out)
        case .bf16Dot: vk_bf16_dot_many(query, rows.assumingMemoryBound(to: UInt16.self), count, d, out)
        case .bf16L2: vk_bf16_l2sq_many(query, rows.assumingMemoryBound(to: UInt16.self), count, d, out)
        case .i8Dot: vk_f32_i8_dot_many(query, rows.assumingMemoryBound(to: Int8.self), count, d, out)
        case .i8L2: vk_f32_i8_l2sq_many(query, rows.assumingMemoryBound(to: Int8.self), count, d, out)
        case .hamming: vk_hamming_many(packed!, rows.assumingMemoryBound(to: UInt8.self), count, base.bytesPerRow, out)
        case .jaccard: vk_jaccard_many(packed!, rows.assumingMemoryBound(to: UInt8.self), count, base.bytesPerRow, out)
        }
    }

    /// The internal distance (smaller is closer) of `metric` for one row, COSINE scaled by `scale`.
    func distance(_ query: UnsafePointer<Float>, packed: UnsafePointer<UInt8>?, base: CompactMatrix, row: Int, scale: Float?) -> Float {
        var v: Float = 0
        // SAFETY: one row, in range (checked by many), into one local float.
        withUnsafeMutablePointer(to: &v) { many(query, packed: packed, base: base, start: row, count: 1, out: $0) }
        guard isDot else { return v }
        return scale.map { -v * $0 } ?? -v
    }

    /// The packed bits of a 0/1 query (a binary query widens to 0/1; any non-zero counts as set),
    /// in Milvus' bit order (``VectorElement``).
    static func packBits(_ query: UnsafeBufferPointer<Float>) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: (query.count + 7) / 8)
        for (i, x) in query.enumerated() where x != 0 { out[i / 8] |= 0x80 >> UInt8(i % 8) }
        return out
    }
}

extension ExactScanner {
    /// ``scan(queries:base:metric:inverseNorms:excluded:excludedOffset:idBase:heaps:)`` over a
    /// segment's rows, float32 or compact.
    package mutating func scan(
        queries: MatrixView, base: VectorRows, metric: Metric, inverseNorms: MatrixView? = nil,
        excluded: Bitset?, excludedOffset: Int = 0, idBase: Int64, heaps: inout [TopK]
    ) {
        switch base {
        case let .float32(m):
            scan(queries: queries, base: m, metric: metric, inverseNorms: inverseNorms, excluded: excluded, excludedOffset: excludedOffset,
                 idBase: idBase, heaps: &heaps)
        case let .compact(c):
            scan(queries: queries, compact: c, metric: metric, inverseNorms: inverseNorms, excluded: excluded, excludedOffset: excludedOffset,
                 idBase: idBase, heaps: &heaps)
        }
    }

    /// ``scan(queries:base:rows:metric:inverseNorms:idBase:heaps:)`` over a segment's rows, float32
    /// or compact.
    package mutating func scan(queries: MatrixView, base: VectorRows, rows: [Int], metric: Metric, inverseNorms: MatrixView? = nil,
                               idBase: Int64, heaps: inout [TopK]) {
        switch base {
        case let .float32(m):
            scan(queries: queries, base: m, rows: rows, metric: metric, inverseNorms: inverseNorms, idBase: idBase, heaps: &heaps)
        case let .compact(c):
            scan(queries: queries, compact: c, rows: rows, metric: metric, inverseNorms: inverseNorms, idBase: idBase, heaps: &heaps)
        }
    }

    /// Offers every row of compact `base` not in `excluded` to each query's heap, as the float32
    /// scan does over the widened rows, reading the compact bytes.
    ///
    /// - Single queries (and binary rows at any batch size): one compact-kernel pass per query over
    ///   the rows (`vk_f16_*_many`, `vk_bf16_*_many`, `vk_f32_i8_*_many`, `vk_hamming_many`,
    ///   `vk_jaccard_many`), reading 2–32× fewer bytes than float32 rows.
    /// - Batches of `gemmMinQueries` or more (half, bfloat16, int8): each block of `rowBlock` rows is
    ///   widened once into a scratch tile and scanned with the GEMM path; the widening is shared by
    ///   the whole batch, and only one block of float32 rows exists at a time.
    package mutating func scan(
        queries: MatrixView, compact base: CompactMatrix, metric: Metric, inverseNorms: MatrixView? = nil,
        excluded: Bitset?, excludedOffset: Int = 0, idBase: Int64, heaps: inout [TopK]
    ) {
        precondition(queries.dim == base.dim, "query dimension \(queries.dim) != base dimension \(base.dim)")
        precondition(heaps.count == queries.rows)
        let scale = metric == .cosine ? inverseNorms : nil
        precondition(scale == nil || scale!.rows == base.rows, "one inverse norm per row")
        guard queries.rows > 0, base.rows > 0 else { return }
        if let kernel = CompactKernel(element: base.element, metric: metric), kernel.isBinary || queries.rows < gemmMinQueries {
            scanCompactPerQuery(queries: queries, base: base, kernel: kernel, scale: scale, excluded: excluded, excludedOffset: excludedOffset,
                                idBase: idBase, heaps: &heaps)
        } else {
            scanWidenedBlocks(queries: queries, base: base, metric: metric, scale: scale, excluded: excluded, excludedOffset: excludedOffset,
                              idBase: idBase, heaps: &heaps)
        }
    }

    /// Offers the listed rows of compact `base` to every query's heap (a selective filter's survivors).
    package func scan(queries: MatrixView, compact base: CompactMatrix, rows: [Int], metric: Metric, inverseNorms: MatrixView? = nil,
                      idBase: Int64, heaps: inout [TopK]) {
        precondition(queries.dim == base.dim && heaps.count == queries.rows)
        let scale = metric == .cosine ? inverseNorms : nil
        precondition(scale == nil || scale!.rows == base.rows, "one inverse norm per row")
        let kernel = CompactKernel(element: base.element, metric: metric)
        let packed = kernel?.isBinary == true ? (0..<queries.rows).map { CompactKernel.packBits(queries.row($0)) } : []
        // Rows in chunks that stay in cache while every query of the batch visits them.
        let chunk = max(16, (256 * 384 * 4) / max(1, base.bytesPerRow))
        var start = 0
        while start < rows.count {
            let part = rows[start..<min(rows.count, start + chunk)]
            for q in 0..<queries.rows {
                let qv = queries.row(q)
                if let kernel {
                    let bits: [UInt8] = kernel.isBinary ? packed[q] : []
                    bits.withUnsafeBufferPointer { bp in
                        for r in part {
                            // SAFETY: qv holds dim floats, bp the query's bytesPerRow bytes (binary).
                            let d = kernel.distance(qv.baseAddress!, packed: bp.baseAddress, base: base, row: r, scale: scale?.base[r])
                            heaps[q].push(d, id: idBase + Int64(r))
                        }
                    }
                } else {
                    let query = Array(qv)
                    for r in part {
                        let d = Distances.distance(metric, query, base.rowArray(r))
                        heaps[q].push(scale.map { d * $0.base[r] } ?? d, id: idBase + Int64(r))
                    }
                }
            }
            start += chunk
        }
    }

    private mutating func scanCompactPerQuery(
        queries: MatrixView, base: CompactMatrix, kernel: CompactKernel, scale: MatrixView?,
        excluded: Bitset?, excludedOffset: Int, idBase: Int64, heaps: inout [TopK]
    ) {
        let block = min(base.rows, 8192)
        ensureScratch(tileFloats: block, rows: block)
        var packed = [UInt8](repeating: 0, count: kernel.isBinary ? base.bytesPerRow : 0)
        tile.withUnsafeMutableBufferPointer { tileBuf in
            selected.withUnsafeMutableBufferPointer { sel in
                // SAFETY: tileBuf and sel hold at least `block` elements (ensureScratch); every row
                // range passed to the kernels lies inside base (start + len <= base.rows).
                let out = tileBuf.baseAddress!
                let idx = sel.baseAddress!
                for q in 0..<queries.rows {
                    if kernel.isBinary { packed = CompactKernel.packBits(queries.row(q)) }
                    packed.withUnsafeBufferPointer { bits in
                        let qp = queries.row(q).baseAddress!
                        var start = 0
                        while start < base.rows {
                            let len = min(block, base.rows - start)
                            kernel.many(qp, packed: bits.baseAddress, base: base, start: start, count: len, out: out)
                            if kernel.isDot { Self.negateDots(out, len, scale: scale, start: start) }
                            Self.offer(out, len, start: start, idx: idx, excluded: excluded, excludedOffset: excludedOffset,
                                       idBase: idBase, heap: &heaps[q])
                            start += len
                        }
                    }
                }
            }
        }
    }

    private mutating func scanWidenedBlocks(
        queries: MatrixView, base: CompactMatrix, metric: Metric, scale: MatrixView?,
        excluded: Bitset?, excludedOffset: Int, idBase: Int64, heaps: inout [TopK]
    ) {
        let d = base.dim
        let rb = min(rowBlock, base.rows)
        var wide = [Float](repeating: 0, count: rb * d)
        var start = 0
        while start < base.rows {
            let len = min(rb, base.rows - start)
            wide.withUnsafeMutableBufferPointer { w in
                // SAFETY: w holds rb*d ≥ len*d floats; the view lives only for this call.
                base.widen(rows: start, count: len, into: w.baseAddress!)
                let view = MatrixView(base: UnsafePointer(w.baseAddress!), rows: len, dim: d, owner: nil)
                scanGEMM(queries: queries, base: view, metric: metric, scale: scale?.slice(start, len), excluded: excluded,
                         excludedOffset: excludedOffset + start, idBase: idBase + Int64(start), heaps: &heaps)
            }
            start += len
        }
    }
}
