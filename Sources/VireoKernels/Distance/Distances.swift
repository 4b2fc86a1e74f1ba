import CVireoKernels

/// Single-vector distance kernels. They dispatch to the C kernels, which are compiled for AVX-512,
/// AVX2+FMA and baseline x86-64 and selected at load time.
///
/// - Important: callers validate that both operands have the same length; the kernels do not.
package enum Distances {
    /// Inner product of `a` and `b`.
    @inlinable
    package static func dot(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>) -> Float {
        assert(a.count == b.count)
        // SAFETY: both buffers hold at least a.count floats (asserted above, validated by callers).
        return vk_dot(a.baseAddress!, b.baseAddress!, a.count)
    }

    /// Squared Euclidean distance between `a` and `b`.
    @inlinable
    package static func l2Squared(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>) -> Float {
        assert(a.count == b.count)
        // SAFETY: both buffers hold at least a.count floats.
        return vk_l2sq(a.baseAddress!, b.baseAddress!, a.count)
    }

    /// Internal distance (smaller is closer) for `metric`; COSINE operands must be unit-normalised.
    @inlinable
    package static func distance(_ metric: Metric, _ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>) -> Float {
        switch metric {
        case .l2, .hamming: return l2Squared(a, b)
        case .ip, .cosine, .bm25: return -dot(a, b)
        case .jaccard: return jaccard01(a, b)
        }
    }

    /// Internal distances (smaller is closer) from `q` to the rows `rows[0..<count]` of the row-major
    /// `base` (`dim` floats a row), into `out`: `|q − x|²` for the metrics on the L2 kernel, `−q·x`
    /// otherwise, scaled by `inverseNorms[row]` when given (COSINE over rows stored as inserted). The
    /// gather kernels fetch the next rows while one is scored. JACCARD is the caller's.
    ///
    /// - Precondition: every row number is a row of `base`; `out` holds `count` floats.
    @inlinable
    package static func gathered(_ metric: Metric, _ q: UnsafePointer<Float>, base: UnsafePointer<Float>, rows: UnsafePointer<UInt32>,
                                 count: Int, dim: Int, inverseNorms: UnsafePointer<Float>? = nil, into out: UnsafeMutablePointer<Float>) {
        assert(metric != .jaccard)
        // SAFETY: the caller guarantees the rows lie in `base` and `out` holds count floats.
        if metric.usesL2Kernel {
            vk_l2sq_gather(q, base, rows, count, dim, out)
            return
        }
        vk_dot_gather(q, base, rows, count, dim, out)
        if let inverseNorms {
            for i in 0..<count { out[i] = -out[i] * inverseNorms[Int(rows[i])] }
        } else {
            for i in 0..<count { out[i] = -out[i] }
        }
    }

    /// JACCARD distance of two 0/1 vectors (binary vectors widened): 1 − a·b / (|a|² + |b|² − a·b).
    @inlinable
    package static func jaccard01(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>) -> Float {
        let inter = dot(a, b)
        let union = vk_norm_sq(a.baseAddress!, a.count) + vk_norm_sq(b.baseAddress!, b.count) - inter
        return jaccard(intersection: inter, union: union)
    }

    /// `1 − intersection / union`, 0 when both sets are empty.
    @inlinable
    package static func jaccard(intersection: Float, union: Float) -> Float {
        union <= 0 ? 0 : 1 - intersection / union
    }

    /// Distance between two arrays (convenience for tests and small inputs).
    package static func distance(_ metric: Metric, _ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "dimension mismatch: \(a.count) vs \(b.count)")
        return a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in distance(metric, pa, pb) } }
    }

    /// Scalar reference implementations, the oracle the SIMD kernels are tested against.
    package enum Reference {
        package static func dot(_ a: [Float], _ b: [Float]) -> Double {
            var s = 0.0
            for i in a.indices { s += Double(a[i]) * Double(b[i]) }
            return s
        }

        package static func l2Squared(_ a: [Float], _ b: [Float]) -> Double {
            var s = 0.0
            for i in a.indices {
                let t = Double(a[i]) - Double(b[i])
                s += t * t
            }
            return s
        }

        package static func distance(_ metric: Metric, _ a: [Float], _ b: [Float]) -> Double {
            switch metric {
            case .l2, .hamming: return l2Squared(a, b)
            case .ip, .cosine, .bm25: return -dot(a, b)
            case .jaccard:
                let i = dot(a, b)
                let u = dot(a, a) + dot(b, b) - i
                return u <= 0 ? 0 : 1 - i / u
            }
        }
    }
}

/// CRC-32C (Castagnoli) checksums for stored blobs.
package enum Checksum {
    /// CRC-32C of `bytes`, continuing from `seed` (0 to start).
    package static func crc32c(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return seed }
        return vk_crc32c(seed, base, bytes.count)
    }
}
