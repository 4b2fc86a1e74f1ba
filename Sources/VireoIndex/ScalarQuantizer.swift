import CVireoKernels
import VireoKernels

/// 8-bit scalar quantisation (Milvus' `SQ8`, faiss' `QT_8bit`): each coordinate is stored as one byte,
/// `x̂_t = vmin_t + scale_t · code_t`, with `vmin_t`, `vmax_t` the range of coordinate `t` over the
/// encoded rows and `scale_t = (vmax_t − vmin_t) / 255`. A row costs `dim` bytes instead of `4·dim`,
/// and the error of a coordinate is at most `scale_t / 2`.
///
/// Distances are taken against codes without decoding them (see `vk_sq8_*`): a query is prepared
/// once — `q∘scale` and the bias `⟨q, vmin⟩` for IP/COSINE, `q − vmin` for L2 — then each row costs
/// one widening load and one FMA per coordinate.
///
/// ## Stored form
/// `2 · dim` Float32: `vmin`, then `scale`.
package struct ScalarQuantizer8: Sendable {
    package let dim: Int
    package let vmin: [Float]
    package let scale: [Float]

    package static func storedSize(dim: Int) -> Int { 8 * dim }

    /// Trains the per-coordinate ranges on every row of `rows` (a pass over the data; faiss trains its
    /// `RS_minmax` ranges the same way on its training set), a block at a time: each block normalised
    /// first when `normalizing` (COSINE over vectors stored as inserted), and its pages given back once
    /// read (``MatrixView/releaseResidentPages(rows:)``), so the pass holds one block, not the rows.
    package init(training rows: MatrixView, normalizing: Bool = false) {
        var lo = [Float](repeating: .infinity, count: rows.dim)
        var hi = [Float](repeating: -.infinity, count: rows.dim)
        Self.forEachBlock(of: rows, normalizing: normalizing) { _, block in Self.widen(lower: &lo, upper: &hi, over: block) }
        self.init(lower: lo, upper: hi)
    }

    /// Encodes every row of `rows` into `out + i·dim` a block at a time, as
    /// ``init(training:normalizing:)`` reads them.
    package func encode(_ rows: MatrixView, normalizing: Bool, into out: UnsafeMutablePointer<UInt8>) {
        Self.forEachBlock(of: rows, normalizing: normalizing) { start, block in encode(block, into: out + start * dim) }
    }

    /// Calls `body` with each block of about 4 MiB of `rows` (its first row, and its rows — a
    /// normalised copy when `normalizing`), then gives the block's pages back.
    private static func forEachBlock(of rows: MatrixView, normalizing: Bool, _ body: (Int, MatrixView) -> Void) {
        let step = max(1, (4 << 20) / (MemoryLayout<Float>.stride * max(rows.dim, 1)))
        var start = 0
        while start < rows.rows {
            let n = min(step, rows.rows - start)
            let block = rows.slice(start, n)
            body(start, normalizing ? block.normalizedCopy() : block)
            rows.releaseResidentPages(rows: start ..< start + n)
            start += n
        }
    }

    /// Widens the per-coordinate ranges `lower...upper` to cover every row of `rows` (start from
    /// `+∞...−∞`; ranges over several blocks of rows are gathered by calling this per block).
    package static func widen(lower lo: inout [Float], upper hi: inout [Float], over rows: MatrixView) {
        for i in 0..<rows.rows {
            let r = rows.row(i)
            for t in 0..<rows.dim {
                lo[t] = min(lo[t], r[t])
                hi[t] = max(hi[t], r[t])
            }
        }
    }

    /// A quantiser for the per-coordinate ranges `lower...upper` (gathered by the caller, e.g. over
    /// blocks of rows); infinite bounds (no rows) give zero ranges.
    package init(lower: [Float], upper: [Float]) {
        precondition(lower.count == upper.count)
        dim = lower.count
        let lo = zip(lower, upper).map { $0.isFinite && $1.isFinite ? $0 : 0 }
        let hi = zip(lower, upper).map { $0.isFinite && $1.isFinite ? $1 : 0 }
        vmin = lo
        scale = zip(lo, hi).map { ($1 - $0) / 255 }
    }

    /// Reads the stored form (`2·dim` floats at `base`).
    package init(stored base: UnsafePointer<Float>, dim: Int) {
        self.dim = dim
        vmin = Array(UnsafeBufferPointer(start: base, count: dim))
        scale = Array(UnsafeBufferPointer(start: base + dim, count: dim))
    }

    /// Writes the stored form to `out` (`2·dim` floats).
    package func store(into out: UnsafeMutablePointer<Float>) {
        for t in 0..<dim {
            out[t] = vmin[t]
            out[dim + t] = scale[t]
        }
    }

    /// Encodes row `i` of `rows` into `out + i·dim`, for every row.
    package func encode(_ rows: MatrixView, into out: UnsafeMutablePointer<UInt8>) {
        let inv = scale.map { $0 > 0 ? 1 / $0 : 0 }
        // SAFETY: rows are contiguous (`MatrixView`), `out` holds rows·dim bytes (the caller's layout).
        vmin.withUnsafeBufferPointer { vp in
            inv.withUnsafeBufferPointer { ip in
                vk_sq8_encode(rows.base, vp.baseAddress!, ip.baseAddress!, rows.rows, dim, out)
            }
        }
    }

    /// The decoded vector of one code row.
    package func decode(_ code: UnsafePointer<UInt8>) -> [Float] {
        (0..<dim).map { vmin[$0] + scale[$0] * Float(code[$0]) }
    }

    /// An IP/COSINE query prepared for `vk_sq8_dot*`: `q∘scale` into `qs`; returns `⟨q, vmin⟩` (plus
    /// `offset`, a per-list term the caller adds).
    package func prepareDot(_ q: UnsafeBufferPointer<Float>, into qs: inout [Float]) -> Float {
        var bias: Float = 0
        for t in 0..<dim {
            qs[t] = q[t] * scale[t]
            bias += q[t] * vmin[t]
        }
        return bias
    }

    /// An L2 query prepared for `vk_sq8_l2sq*`: `q − shift − vmin` into `r` (`shift`: a residual
    /// quantiser's list centroid, or nil).
    package func prepareL2(_ q: UnsafeBufferPointer<Float>, shift: UnsafeBufferPointer<Float>?, into r: inout [Float]) {
        if let shift {
            for t in 0..<dim { r[t] = q[t] - shift[t] - vmin[t] }
        } else {
            for t in 0..<dim { r[t] = q[t] - vmin[t] }
        }
    }
}

extension Distances {
    /// A quantised index's re-ranking distance: exact on the stored float row `x`, divided by the
    /// row's norm when the codes encode the normalised rows of vectors stored as inserted (COSINE
    /// without a normalised float copy; `q` is normalised already).
    package static func refineDistance(_ metric: Metric, _ q: UnsafeBufferPointer<Float>, _ x: UnsafeBufferPointer<Float>,
                                       normalizingRow: Bool) -> Float {
        let d = distance(metric, q, x)
        guard normalizingRow else { return d }
        let norm = vk_norm_sq(x.baseAddress!, x.count).squareRoot()
        return norm > 0 ? d / norm : d
    }
}
